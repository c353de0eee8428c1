"""Fetch jobs: one HTTP request with httpx, the body streamed to a file or discarded.

Each running fetch borrows a client of its own from a small stock instead of sharing one client:
httpx's shared connection pool slows down badly under heavy concurrency (httpx issue 3215), while a
client per concurrent fetch keeps its connections warm and never contends on a lock.
"""

from __future__ import annotations

import email.utils
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from runner.deck import expand_env
from runner.errors import JobError
from runner.kinds.base import AttemptContext, JobKind
from runner.model import FetchSpec, JobSpec, Settings

RETRYABLE_STATUSES = frozenset({408, 429})
CLIENT_TIMEOUT = httpx.Timeout(30.0, read=60.0, pool=None)
USER_AGENT = "jobdeck/0.1"


class FetchKind(JobKind):
    def __init__(self) -> None:
        self._idle_clients: list[httpx.AsyncClient] = []
        self._ssl_context: Any = None

    async def __aexit__(self, *exc_info: Any) -> None:
        clients, self._idle_clients = self._idle_clients, []
        with anyio.CancelScope(shield=True):
            for client in clients:
                await client.aclose()

    def slot(self, spec: JobSpec, settings: Settings) -> tuple[str, int]:
        return "fetch", settings.fetch_limit

    def _borrow_client(self) -> httpx.AsyncClient:
        if self._idle_clients:
            return self._idle_clients.pop()
        if self._ssl_context is None:
            # Building an SSL context costs milliseconds; every client shares one.
            self._ssl_context = httpx.create_ssl_context()
        return httpx.AsyncClient(
            verify=self._ssl_context,
            timeout=CLIENT_TIMEOUT,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            headers={"User-Agent": USER_AGENT},
        )

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, FetchSpec)
        client = self._borrow_client()
        try:
            return await _fetch(client, spec, attempt)
        finally:
            self._idle_clients.append(client)


async def _fetch(client: httpx.AsyncClient, spec: FetchSpec, attempt: AttemptContext) -> dict[str, Any]:
    try:
        url = expand_env(spec.url, attempt.environ)
        headers = {name: expand_env(value, attempt.environ) for name, value in spec.headers.items()}
        body = expand_env(spec.body, attempt.environ) if spec.body is not None else None
    except KeyError as missing:
        raise JobError(f"environment variable {missing.args[0]} is not set") from None
    try:
        async with client.stream(spec.method, url, headers=headers, content=body) as response:
            _check_status(response, spec)
            size = await _receive_body(response, spec, attempt)
            return {"status": response.status_code, "bytes": size, "url": redact_url(str(response.url))}
    except httpx.TimeoutException as error:
        raise JobError(f"network timeout ({type(error).__name__}) for {redact_url(url)}", retryable=True) from None
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        raise JobError(f"network error for {redact_url(url)}: {reason}", retryable=True) from None
    except httpx.InvalidURL as error:
        raise JobError(f"invalid URL {redact_url(url)}: {error}") from None


def _check_status(response: httpx.Response, spec: FetchSpec) -> None:
    status = response.status_code
    succeeded = status in spec.expect if spec.expect is not None else 200 <= status < 300
    if succeeded:
        return
    message = f"HTTP {status} {response.reason_phrase}".rstrip()
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    retry_after = parse_retry_after(response.headers.get("retry-after")) if retryable else None
    raise JobError(message, retryable=retryable, retry_after=retry_after)


async def _receive_body(response: httpx.Response, spec: FetchSpec, attempt: AttemptContext) -> int:
    length = response.headers.get("content-length")
    total = int(length) if length and length.isdigit() else None
    done = 0
    attempt.report_progress(0, total, "bytes")
    sink = await _open_sink(spec.save)
    try:
        async for chunk in response.aiter_bytes():
            # Not reading while paused lets TCP flow control stop the sender.
            await attempt.pause.wait_resumed()
            if sink is not None:
                await sink.write(chunk)
            done += len(chunk)
            attempt.report_progress(done, total, "bytes")
        if sink is not None:
            await sink.aclose()
            os.replace(sink.wrapped.name, spec.save)  # type: ignore[arg-type]
            sink = None
    finally:
        if sink is not None:
            with anyio.CancelScope(shield=True):
                await sink.aclose()
            Path(sink.wrapped.name).unlink(missing_ok=True)
    attempt.report_progress(done, done if total is None else total, "bytes")
    return done


async def _open_sink(save: Path | None) -> anyio.AsyncFile[bytes] | None:
    """A temporary file beside the destination, renamed into place only when the body arrived whole."""
    if save is None:
        return None

    def open_temporary() -> Any:
        save.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile(dir=save.parent, prefix=f".{save.name}.", suffix=".part", delete=False)

    try:
        handle = await anyio.to_thread.run_sync(open_temporary)
    except OSError as error:
        raise JobError(f"cannot write {save}: {error.strerror}") from None
    return anyio.AsyncFile(handle)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact_url(url: str) -> str:
    """The URL without any password in it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    if parsed.password:
        return str(parsed.copy_with(password="***"))
    return url
