"""One download's body across its requests: where the bytes go, the offset it continues from, and what each
response means for it.

A download continues from the bytes it has (its partial file's, or, without `save`, those already hashed and
counted) with `Range: bytes=N-` and `If-Range` (the strong ETag, else the Last-Modified date of the version it
holds): after a pause long enough to let the connection go, in a retry, and after a restarted server (the
journal keeps what the partial file is of: runner.kinds.transfer_book). What comes back decides:

- 206 from byte N: the rest is appended; the progress goes on from N.
- 200 (the server ignores Range, or the resource changed, so If-Range did not match): the partial file is
  emptied and the body written from its first byte.
- 416: with `Content-Range: bytes */N` the partial file is already whole (when nothing says the version
  changed), so the download ends there; otherwise the next request starts over.
- anything else fails the attempt as any response would, and leaves the partial file for the next attempt.

A download is resumable only when it is a GET whose response has a validator, says `Accept-Ranges: bytes` (or
is a 206) and has no Content-Encoding (Range counts the encoded bytes). Otherwise it keeps today's behaviour: a
pause holds the connection and a retry starts over.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx

from runner.errors import JobError
from runner.kinds.base import AttemptContext
from runner.kinds.checksums import Digest, RunningHash
from runner.kinds.save_file import SaveFile
from runner.kinds.transfer_book import PartRecord, SavedRecord, TransferBook, Validators
from runner.model import FetchSpec

RECORD_AFTER_BYTES = 1 << 20
"""A resumable download is written in the book once it has this much: a smaller one costs little to fetch again,
and the fetches of small pages pay nothing."""
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)


class Step(Enum):
    BODY = "body"
    """Stream the response's body, from `offset`."""
    AGAIN = "again"
    """Ask again, from the first byte (the partial file was emptied)."""
    WHOLE = "whole"
    """The body is already whole (a 416 for a complete partial file)."""
    UNCHANGED = "unchanged"
    """304 to a conditional request: the saved file stands."""


@dataclass(frozen=True)
class ContentRange:
    start: int | None
    """None for `bytes */N` (a 416's)."""
    total: int | None


def content_range(value: str | None) -> ContentRange | None:
    match = _CONTENT_RANGE.fullmatch(value.strip()) if value else None
    if match is None:
        return None
    start, _end, total = match.groups()
    return ContentRange(int(start) if start is not None else None, int(total) if total != "*" else None)


def validators_of(response: httpx.Response) -> Validators:
    return Validators(response.headers.get("etag"), response.headers.get("last-modified"))


def _encoded(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")


def _length(response: httpx.Response) -> int | None:
    length = response.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


class Download:
    """Use `Download.open`; then per request `request_headers`, `begin`, `write`; at the end `finish`, or
    `abandon` (shielded) when the attempt fails or is cancelled."""

    def __init__(self, spec: FetchSpec, book: TransferBook | None, expected: Digest | None) -> None:
        self.spec = spec
        self.book = book
        self.sink: SaveFile | None = None
        self.hash = RunningHash(expected) if expected is not None else None
        self.offset = 0
        """Body bytes held (written or hashed and counted)."""
        self.total: int | None = None
        self.validators: Validators | None = None
        """Of the version whose bytes are held."""
        self.resumable = False
        self.resumed_from = 0
        self.conditional: Validators | None = None
        """Validators of the saved file, sent with `if_changed`."""
        self.saved_size: int | None = None
        self.recorded = False
        """Whether the book has a record of the partial file."""
        self._ranged = spec.method == "GET" and not any(name.lower() == "range" for name in spec.headers)
        self._sent_range = False

    @classmethod
    async def open(cls, spec: FetchSpec, attempt: AttemptContext) -> Download:
        """Take the partial file (with the bytes a resumable earlier attempt left in it), hash those bytes on a
        worker thread, and look up what `if_changed` sends."""
        expected = Digest.parse(spec.checksum) if spec.checksum is not None else None
        download = cls(spec, attempt.transfers, expected)
        if spec.save is None:
            return download
        keep = download._ranged and download.book is not None
        download.sink = await SaveFile.open(spec.save, attempt.settings.out_dir, attempt.umask, keep=keep)
        try:
            if download.sink.size:
                await download._take_over_part()
            if spec.if_changed and download.offset == 0 and download.book is not None:
                await download._look_up_saved()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await download.sink.discard()
            raise
        return download

    async def _take_over_part(self) -> None:
        sink, book, save = self.sink, self.book, self.spec.save
        assert sink is not None and book is not None and save is not None
        record = await anyio.to_thread.run_sync(book.part, save)
        if (
            record is None
            or record.url != self.spec.url
            or record.validators.if_range is None
            or (record.total is not None and sink.size > record.total)
        ):
            await sink.truncate()  # left by a jobdeck that knew nothing of it: no telling what it holds
            if record is not None:
                await anyio.to_thread.run_sync(book.drop_part, save)
            return
        self.offset = self.resumed_from = sink.size
        self.total, self.validators = record.total, record.validators
        self.resumable = self.recorded = True
        if self.hash is not None:
            await anyio.to_thread.run_sync(self.hash.update_all, sink.read_back())

    async def _look_up_saved(self) -> None:
        book, save = self.book, self.spec.save
        assert book is not None and save is not None

        def look_up() -> tuple[SavedRecord | None, int | None]:
            record = book.saved(save)
            try:
                return record, save.stat().st_size
            except OSError:
                return record, None

        record, size = await anyio.to_thread.run_sync(look_up)
        if record is not None and size is not None and record.url == self.spec.url:
            self.conditional, self.saved_size = record.validators, size

    # --- each request -------------------------------------------------------------------------------------

    def request_headers(self) -> dict[str, str]:
        """What this request adds to the job's headers: a Range for the rest, or the conditional headers."""
        validators = self.validators
        self._sent_range = False
        if self.offset > 0 and self.resumable and validators is not None and validators.if_range is not None:
            self._sent_range = True
            return {"Range": f"bytes={self.offset}-", "If-Range": validators.if_range, "Accept-Encoding": "identity"}
        if self.offset > 0:
            return {}
        conditional = self.conditional
        headers: dict[str, str] = {}
        if conditional is not None and conditional.etag is not None:
            headers["If-None-Match"] = conditional.etag
        if conditional is not None and conditional.last_modified is not None:
            headers["If-Modified-Since"] = conditional.last_modified
        return headers

    async def begin(self, response: httpx.Response, check_status: Callable[[httpx.Response], None]) -> Step:
        """What to do with this response; `check_status` raises JobError for one that fails the attempt."""
        status = response.status_code
        if status == 304 and self.conditional is not None and not self._sent_range:
            return Step.UNCHANGED
        if self._sent_range:
            if status == 206:
                span = content_range(response.headers.get("content-range"))
                if span is not None and span.start == self.offset and not _encoded(response):
                    self.total = span.total if span.total is not None else self.total
                    return Step.BODY
                await self.restart()
                return Step.AGAIN
            if status == 416:
                span = content_range(response.headers.get("content-range"))
                if span is not None and span.total == self.offset and self._same_version(response):
                    self.total = self.offset
                    return Step.WHOLE
                await self.restart()
                return Step.AGAIN
            check_status(response)  # a failure leaves the partial file as it is, for the next attempt
            await self.restart()  # any other success is the whole body, from its first byte
        else:
            check_status(response)
        self.validators = validators_of(response)
        self.total = _length(response)
        self.resumable = (
            self._ranged
            and self.validators.if_range is not None
            and (response.headers.get("accept-ranges", "").strip().lower() == "bytes" or status == 206)
            and not _encoded(response)
        )
        return Step.BODY

    def _same_version(self, response: httpx.Response) -> bool:
        """Whether a 416's validators, where it sends any, are those of the version held."""
        held, now = self.validators, validators_of(response)
        if held is None:
            return False
        if now.etag is not None and held.etag is not None:
            return now.etag == held.etag
        if now.last_modified is not None and held.last_modified is not None:
            return now.last_modified == held.last_modified
        return True

    async def restart(self) -> None:
        """Throw away what is held: the body comes again from its first byte."""
        if self.sink is not None:
            await self.sink.truncate()
        if self.hash is not None:
            self.hash.restart()
        self.offset = self.resumed_from = 0
        self.resumable = False
        await self._forget_part()

    async def write(self, chunk: bytes) -> None:
        if self.sink is not None:
            await self.sink.write(chunk)
        if self.hash is not None:
            self.hash.update(chunk)
        self.offset += len(chunk)
        if not self.recorded and self.resumable and self.sink is not None and self.offset >= RECORD_AFTER_BYTES:
            await self.record()

    async def record(self) -> None:
        """Write in the book what the partial file is of and how far it got (a restarted server continues it)."""
        book, save, validators = self.book, self.spec.save, self.validators
        if book is None or save is None or validators is None or not self.resumable:
            return
        if self.sink is not None:
            await self.sink.flush()
        record = PartRecord(self.spec.url, validators, self.total, self.offset)
        await anyio.to_thread.run_sync(book.keep_part, save, record)
        self.recorded = True

    async def _forget_part(self) -> None:
        if self.recorded and self.book is not None and self.spec.save is not None:
            self.recorded = False
            await anyio.to_thread.run_sync(self.book.drop_part, self.spec.save)

    # --- the end ------------------------------------------------------------------------------------------

    async def finish(self, step: Step, status: int, url: str) -> dict[str, Any]:
        """Verify the checksum and put the file in place; the job's result."""
        if step is Step.UNCHANGED:
            await self.abandon()
            return {"status": status, "bytes": self.saved_size, "unchanged": True, "url": url}
        if self.hash is not None:
            try:
                self.hash.check(str(self.spec.save) if self.spec.save is not None else url)
            except JobError:
                await self.throw_away()
                raise
        if self.sink is not None:
            sink, self.sink = self.sink, None
            await sink.commit()
        await self._after_commit()
        result: dict[str, Any] = {"status": status, "bytes": self.offset, "url": url}
        if self.resumed_from:
            result["resumed_from"] = self.resumed_from
        if self.hash is not None:
            result["checksum"] = f"{self.hash.expected.algorithm} ok"
        return result

    async def _after_commit(self) -> None:
        book, save = self.book, self.spec.save
        if book is None or save is None:
            return
        kept = SavedRecord(self.spec.url, self.validators) if self.spec.if_changed and self.validators else None
        recorded = self.recorded
        self.recorded = False
        if kept is None and not recorded:
            return

        def write(save: Path = save) -> None:
            if recorded:
                book.drop_part(save)
            if kept is not None:
                book.keep_saved(save, kept)

        await anyio.to_thread.run_sync(write)

    async def throw_away(self) -> None:
        """Remove the partial file and its record: the next attempt starts clean."""
        with anyio.CancelScope(shield=True):
            if self.sink is not None:
                sink, self.sink = self.sink, None
                await sink.discard()
            await self._forget_part()

    async def abandon(self) -> None:
        """The attempt ends without the whole body: keep a resumable partial file (and record how far it got),
        remove any other. Shielded; safe to call more than once."""
        sink = self.sink
        if sink is None:
            return
        with anyio.CancelScope(shield=True):
            if not (self.resumable and self.offset > 0 and self.book is not None):
                await self.throw_away()
                return
            self.sink = None
            await sink.keep()  # what a full disk loses is lost from the end: the file's size says how far it got
            record = PartRecord(self.spec.url, self.validators or Validators(), self.total, self.offset)
            if self.book is not None and self.spec.save is not None:
                await anyio.to_thread.run_sync(self.book.keep_part, self.spec.save, record)
            self.recorded = True
