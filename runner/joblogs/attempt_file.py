"""Writing one attempt's log files: its head, then its tail in segments, within its cap, through a full disk.

Blocking: only the keeper's writer (runner.joblogs.keeper) calls it, on a worker thread, one batch at a time.
What to keep is decided before (`runner.joblogs.keeper.AttemptLog`): a batch brings the lines that go to the
head, those that go to the tail, and where the first of those is in the attempt's output. The tail is a run of
segment files, each starting with a header saying where its first line was; a new segment is started when the
current one is full, and the oldest are removed while the closed ones take more than the tail's share of the
cap leaves them. A batch that does not follow on from what was written (lines between were dropped: too much
output) starts a new segment, so that a reader sees the gap and says how much was left out.

A write the disk refuses never fails the attempt: the file is cut back to its last whole line and the lines are
counted as lost; a note saying so is written before the next lines that do fit, or on its own as soon as there
is room again (`write_note`). Lost lines in the tail also end its segment, so the gap shows as a cut too.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runner.joblogs.layout import LogPlace, make_private_folder
from runner.joblogs.records import CODE_BYTES, encode_lines, header_record, note_record, output_size
from runner.stored_results import describe_size

SEGMENTS_PER_TAIL = 4
"""The tail is kept in about this many segments: about a quarter of it goes at each removal."""
MIN_SEGMENT_BYTES = 4096
CHUNK_RECORDS = 512
"""Records encoded and written at a time: a batch is up to the whole cap, and each copy of it made at once (text
joined, encoded, split into records) cost the server that much again while a job flooded its output."""
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Batch:
    """What one attempt wrote since the last flush, as it is to be kept."""

    head: list[str] = field(default_factory=list)
    """Records for the head file (runner.joblogs.records.record_line: encoded here, off the event loop)."""
    tail: list[str] = field(default_factory=list)
    """Records for the tail segments (lines before them may have been dropped: see `tail_start`)."""
    tail_start: tuple[int, int] = (0, 0)
    """Where the first tail record is in the attempt's output: (bytes, lines) before it."""
    close: bool = False
    """The attempt has ended: close its files after writing."""


@dataclass
class _Segment:
    number: int
    size: int


@dataclass
class _File:
    fd: int
    size: int


class AttemptFile:
    """The files of one attempt of one job. Not thread-safe: one batch at a time, from one thread at a time."""

    def __init__(self, place: LogPlace, attempt: int, tail_limit: int) -> None:
        self.place = place
        self.attempt = attempt
        self.segment_limit = max(tail_limit // SEGMENTS_PER_TAIL, MIN_SEGMENT_BYTES)
        self.closed_budget = max(tail_limit - self.segment_limit, 0)
        """How many bytes of closed segments are kept besides the one being written."""
        self._head: _File | None = None
        self._closed: deque[_Segment] = deque()
        self._current: _Segment | None = None
        self._current_file: _File | None = None
        self._next_number = 1
        self._next_position: tuple[int, int] | None = None
        """Where the next tail record is expected to be; None before the first."""
        self._broken = False
        """Tail lines were lost: the next ones start a segment of their own."""
        self.lost_lines = 0
        self.lost_bytes = 0
        self.lost_reason: str | None = None
        """Why lines could not be written since a note last said so (None: none lost since)."""

    @property
    def owes_note(self) -> bool:
        return self.lost_reason is not None

    def write(self, batch: Batch) -> None:
        for chunk in _chunks(batch.head):
            self._write_head(encode_lines(chunk), len(chunk))
        start_bytes, start_lines = batch.tail_start
        for chunk in _chunks(batch.tail):
            records = [record + b"\n" for record in encode_lines(chunk).split(b"\n")[:-1]]
            self._write_tail(records, (start_bytes, start_lines))
            start_bytes += sum(map(output_size, records))
            start_lines += len(records)
        if self.owes_note:
            self.write_note()
        if batch.close:
            self.close()

    def write_note(self) -> bool:
        """Write the note about the lines that could not be written, on its own; True once it is written."""
        if self.lost_reason is None:
            return True
        target = self._current_file or self._head_file()
        if target is None or self._append(target, [self._note()]) is not None:
            return False
        if target is self._current_file and self._current is not None:
            self._current.size = target.size
        self._noted()
        return True

    # --- the head ---------------------------------------------------------------------------------------------

    def _head_file(self) -> _File | None:
        if self._head is None:
            self._head = self._open(self.place.head(self.attempt))
        return self._head

    def _write_head(self, data: bytes, lines: int) -> None:
        head = self._head_file()
        note = [self._note()] if self.owes_note else []
        if head is None or self._append(head, [*note, data]) is not None:
            self.lost_lines += lines
            self.lost_bytes += len(data) - CODE_BYTES * lines
        elif note:
            self._noted()

    # --- the tail ---------------------------------------------------------------------------------------------

    def _write_tail(self, records: list[bytes], start: tuple[int, int]) -> None:
        if self._next_position is not None and self._next_position != start:
            self._drop_all_segments()  # lines between were dropped: what came before is older than all of them
            self._start_segment(start)
        elif self._current_file is None or self._broken:
            self._start_segment(start)
        self._broken = False
        self._next_position = (start[0] + sum(map(output_size, records)), start[1] + len(records))
        position_bytes, position_lines = start
        note = self._note() if self.owes_note else None
        chunk: list[bytes] = []
        chunk_size = 0
        for index, record in enumerate(records):
            current = self._current
            if current is not None and chunk and current.size + chunk_size + len(record) > self.segment_limit:
                if not self._flush_chunk(chunk, note):
                    self._lose(records[index - len(chunk) :])
                    return
                note, chunk, chunk_size = None, [], 0
                self._start_segment((position_bytes, position_lines))
            chunk.append(record)
            chunk_size += len(record)
            position_bytes += output_size(record)
            position_lines += 1
        if not self._flush_chunk(chunk, note):
            self._lose(chunk)

    def _flush_chunk(self, chunk: list[bytes], note: bytes | None) -> bool:
        """Append the chunk (after the note, if one is owed) to the current segment; False when it cannot be,
        which ends the segment: the next lines start another one after the gap."""
        target = self._current_file
        if target is None or self._append(target, [note, *chunk] if note else chunk) is not None:
            self._broken = True
            self._close_current()
            return False
        assert self._current is not None
        self._current.size = target.size
        if note:
            self._noted()
        return True

    def _start_segment(self, position: tuple[int, int]) -> None:
        self._close_current()
        number = self._next_number
        self._next_number += 1
        path = self.place.segment(self.attempt, number)
        opened = self._open(path)
        if opened is not None and self._append(opened, [header_record(*position)]) is not None:
            os.close(opened.fd)
            with contextlib.suppress(OSError):
                path.unlink()
            opened = None
        if opened is not None:
            self._current_file, self._current = opened, _Segment(number, opened.size)
        self._keep_within_budget()

    def _close_current(self) -> None:
        if self._current_file is not None:
            with contextlib.suppress(OSError):
                os.close(self._current_file.fd)
            self._current_file = None
        if self._current is not None:
            self._closed.append(self._current)
            self._current = None

    def _keep_within_budget(self) -> None:
        """Remove the oldest closed segments while they take more than their share of the cap."""
        kept = sum(segment.size for segment in self._closed)
        while self._closed and kept > self.closed_budget:
            oldest = self._closed.popleft()
            kept -= oldest.size
            with contextlib.suppress(OSError):
                self.place.segment(self.attempt, oldest.number).unlink()

    def _drop_all_segments(self) -> None:
        self._close_current()
        while self._closed:
            with contextlib.suppress(OSError):
                self.place.segment(self.attempt, self._closed.popleft().number).unlink()

    # --- the disk ---------------------------------------------------------------------------------------------

    def _open(self, path: Path) -> _File | None:
        """The file opened for appending (its folder made first), or None (noted as a failure) if it cannot be."""
        try:
            make_private_folder(self.place.folder)
            fd = os.open(path, OPEN_FLAGS, 0o600)
        except OSError as error:
            self._failed(error)
            return None
        return _File(fd, os.fstat(fd).st_size)

    def _append(self, target: _File, records: list[bytes]) -> OSError | None:
        """Append the records whole, or not at all: a write the disk refuses is cut back. Returns the failure."""
        view = memoryview(b"".join(records))
        size = len(view)
        try:
            while view:
                view = view[os.write(target.fd, view) :]
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(target.fd, target.size)
            self._failed(error)
            return error
        target.size += size
        return None

    def _failed(self, error: OSError) -> None:
        if self.lost_reason is None:
            self.lost_reason = error.strerror or str(error)

    def _lose(self, records: list[bytes]) -> None:
        self.lost_lines += len(records)
        self.lost_bytes += sum(map(output_size, records))

    def _note(self) -> bytes:
        count = f"{self.lost_lines:,} line{'s' if self.lost_lines != 1 else ''}"
        return note_record(
            f"incomplete: {count} ({describe_size(self.lost_bytes)}) of output could not be written to this log "
            f"({self.lost_reason})"
        )

    def _noted(self) -> None:
        self.lost_lines = self.lost_bytes = 0
        self.lost_reason = None

    def close(self) -> None:
        self._close_current()
        if self._head is not None:
            with contextlib.suppress(OSError):
                os.close(self._head.fd)
            self._head = None


def _chunks(records: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(records), CHUNK_RECORDS):
        yield records[start : start + CHUNK_RECORDS]
