from pathlib import Path

import pytest

from runner.kinds.summary import spec_summary
from runner.model import CallSpec, FetchSpec, JobSpec, Kind, ShellSpec
from runner.redaction import (
    is_sensitive_header,
    is_sensitive_parameter,
    mask_literal,
    redact_body,
    redact_headers,
    redact_text,
    redact_url,
)


@pytest.mark.parametrize(
    "name",
    ["Authorization", "proxy-authorization", "COOKIE", "Set-Cookie", "X-Api-Key", "X-Auth-Token", "X-Client-Secret"],
)
def test_sensitive_headers_are_recognised_whatever_their_case(name: str) -> None:
    assert is_sensitive_header(name)


@pytest.mark.parametrize("name", ["Accept", "Content-Type", "User-Agent", "If-None-Match"])
def test_ordinary_headers_are_not_sensitive(name: str) -> None:
    assert not is_sensitive_header(name)


def test_ordinary_header_values_are_shown_as_written() -> None:
    assert redact_headers({"Accept": "application/json"}) == {"Accept": "application/json"}


def test_a_bearer_token_keeps_its_scheme_and_none_of_its_characters() -> None:
    redacted = redact_headers({"Authorization": "Bearer abcdef123"})["Authorization"]
    assert redacted == "Bearer …"
    assert "abc" not in redacted


def test_a_literal_secret_shows_at_most_four_characters() -> None:
    secret = "sk_live_0123456789abcdefghij"
    redacted = redact_headers({"X-Api-Key": secret})["X-Api-Key"]
    assert redacted == "sk_l…"
    assert secret[4:8] not in redacted


@pytest.mark.parametrize(("secret", "shown"), [("abc", "…"), ("abcdefgh", "ab…"), ("abcdefghijkl", "abc…")])
def test_a_short_secret_shows_at_most_a_quarter_of_itself(secret: str, shown: str) -> None:
    assert mask_literal(secret) == shown


def test_environment_references_are_kept_as_written() -> None:
    headers = {"Authorization": "Bearer ${API_TOKEN}", "X-Api-Key": "${KEY}", "Cookie": "${USER}:${PASS}"}
    assert redact_headers(headers) == headers


def test_literal_text_beside_a_reference_is_still_masked() -> None:
    redacted = redact_headers({"X-Token": "prefix-secret-${TOKEN}"})["X-Token"]
    assert redacted.endswith("${TOKEN}")
    assert "secret" not in redacted


def test_a_cookie_is_masked_whole() -> None:
    redacted = redact_headers({"Cookie": "session=0123456789abcdef; theme=dark"})["Cookie"]
    assert "0123456789abcdef" not in redacted
    assert redacted.endswith("…")


def test_an_unknown_first_word_is_not_taken_for_a_scheme() -> None:
    redacted = redact_headers({"Authorization": "hunter2hunter2 more"})["Authorization"]
    assert "hunter2hunter2" not in redacted


def test_redact_url_hides_the_password_in_the_userinfo() -> None:
    assert redact_url("https://alice:hunter2@example.com/path") == "https://alice:***@example.com/path"


def test_redact_url_hides_sensitive_query_parameters_only() -> None:
    url = "https://example.com/a?page=2&api_key=abc&access_token=def&X-Amz-Signature=ghi&sig=jkl&q=token"
    assert redact_url(url) == (
        "https://example.com/a?page=2&api_key=***&access_token=***&X-Amz-Signature=***&sig=***&q=token"
    )


def test_redact_url_keeps_references_and_leaves_clean_urls_untouched() -> None:
    assert redact_url("https://example.com/a?token=${TOKEN}") == "https://example.com/a?token=${TOKEN}"
    assert redact_url("https://example.com/a%20b?x=1#top") == "https://example.com/a%20b?x=1#top"


def test_redact_url_hides_tokens_in_the_fragment() -> None:
    assert (
        redact_url("https://example.com/cb#access_token=abc&state=1")
        == "https://example.com/cb#access_token=***&state=1"
    )


@pytest.mark.parametrize("name", ["apiKey", "api_key", "accesstoken", "client-secret", "password", "sig"])
def test_sensitive_parameter_names(name: str) -> None:
    assert is_sensitive_parameter(name)


@pytest.mark.parametrize("name", ["page", "design", "q", "limit", "monkey_count"])
def test_ordinary_parameter_names(name: str) -> None:
    assert not is_sensitive_parameter(name)


def test_redact_body_hides_json_and_form_secrets() -> None:
    assert redact_body('{"user": "bob", "password": "hunter2"}') == '{"user": "bob", "password": "***"}'
    assert redact_body("user=bob&client_secret=hunter2") == "user=bob&client_secret=***"


def test_redact_text_redacts_urls_inside_a_command() -> None:
    command = "curl -fsS 'https://bob:hunter2@example.com/x?token=abc' > out.json"
    assert redact_text(command) == "curl -fsS 'https://bob:***@example.com/x?token=***' > out.json"


def test_spec_summary_of_a_fetch_redacts_everything_secret() -> None:
    spec = JobSpec(
        name="home",
        kind=Kind.FETCH,
        work=FetchSpec(
            url="https://bob:hunter2@example.com/api?key=abcdef",
            method="POST",
            headers={"Authorization": "Bearer abcdef123", "Accept": "application/json"},
            body='{"password": "hunter2", "n": 1}',
            save=Path("/out/home.json"),
            expect=frozenset({200, 304}),
        ),
        retries=2,
        backoff=0.5,
        timeout=10,
    )
    summary = dict(spec_summary(spec))
    assert summary["kind"] == "fetch"
    assert summary["method"] == "POST"
    assert summary["url"] == "https://bob:***@example.com/api?key=***"
    assert summary["headers"] == "Authorization: Bearer …\nAccept: application/json"
    assert summary["body"].startswith('{"password": "***", "n": 1}')
    assert summary["save"] == "/out/home.json"
    assert summary["expect"] == "200, 304"
    assert summary["retries"] == "2, backoff 0.5 s"
    assert summary["timeout"] == "10 s"
    text = repr(spec_summary(spec))
    assert "hunter2" not in text
    assert "abcdef" not in text


def test_spec_summary_of_a_call_hides_secret_keyword_arguments() -> None:
    spec = JobSpec(
        name="report[2]",
        kind=Kind.CALL,
        work=CallSpec(module="jobs", function="report", args=(2024, "q1"), kwargs={"api_token": "t0p", "n": 3}),
        after=("fetch",),
        group="report",
        item=2,
    )
    summary = dict(spec_summary(spec))
    assert summary["target"] == "jobs:report"
    assert summary["args"] == "2024, 'q1'"
    assert summary["kwargs"] == "api_token=***, n=3"
    assert summary["on"] == "process"
    assert summary["after"] == "fetch"
    assert summary["item"] == "2 (of report)"
    assert summary["retries"] == "none"
    assert summary["timeout"] == "none"


def test_spec_summary_of_a_shell_job_lists_keys_in_order() -> None:
    spec = JobSpec(name="build", kind=Kind.SHELL, work=ShellSpec(command="make all", cwd=Path("/src")))
    assert [key for key, _ in spec_summary(spec)] == ["kind", "command", "cwd", "retries", "timeout"]
    assert dict(spec_summary(spec))["command"] == "make all"


def test_a_long_body_is_cut_short() -> None:
    spec = JobSpec(name="post", kind=Kind.FETCH, work=FetchSpec(url="https://example.com", body="x" * 5000))
    body = dict(spec_summary(spec))["body"]
    assert len(body) < 200
    assert body.endswith("(5000 bytes)")
