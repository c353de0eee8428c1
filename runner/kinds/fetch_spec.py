"""Fetch jobs as a job file writes them: `fetch = "URL"` with method, headers, body, save and expect.

Checking a big fan-out is made cheap where the item cannot change the outcome: the URL's scheme and host are
checked once when `{item}` comes only after them, and a `save` path's folder is resolved once, each item's
file joined to it without resolving (`..` that leads out, absolute paths and `~` are still refused at load).
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from runner.deck.lookalikes import Lookalike, Renamed
from runner.deck.problems import did_you_mean
from runner.deck.reading import absolute
from runner.deck.table import MISSING, Table, describe, is_number, is_whole_number
from runner.deck.templates import (
    ITEM,
    NO_ITEM,
    TemplateText,
    env_references,
    expand_env,
    fill_text,
    item_text,
)
from runner.hosts.keys import JOB_BANDWIDTH, PACING_KEYS, PACING_LOOKALIKES, host_limits_text, read_host_limits
from runner.kinds.checksums import CHECKSUM_KEYS, read_checksum
from runner.kinds.spec import DeckPlace, ItemsChecked, KindSpec, WrittenFile
from runner.kinds.transfer_keys import (
    NO_TRANSFER_KEYS,
    TRANSFER_KEYS,
    TransferKeys,
    read_if_changed,
    read_stall_timeout,
    transfer_lines,
)
from runner.model import NO_HOST_LIMITS, FetchSpec, HostLimits, Kind, replaced
from runner.redaction import BODY_PREVIEW_CHARS, redact_body, redact_headers, redact_url, shorten

if TYPE_CHECKING:
    from runner.kinds.base import JobKind

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class FetchTemplate:
    url: str
    method: str
    headers: dict[str, str]
    body: str | None
    save: str | None
    expect: frozenset[int] | None
    transfer: TransferKeys = NO_TRANSFER_KEYS
    host_limits: HostLimits | None = None


@dataclass(frozen=True)
class _SaveFolder:
    """The resolved folder of a `save` template up to its first `{item}`, for joining each item's file to."""

    written: str
    """The template's text before that folder's last `/` (empty when `{item}` starts the path)."""
    path: Path


class FetchKindSpec(KindSpec[FetchTemplate, FetchSpec]):
    kind = Kind.FETCH
    writes_files = True
    keys = ("fetch", "method", "headers", "body", "save", "expect", *CHECKSUM_KEYS, *TRANSFER_KEYS, *PACING_KEYS)
    example = 'fetch = "URL"'
    lookalikes: Mapping[str, Lookalike] = {
        **dict.fromkeys(("url", "uri", "href", "get", "download"), Renamed("fetch")),
        **dict.fromkeys(
            ("output", "out", "dest", "destination", "file", "path", "save_to", "save_as", "to"),
            Renamed("save", meaning="the body is streamed to this file, relative to out_dir"),
        ),
        **dict.fromkeys(
            ("data", "json", "payload", "content"),
            Renamed(
                "body",
                example="'{\"a\": 1}'",
                meaning='it is sent as written; for JSON add headers = { Content-Type = "application/json" }',
            ),
        ),
        **dict.fromkeys(("params", "query"), 'put the query in the URL, e.g. fetch = "https://example.org/?q=1"'),
        **dict.fromkeys(("status", "expected_status", "expect_status", "ok_status"), Renamed("expect")),
        "verb": Renamed("method"),
        **dict.fromkeys(("hash", "digest", "sha256sum", "sha256_sum"), Renamed("sha256", example='"…"')),
        **dict.fromkeys(("if_modified", "only_if_changed", "conditional", "unless_unchanged"), Renamed("if_changed")),
        **dict.fromkeys(("stall", "idle_timeout", "read_timeout", "low_speed_time"), Renamed("stall_timeout")),
        **PACING_LOOKALIKES,
        **JOB_BANDWIDTH,
    }

    def read(self, table: Table, place: DeckPlace) -> FetchTemplate | None:
        url = table.text("fetch", example='"https://example.org/"')
        method = _method(table)
        headers = _headers(table)
        body = table.raw("body")
        if body is not MISSING and not isinstance(body, str):
            table.report("body", f"must be a string, not {describe(body)}", "write the request body as a string")
        save = table.text("save", example='"pages/home.html"')
        expect = _expect(table)
        digest = read_checksum(table)
        transfer = TransferKeys(
            checksum=None if digest is None else str(digest),
            if_changed=read_if_changed(table, save=save, method=method),
            stall_timeout=read_stall_timeout(table),
        )
        host_limits = read_host_limits(table, bandwidth=False)
        if url is None:
            return None
        return FetchTemplate(
            url=url,
            method=method,
            headers=headers,
            body=body if isinstance(body, str) else None,
            save=save,
            expect=expect,
            transfer=transfer,
            host_limits=None if host_limits == NO_HOST_LIMITS else host_limits,
        )

    def template_texts(self, template: FetchTemplate) -> Iterable[TemplateText]:
        yield TemplateText("fetch", template.url, braces_are_placeholders=True)
        for value in template.headers.values():
            yield TemplateText("headers", value)
        if template.body is not None:
            yield TemplateText("body", template.body)
        if template.save is not None:
            yield TemplateText("save", template.save)

    def for_item(self, template: FetchTemplate, item: Any, table: Table, place: DeckPlace) -> FetchSpec | None:
        url = fill_text(template.url, item)
        body = fill_text(template.body, item) if template.body is not None else None
        headers = {name: fill_text(value, item) for name, value in template.headers.items()}
        if _same_checks_for_every_item(template, item, place):
            url_ok = True
        else:
            _check_env_references(table, place, "fetch", url)
            _check_env_references(table, place, "body", body or "")
            for value in headers.values():
                _check_env_references(table, place, "headers", value)
            url_ok = _check_url(table, place, url)
        save = _save_path(table, place, template.save, item) if template.save is not None else None
        if not url_ok or (template.save is not None and save is None):
            return None
        return FetchSpec(
            url=url,
            method=template.method,
            headers=headers,
            body=body,
            save=save,
            expect=template.expect,
            **template.transfer.fields(),
            host_limits=template.host_limits,
        )

    def for_items(
        self, template: FetchTemplate, items: Sequence[Any], texts: Sequence[str], table: Table, place: DeckPlace
    ) -> list[FetchSpec | None]:
        if not _template_passes_once(template, place) or _any_table(items):
            return [self.for_item(template, item, table, place) for item in items]
        # The checks passed for the template and hold for every item without a `$` (see
        # _same_checks_for_every_item): such items only fill in the template, sharing what has no `{item}`.
        prototype = FetchSpec(
            url=template.url,
            method=template.method,
            headers=template.headers,
            body=template.body,
            expect=template.expect,
            **template.transfer.fields(),
            host_limits=template.host_limits,
        )
        url, body = template.url, template.body
        url_varies, body_varies = ITEM in url, body is not None and ITEM in body
        headers_vary = any(ITEM in value for value in template.headers.values())
        folder = _save_folder(template.save, place) if template.save is not None else None
        specs: list[FetchSpec | None] = []
        for item, text in zip(items, texts, strict=True):
            if "$" in text:
                specs.append(self.for_item(template, item, table, place))
                continue
            save: Path | None = None
            if template.save is not None:
                save = _item_save_path(folder, template.save.replace(ITEM, text))
                if save is None:
                    save = _checked_save_path(table, place.out_dir, template.save.replace(ITEM, text))
                    if save is None:
                        specs.append(None)
                        continue
            specs.append(
                replaced(
                    prototype,
                    url=url.replace(ITEM, text) if url_varies else url,
                    headers={name: value.replace(ITEM, text) for name, value in template.headers.items()}
                    if headers_vary
                    else template.headers,
                    body=body.replace(ITEM, text) if body_varies and body is not None else body,
                    save=save,
                )
            )
        return specs

    def check_items(
        self, template: FetchTemplate, items: Sequence[Any], texts: Sequence[str], table: Table, place: DeckPlace
    ) -> ItemsChecked:
        if not _template_passes_once(template, place) or _any_table(items):
            return super().check_items(template, items, texts, table, place)
        # As in for_items: an item without a `$` passes the template's checks; only its save path is its own.
        dollar = "$" in "".join(texts)
        if template.save is None and not dollar:
            return ItemsChecked(len(items))
        folder = _save_folder(template.save, place) if template.save is not None else None
        if not dollar and folder is not None and template.save is not None:
            plain = _plain_file_names(template.save, folder, texts)
            if plain is not None:
                return plain
        good = 0
        files: list[tuple[int, WrittenFile]] = []
        for index, (item, text) in enumerate(zip(items, texts, strict=True)):
            if "$" in text:
                spec = self.for_item(template, item, table, place)
                if spec is not None:
                    good += 1
                    if spec.save is not None:
                        files.append((index, WrittenFile("save", spec.save)))
                continue
            if template.save is not None:
                save = _item_save_path(folder, template.save.replace(ITEM, text))
                if save is None:
                    save = _checked_save_path(table, place.out_dir, template.save.replace(ITEM, text))
                    if save is None:
                        continue
                files.append((index, WrittenFile("save", save)))
            good += 1
        return ItemsChecked(good, lambda: files, distinct=False)

    def written_file(self, work: FetchSpec) -> WrittenFile | None:
        return WrittenFile("save", work.save) if work.save is not None else None

    def target(self, work: FetchSpec) -> str:
        return redact_url(work.url)

    def summary_lines(self, work: FetchSpec) -> Iterable[tuple[str, str]]:
        yield "method", work.method
        yield "url", redact_url(work.url)
        if work.headers:
            yield "headers", "\n".join(f"{name}: {value}" for name, value in redact_headers(work.headers).items())
        if work.body is not None:
            size = len(work.body.encode())
            yield "body", f"{shorten(redact_body(work.body), BODY_PREVIEW_CHARS)} ({size} bytes)"
        yield "save", str(work.save) if work.save is not None else "not saved"
        yield "expect", ", ".join(str(status) for status in sorted(work.expect)) if work.expect is not None else "2xx"
        yield from transfer_lines(work)
        if work.host_limits is not None:
            yield "host", host_limits_text(work.host_limits)

    def sent_lines(self, work: FetchSpec, environ: Mapping[str, str]) -> dict[str, str]:
        try:
            url = expand_env(work.url, environ)
        except KeyError:  # not set (any more): the attempt fails saying so, and the line shows the template
            return {}
        return {"url": redact_url(url)} if url != work.url else {}

    def wire_fields(self, work: FetchSpec) -> dict[str, Any]:
        save = None if work.save is None else str(work.save)
        return {"url": redact_url(work.url), "method": work.method, "save": save}

    def runner(self) -> JobKind:
        from runner.kinds.fetch import FetchKind

        return FetchKind()


FETCH = FetchKindSpec()


# --- the keys ---------------------------------------------------------------------------------------------------


def _method(table: Table) -> str:
    method = table.text("method", example='"POST"')
    if method is None:
        return "GET"
    if method.upper() not in HTTP_METHODS:
        hint = did_you_mean(method.upper(), HTTP_METHODS) or f"use one of {', '.join(HTTP_METHODS)}"
        table.report("method", f"{method!r} is not an HTTP method this runner sends", hint)
    return method.upper()


def _headers(table: Table) -> dict[str, str]:
    headers = table.table("headers", example='{ Accept = "text/html" }')
    if headers is None:
        return {}
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            table.report("headers", f"{name!r} is not a valid HTTP header name", "use letters, digits and '-'")
        if not isinstance(value, str):
            table.report(
                "headers",
                f"header {name!r} must be a string, not {describe(value)}",
                f'write {name} = "{item_text(value)}"' if is_number(value) or isinstance(value, bool) else None,
            )
    return {name: value for name, value in headers.items() if isinstance(value, str)}


def _expect(table: Table) -> frozenset[int] | None:
    value = table.raw("expect")
    if value is MISSING:
        return None
    statuses = value if isinstance(value, list) else [value]
    valid = statuses and all(is_whole_number(status) and 100 <= status <= 599 for status in statuses)
    if not valid:
        table.report(
            "expect",
            f"must be an HTTP status (100 to 599) or a list of them, not {describe(value)}",
            "e.g. expect = [200, 404]",
        )
        return None
    return frozenset(statuses)


# --- URLs and ${VAR} references ---------------------------------------------------------------------------------


def _same_checks_for_every_item(template: FetchTemplate, item: Any, place: DeckPlace) -> bool:
    """Whether the template's URL and `${VAR}` checks pass and this item cannot change them.

    An item without `$` adds no reference; one placed after the URL's host cannot change its scheme, host or
    port. When this says no, the item is checked in full, so messages name the filled-in values as before.
    """
    if item is NO_ITEM or isinstance(item, dict) or "$" in item_text(item):
        return False
    return _template_passes_once(template, place)


def _any_table(items: Sequence[Any]) -> bool:
    """Table items fill in `{item.field}`s, which the shortcuts for plain items do not look for."""
    return any(isinstance(item, dict) for item in items)


def _template_passes_once(template: FetchTemplate, place: DeckPlace) -> bool:
    key = ("fetch template checks", id(template))
    passed = place.memo.get(key)
    if passed is None:
        passed = place.memo[key] = _template_passes(template, place)
    return passed


def _template_passes(template: FetchTemplate, place: DeckPlace) -> bool:
    before_item, _, _ = template.url.partition(ITEM)
    _, scheme_end, after_scheme = before_item.partition("://")
    if not scheme_end or not any(char in after_scheme for char in "/?#"):
        return False  # the item may be part of the scheme or the host
    texts = [template.url, template.body or "", *template.headers.values()]
    if any(name not in place.environ for text in texts for name in env_references(text)):
        return False
    return _origin_problem(expand_env(fill_text(template.url, 0), place.environ).strip(), place) is None


def _check_env_references(table: Table, place: DeckPlace, key: str, template: str) -> None:
    for name in env_references(template):
        if name not in place.environ:
            table.report(key, f"environment variable {name} is not set", f"export {name} before running jobdeck")


def _check_url(table: Table, place: DeckPlace, url: str) -> bool:
    if any(name not in place.environ for name in env_references(url)):
        return True  # its shape is unknown until the variable is set, which is reported already
    # Variables are filled in only to check the URL's shape; messages show the template, never the values.
    problem = _origin_problem(expand_env(url, place.environ).strip(), place)
    if problem is None:
        return True
    table.report("fetch", f"{url!r} is not a valid URL: {problem}", _url_hint(url))
    return False


def _origin_problem(url: str, place: DeckPlace) -> str | None:
    """`_url_problem`, asked once per scheme and host: what it checks ends where the URL's path begins."""
    scheme, separator, rest = url.partition("://")
    host_end = min((index for index in map(rest.find, "/?#") if index >= 0), default=-1)
    if not separator or host_end < 0:
        return _url_problem(url)
    key = ("url origin", url[: len(scheme) + len(separator) + host_end])
    if key not in place.memo:
        place.memo[key] = _url_problem(key[1])
    return place.memo[key]


def _url_problem(url: str) -> str | None:
    # The fixed texts keep values from the environment out of messages.
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the host name is malformed"
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https"):
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it has no host name"
    if any(char.isspace() for char in parts.netloc):
        return "the host name contains a space"
    if not port_ok:
        return "the port must be a number from 1 to 65535"
    return None


def _url_hint(url: str) -> str:
    has_scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) is not None
    if not has_scheme and not url.startswith(("$", "/")):
        return f"did you mean 'https://{url}'?"
    return 'write a full URL, e.g. fetch = "https://example.org/page"'


# --- save paths -------------------------------------------------------------------------------------------------


def _save_path(table: Table, place: DeckPlace, template: str, item: Any) -> Path | None:
    save = fill_text(template, item)
    if item is not NO_ITEM:
        path = _item_save_path(_save_folder(template, place), save)
        if path is not None:
            return path
    return _checked_save_path(table, place.out_dir, save)


def _item_save_path(folder: _SaveFolder | None, save: str) -> Path | None:
    """An item's save path joined to its template's resolved folder; None to check it in full."""
    if folder is None or not save.startswith(folder.written):
        return None
    rest = save[len(folder.written) :]
    if "/" not in rest and rest not in ("", ".", ".."):  # a plain file name (the usual case)
        return None if rest.startswith("~") else _child(folder.path, rest)
    rest = os.path.normpath(rest)
    if rest in (".", "..") or rest.startswith(("../", "/", "~")):
        return None
    return folder.path / rest


_starts_with_tilde = operator.methodcaller("startswith", "~")


def _plain_file_names(save: str, folder: _SaveFolder, texts: Sequence[str]) -> ItemsChecked | None:
    """When every item's save path is a plain file name in the template's folder, with `{item}` in that name:
    every item is good, and no two write one file (a text is found again from its name). None otherwise. Only
    strings are looked at: no path is made unless `files` is asked for."""
    if not save.startswith(folder.written):
        return None
    name = save[len(folder.written) :]
    if ITEM not in name:
        return None
    # What `_item_save_path` asks of each filled-in name, asked of all the texts at once.
    fixed = name.replace(ITEM, "")
    if "/" in fixed or "/" in "".join(texts):
        return None
    if any(map(_starts_with_tilde, texts)) if name.startswith(ITEM) else name.startswith("~"):
        return None
    if len(fixed) <= 2:  # only a short text can fill it to "", "." or ".."
        short = [text for text in texts if len(text) <= 2 - len(fixed)]
        if any(name.replace(ITEM, text) in ("", ".", "..") for text in short):
            return None

    def files() -> list[tuple[int, WrittenFile]]:
        return [
            (index, WrittenFile("save", _child(folder.path, name.replace(ITEM, text))))
            for index, text in enumerate(texts)
        ]

    return ItemsChecked(len(texts), files)


def _join_name(folder: Path, name: str) -> Path:
    return folder / name


_child: Callable[[Path, str], Path] = getattr(Path, "_make_child_relpath", _join_name)
"""`folder / name` for a plain file name. pathlib's own shortcut for that (as iterdir uses it) is 4x faster than
`/`, which parses the name again; Pythons without it join with `/`."""


def _save_folder(template: str, place: DeckPlace) -> _SaveFolder | None:
    """The folder every item's file goes under, resolved once; None if it is not safely inside out_dir."""
    key = ("save folder", template)
    if key not in place.memo:
        written, slash, _ = template.partition(ITEM)[0].rpartition("/")
        folder = absolute(place.out_dir / written) if slash else place.out_dir
        safe = not written.startswith(("/", "~")) and folder.is_relative_to(place.out_dir)
        place.memo[key] = _SaveFolder(written + slash, folder) if safe else None
    return place.memo[key]


def _checked_save_path(table: Table, out_dir: Path, save: str) -> Path | None:
    written = Path(save)
    if written.is_absolute() or save.startswith("~"):
        table.report("save", f"must be a path relative to out_dir ({out_dir}), not {save!r}", "drop the leading /")
        return None
    resolved = absolute(out_dir / written)
    if resolved == out_dir:
        table.report(
            "save", f"must name a file inside out_dir ({out_dir}), not out_dir itself", 'e.g. save = "page.html"'
        )
        return None
    if not resolved.is_relative_to(out_dir):
        table.report(
            "save",
            f"{save!r} leads outside out_dir ({out_dir})",
            "keep save inside out_dir, or set out_dir in [deck]",
        )
        return None
    return resolved
