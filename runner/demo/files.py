"""Files served as a download server serves them, for the tests and benchmarks of resumable downloads.

`/files/{name}` (GET and HEAD) is the file `name` of the server's files folder, with an ETag and a
Last-Modified date taken from its size and time, `Accept-Ranges: bytes`, and what a client may ask of them:
`Range: bytes=N-` or `bytes=N-M` (206 with Content-Range; 416 with `Content-Range: bytes */SIZE` past the end),
`If-Range` (a Range is honoured only while it matches), `If-None-Match` and `If-Modified-Since` (304).
Query parameters make it misbehave on purpose:

- ``ranges=0``: Range is ignored (always 200 with the whole file, no Accept-Ranges);
- ``etag=0`` / ``modified=0``: no ETag / no Last-Modified;
- ``chunk=K`` (default 64 KiB) and ``delay=S`` (seconds between chunks, default 0);
- ``stall_after=N``: after N bytes of the body, nothing more (the response hangs until the client goes);
  with ``trickle=S`` instead one byte every S seconds;
- ``drop_after=N``: after N bytes of the body the connection is cut.

`/sent/{name}` answers JSON `{"bytes": B, "requests": [...], "ended": E}`: the body bytes handed to the connection
for that file so far (what a client was sent, not what it kept), each request's range headers, status and body
bytes sent, and how many responses have ended (whole, or cut short when the client went away).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CHUNK = 64 * 1024
Send = Callable[[dict[str, Any]], Any]


@dataclass
class FileLog:
    """What was sent of each file, thread-safe (the tests read it from another thread)."""

    sent: dict[str, int] = field(default_factory=dict)
    requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    """Responses that ended (sent whole, or cut short by the client going away)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, size: int, request: dict[str, Any]) -> None:
        with self.lock:
            self.sent[name] = self.sent.get(name, 0) + size
            request["sent"] += size

    def note(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        """Log a request (its range headers and status); returns its entry, which counts the bytes sent for it."""
        entry = {**request, "sent": 0}
        with self.lock:
            self.requests.setdefault(name, []).append(entry)
        return entry

    def end(self, name: str) -> None:
        with self.lock:
            self.ended[name] = self.ended.get(name, 0) + 1

    def report(self, name: str) -> dict[str, Any]:
        with self.lock:
            requests = [dict(request) for request in self.requests.get(name, ())]
            return {"bytes": self.sent.get(name, 0), "requests": requests, "ended": self.ended.get(name, 0)}

    def reset(self) -> None:
        with self.lock:
            self.sent.clear()
            self.requests.clear()
            self.ended.clear()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    path: Path | None
    start: int = 0
    end: int = 0
    """Past the last byte sent."""


def validators(path: Path) -> tuple[str, str]:
    info = path.stat()
    return f'"{info.st_size:x}-{info.st_mtime_ns:x}"', email.utils.formatdate(info.st_mtime, usegmt=True)


def answer(path: Path, headers: dict[str, str], query: dict[str, str]) -> Answer:
    """The status, headers and byte span of a request for the file at `path`."""
    size = path.stat().st_size
    etag, modified = validators(path)
    with_ranges = query.get("ranges") != "0"
    sent: list[tuple[str, str]] = [("content-type", "application/octet-stream")]
    if query.get("etag") != "0":
        sent.append(("etag", etag))
    if query.get("modified") != "0":
        sent.append(("last-modified", modified))
    if with_ranges:
        sent.append(("accept-ranges", "bytes"))
    if _unchanged(headers, etag, modified, query):
        return Answer(304, sent, None)
    span = _range(headers.get("range")) if with_ranges else None
    if span is not None and "if-range" in headers and headers["if-range"] not in (etag, modified):
        span = None  # changed since the client's bytes: the whole file
    if span is None:
        return Answer(200, [*sent, ("content-length", str(size))], path, 0, size)
    start, last = span
    if start >= size:
        return Answer(416, [("content-range", f"bytes */{size}"), ("content-length", "0")], None)
    end = size if last is None else min(last + 1, size)
    headers_206 = [*sent, ("content-range", f"bytes {start}-{end - 1}/{size}"), ("content-length", str(end - start))]
    return Answer(206, headers_206, path, start, end)


def _unchanged(headers: dict[str, str], etag: str, modified: str, query: dict[str, str]) -> bool:
    if "if-none-match" in headers:
        return query.get("etag") != "0" and etag in (tag.strip() for tag in headers["if-none-match"].split(","))
    since = headers.get("if-modified-since")
    if since is None or query.get("modified") == "0":
        return False
    try:
        return email.utils.parsedate_to_datetime(since) >= email.utils.parsedate_to_datetime(modified)
    except (TypeError, ValueError):
        return False


def _range(value: str | None) -> tuple[int, int | None] | None:
    if not value or not value.startswith("bytes="):
        return None
    first, _, last = value.removeprefix("bytes=").partition("-")
    if not first.isdigit() or (last and not last.isdigit()) or "," in value:
        return None
    return int(first), int(last) if last else None


async def send_file(
    send: Send,
    *,
    name: str,
    reply: Answer,
    query: dict[str, str],
    log: FileLog,
    entry: dict[str, Any],
    head: bool,
    drop: Callable[[], bool],
) -> None:
    """Send the answer, counting the body bytes handed over (in `entry` too); misbehaving as the query asks."""
    try:
        await send({"type": "http.response.start", "status": reply.status, "headers": _pairs(reply.headers)})
        if reply.path is None or head:
            await send({"type": "http.response.body", "body": b""})
            return
        chunk = max(1, int(query.get("chunk", DEFAULT_CHUNK)))
        delay = float(query.get("delay", 0))
        stall_after = int(query["stall_after"]) if "stall_after" in query else None
        trickle = float(query["trickle"]) if "trickle" in query else None
        drop_after = int(query["drop_after"]) if "drop_after" in query else None
        offset, sent = reply.start, 0
        with reply.path.open("rb") as reader:
            reader.seek(offset)
            while offset < reply.end:
                size = min(chunk, reply.end - offset)
                if stall_after is not None and sent >= stall_after:
                    if trickle is None:
                        await asyncio.Event().wait()  # until the client goes away and this is cancelled
                    size = 1
                    await asyncio.sleep(trickle)
                elif stall_after is not None:
                    size = min(size, stall_after - sent)
                if drop_after is not None and sent >= drop_after:
                    drop()
                    await asyncio.Event().wait()
                if drop_after is not None:
                    size = min(size, max(1, drop_after - sent))
                piece = reader.read(size)
                offset += len(piece)
                sent += len(piece)
                log.count(name, len(piece), entry)
                await send({"type": "http.response.body", "body": piece, "more_body": offset < reply.end})
                await asyncio.sleep(delay)
    finally:
        log.end(name)


def _pairs(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def file_path(root: Path | None, name: str) -> Path | None:
    """The file `name` in `root`, or None when there is none (or the name leads elsewhere)."""
    if root is None or not name or name.startswith(".") or "/" in name or os.sep in name:
        return None
    path = root / name
    return path if path.is_file() else None


def sent_response(log: FileLog, name: str) -> bytes:
    return json.dumps(log.report(name)).encode()
