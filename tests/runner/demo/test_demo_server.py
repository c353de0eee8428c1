import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import runner.demo.server as demo_server
from runner.demo.server import DemoServer

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=5) as http_client:
        yield http_client


def expected_bytes(size: int) -> bytes:
    return bytes(index % 256 for index in range(size))


def timed_get(http_client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http_client.get(path)
    return response, time.monotonic() - started


def test_page_is_small_deterministic_html_about_n(client: httpx.Client) -> None:
    first = client.get("/page/7")
    second = client.get("/page/7")

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/html")
    assert "Demo page 7" in first.text
    assert 1500 < len(first.content) < 3000
    assert first.content == second.content
    assert first.content != client.get("/page/8").content


def test_pages_lists_the_pages_as_json_for_a_fan_out_from_a_result(client: httpx.Client) -> None:
    response = client.get("/pages", params={"count": 2})
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [{"name": "page-1", "path": "/page/1"}, {"name": "page-2", "path": "/page/2"}]
    assert len(client.get("/pages").json()) == 12


def test_bytes_streams_n_bytes_with_content_length(client: httpx.Client) -> None:
    response = client.get("/bytes/200000", params={"chunk": 1000})

    assert response.status_code == 200
    assert response.headers["content-length"] == "200000"
    assert response.content == expected_bytes(200_000)


def test_bytes_without_length_is_chunked(client: httpx.Client) -> None:
    response = client.get("/bytes/5000", params={"nolength": 1})

    assert "content-length" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == expected_bytes(5000)


def test_bytes_waits_between_chunks(client: httpx.Client) -> None:
    response, elapsed = timed_get(client, "/bytes/3000?chunk=1000&delay=0.05")

    assert len(response.content) == 3000
    assert elapsed >= 0.1


def test_a_paused_reader_stops_the_transfer(client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    produced: list[int] = []
    original = demo_server.byte_pattern

    def counting_pattern(offset: int, size: int) -> bytes:
        produced.append(size)
        return original(offset, size)

    monkeypatch.setattr(demo_server, "byte_pattern", counting_pattern)
    total = 500_000_000
    with client.stream("GET", f"/bytes/{total}") as response:
        next(response.iter_raw())
        time.sleep(0.1)
        produced_while_paused = sum(produced)
        time.sleep(0.1)
        assert sum(produced) == produced_while_paused < total // 10


@pytest.mark.parametrize("code", [200, 204, 404, 418, 503])
def test_status_answers_that_status(client: httpx.Client, code: int) -> None:
    assert client.get(f"/status/{code}").status_code == code


@pytest.mark.parametrize("path", ["/status/abc", "/status/99", "/bytes/-1", "/slow?delay=x", "/flaky/k?code=700"])
def test_bad_parameters_are_a_bad_request(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 400


def test_unknown_paths_and_methods_are_refused(client: httpx.Client) -> None:
    assert client.get("/nowhere").status_code == 404
    assert client.get("/page").status_code == 404
    assert client.post("/page/1").status_code == 405


def test_flaky_fails_n_times_per_key_then_succeeds(client: httpx.Client, http_server: DemoServer) -> None:
    statuses = [client.get("/flaky/a", params={"fail": 2}).status_code for _ in range(4)]
    other_key = client.get("/flaky/b", params={"fail": 1, "code": 500})

    assert statuses == [503, 503, 200, 200]
    assert other_key.status_code == 500
    assert client.get("/flaky/b").text == "ok"
    assert len(http_server.hits("a")) == 4


def test_retry_after_sends_the_header_and_records_hits(client: httpx.Client, http_server: DemoServer) -> None:
    refused = client.get("/retry-after/r", params={"after": "0.5"})
    accepted = client.get("/retry-after/r", params={"after": "0.5"})

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "0.5"
    assert accepted.status_code == 200
    first, second = http_server.hits("r")
    assert first < second <= time.monotonic()
    assert client.get("/retry-after/s?code=503").status_code == 503


def test_reset_forgets_hits(client: httpx.Client, http_server: DemoServer) -> None:
    assert client.get("/flaky/z").status_code == 503
    http_server.reset()

    assert http_server.hits("z") == []
    assert client.get("/flaky/z").status_code == 503


def test_slow_waits_the_delay(client: httpx.Client) -> None:
    response, elapsed = timed_get(client, "/slow?delay=0.2")

    assert response.status_code == 200
    assert elapsed >= 0.2


def test_echo_returns_the_request(client: httpx.Client) -> None:
    response = client.put("/echo", params={"a": "1"}, headers={"X-Token": "secret"}, content=b"hello")

    echoed = response.json()
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/echo"
    assert echoed["query"] == {"a": "1"}
    assert echoed["headers"]["x-token"] == "secret"
    assert echoed["body"] == "hello"


def test_drop_closes_the_connection_without_a_response(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/drop")

    assert client.get("/page/1").status_code == 200


def test_latency_is_added_to_every_response() -> None:
    with DemoServer(latency=0.05) as server, httpx.Client(base_url=server.url) as http_client:
        response, elapsed = timed_get(http_client, "/status/200")

    assert response.status_code == 200
    assert elapsed >= 0.05


def test_a_stopped_server_refuses_connections() -> None:
    server = DemoServer()
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        url = server.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/page/1")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_command_line_prints_the_url_and_stops_cleanly(signal_number: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "runner.demo.server", "--latency", "0"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/page/3").status_code == 200
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=5)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 0
    assert stderr == ""
