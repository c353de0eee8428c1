"""Reading job logs (written by runner.joblogs.attempt_file): in order, as `jobdeck logs` prints them, or a window at
a time, as the dashboard scrolls them.

An attempt's lines are its head file's, then, when its output outgrew the head, those of its tail segments in
order. Where lines were left out (between the head and the first segment kept, or between two segments after a
gap), a line of jobdeck's says how much: "cut: 1,234,567 bytes (20,417 lines) left out". Only whole records are
read: a line being written is read once its newline is there. Files are opened once and read from where the
last read ended, so following a growing log costs only its new bytes; a segment removed meanwhile is still read
to its end through the open file.

Blocking (it reads files): the dashboard calls it on a worker thread, the command line directly.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runner.joblogs.layout import LogPlace, existing_segments
from runner.joblogs.records import HEADER, decode_record, output_size, parse_header
from runner.model import OutputLine
from runner.stored_results import describe_size

READ_CHUNK_BYTES = 1 << 20
SEARCH_CHUNK_RECORDS = 16384


def cut_line(left_bytes: int, left_lines: int) -> OutputLine:
    """The marker where output was left out."""
    lines = f"{left_lines:,} line{'s' if left_lines != 1 else ''}"
    return OutputLine("log", f"cut: {left_bytes:,} bytes ({describe_size(left_bytes)}, {lines}) left out")


def _open(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None


@dataclass
class _Part:
    """One file of an attempt (its head, or a tail segment), read as far as its last whole record."""

    fd: int
    number: int
    """0 for the head, else the segment's number."""
    start_bytes: int = 0
    start_lines: int = 0
    read_to: int = 0
    """The file offset up to which whole records have been read."""
    output_bytes: int = 0
    """Output bytes of the records read (see runner.joblogs.records.output_size)."""
    output_lines: int = 0
    stderr_lines: int = 0
    offsets: array[int] = field(default_factory=lambda: array("q"))
    """Where each record read starts (the index keeps them; the sequential reader does not)."""
    keep_offsets: bool = False

    @property
    def end_bytes(self) -> int:
        return self.start_bytes + self.output_bytes

    @property
    def end_lines(self) -> int:
        return self.start_lines + self.output_lines

    def read_new(self) -> list[bytes]:
        """The whole records written since the last read (a segment's header is taken as its start)."""
        records: list[bytes] = []
        while True:
            try:
                data = os.pread(self.fd, READ_CHUNK_BYTES, self.read_to)
            except OSError:
                return records
            end = data.rfind(b"\n") + 1
            if not end:
                if len(data) == READ_CHUNK_BYTES:  # a line longer than a chunk (no writer makes one): skip it
                    self.read_to += len(data)
                    continue
                return records
            offset = self.read_to
            for record in data[:end].split(b"\n")[:-1]:
                size = len(record) + 1
                if record and record[0] == HEADER and offset == 0 and self.number:
                    header = parse_header(record)
                    if header is not None:
                        self.start_bytes, self.start_lines = header.start_bytes, header.start_lines
                    offset += size
                    continue
                if self.keep_offsets:
                    self.offsets.append(offset)
                offset += size
                self.output_bytes += output_size(record + b"\n")
                self.output_lines += 1
                if record[:1] == b"2":
                    self.stderr_lines += 1
                records.append(record)
            self.read_to = offset
            if len(data) < READ_CHUNK_BYTES:
                return records

    def read_records(self, first: int, stop: int) -> list[bytes]:
        """Records `first` to `stop` (indexes into `offsets`), read in one go."""
        if first >= stop:
            return []
        begin = self.offsets[first]
        end = self.offsets[stop] if stop < len(self.offsets) else self.read_to
        try:
            data = os.pread(self.fd, end - begin, begin)
        except OSError:
            return []
        return data.split(b"\n")[: stop - first]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class AttemptReader:
    """One attempt's log read in order: each `read_new()` gives the lines written since the last one (the first
    gives all there is), with a cut marker where lines were left out."""

    def __init__(self, place: LogPlace, attempt: int) -> None:
        self.place = place
        self.attempt = attempt
        self._part: _Part | None = None
        self._announced = True
        """Whether the current part's cut marker (if it needs one) has been given."""
        self._position = (0, 0)
        """Output (bytes, lines) read so far."""

    def read_new(self) -> list[OutputLine]:
        lines: list[OutputLine] = []
        if self._part is None:
            fd = _open(self.place.head(self.attempt))
            if fd is not None:
                self._part = _Part(fd, 0)
            else:  # no head (nothing written yet, or a full disk refused it): perhaps a tail
                first = self._next_segment(0)
                if first is None:
                    return lines
                self._begin(first)
        while True:
            part = self._part
            assert part is not None
            lines += self._read(part)
            following = self._next_segment(part.number)
            if following is None:
                return lines
            # The writer has moved on to a later segment: this part is whole now, and its last records are read.
            lines += self._read(part)
            part.close()
            self._begin(following)

    def _begin(self, part: _Part) -> None:
        self._part = part
        self._announced = False

    def _read(self, part: _Part) -> list[OutputLine]:
        records = part.read_new()
        lines = []
        if not self._announced and part.read_to:  # its header is read: where its first line was is known
            self._announced = True
            left_bytes, left_lines = part.start_bytes - self._position[0], part.start_lines - self._position[1]
            if left_lines > 0:
                lines.append(cut_line(left_bytes, left_lines))
        if records:
            self._position = (part.end_bytes, part.end_lines)
        return lines + [decode_record(record) for record in records]

    def _next_segment(self, after: int) -> _Part | None:
        for number in existing_segments(self.place, self.attempt):
            if number > after:
                fd = _open(self.place.segment(self.attempt, number))
                if fd is not None:
                    return _Part(fd, number)
        return None

    def close(self) -> None:
        if self._part is not None:
            self._part.close()
            self._part = None


@dataclass(frozen=True)
class _Row:
    """Where a run of the index's rows comes from: a part's records, or one line of jobdeck's own."""

    first: int
    count: int
    part: _Part | None = None
    line: OutputLine | None = None


@dataclass
class _AttemptParts:
    attempt: int
    head: _Part | None = None
    segments: list[_Part] = field(default_factory=list)


class JobIndex:
    """A job's log, every attempt in turn, as numbered rows read a window at a time: for the dashboard.

    `refresh` (on a worker thread) reads what was added to the files and says whether rows were added at the end
    only (True) or the rows changed otherwise (a segment removed, say: "rebuilt"); `rows` and `search` read rows
    back. A line before each attempt after the first says which attempt follows. Thread-safe: `refresh` works
    outside the lock and only swaps in what it found under it, so reading rows never waits for a scan."""

    def __init__(self, place: LogPlace) -> None:
        self.place = place
        self._attempts: list[_AttemptParts] = []
        self._layout: list[_Row] = []
        self._count = 0
        self._lock = threading.Lock()
        self._retired: list[_Part] = []
        self._closed = False

    def __len__(self) -> int:
        return self._count

    def refresh(self, attempts: int) -> str | None:
        """Read what the job's first `attempts` attempts added. Returns "grown" (rows added at the end),
        "rebuilt" (rows changed otherwise) or None (nothing changed)."""
        if self._closed:
            return None
        for part in self._retired:
            part.close()
        self._retired = []
        changed = False
        reshaped = False
        known = self._attempts
        while len(known) < attempts:
            known.append(_AttemptParts(len(known) + 1))
        for parts in known:
            if parts.head is None:
                fd = _open(self.place.head(parts.attempt))
                if fd is not None:
                    parts.head = _Part(fd, 0, keep_offsets=True)
            if parts.head is not None and parts.head.read_new():
                changed = True
            on_disk = existing_segments(self.place, parts.attempt)
            kept = [part for part in parts.segments if part.number in on_disk]
            if len(kept) != len(parts.segments):
                self._retired += [part for part in parts.segments if part not in kept]
                parts.segments = kept
                reshaped = True
            known = {part.number for part in kept}
            for number in on_disk:
                if number not in known:
                    fd = _open(self.place.segment(parts.attempt, number))
                    if fd is not None:
                        parts.segments.append(_Part(fd, number, keep_offsets=True))
                        changed = True
            parts.segments.sort(key=lambda part: part.number)
            for part in parts.segments:
                if part.read_new():
                    changed = True
        if not changed and not reshaped:
            return None
        layout = self._lay_out()
        with self._lock:
            if self._closed:  # closed while this read: what it opened is closed now
                self._close_parts(known)
                return None
            self._layout, self._count = layout, sum(row.count for row in layout)
        return "rebuilt" if reshaped else "grown"

    def _lay_out(self) -> list[_Row]:
        rows: list[_Row] = []
        first = 0

        def add(count: int, part: _Part | None = None, line: OutputLine | None = None) -> None:
            nonlocal first
            if count:
                rows.append(_Row(first, count, part, line))
                first += count

        for parts in self._attempts:
            if parts.attempt > 1 and (parts.head is not None or parts.segments):
                add(1, line=OutputLine("log", f"attempt {parts.attempt}"))
            position = (0, 0)
            if parts.head is not None:
                add(len(parts.head.offsets), parts.head)
                position = (parts.head.end_bytes, parts.head.end_lines)
            for part in parts.segments:
                if part.start_lines > position[1]:
                    add(1, line=cut_line(part.start_bytes - position[0], part.start_lines - position[1]))
                add(len(part.offsets), part)
                position = (part.end_bytes, part.end_lines)
        return rows

    def rows(self, first: int, stop: int) -> list[OutputLine]:
        """The lines of rows `first` to `stop` (fewer past the end)."""
        found: list[OutputLine] = []
        with self._lock:
            for row in self._layout:
                if row.first + row.count <= first:
                    continue
                if row.first >= stop:
                    break
                start, end = max(first, row.first) - row.first, min(stop, row.first + row.count) - row.first
                if row.part is None:
                    assert row.line is not None
                    found.append(row.line)
                else:
                    found += map(decode_record, row.part.read_records(start, end))
        return found

    def iter_rows(self, start: int = 0, stop: int | None = None, chunk: int = 4096) -> Iterator[tuple[int, OutputLine]]:
        """The rows from `start` to `stop` (the end) with their numbers, read a chunk at a time."""
        stop = self._count if stop is None else min(stop, self._count)
        for first in range(start, stop, chunk):
            for offset, line in enumerate(self.rows(first, min(first + chunk, stop))):
                yield first + offset, line

    def search(self, query: str, matches: Callable[[str], bool], start: int = 0, stop: int | None = None) -> list[int]:
        """The numbers of the rows from `start` to `stop` whose text contains `query` (ignoring case) and passes
        `matches` (the viewer's own test of the text it shows). The files are searched as bytes, a chunk at a
        time, and only the records that hold the query are decoded: a search of a log of a hundred thousand
        lines takes a fraction of a second."""
        stop = self._count if stop is None else min(stop, self._count)
        if not query.isascii():  # bytes ignore the case of ASCII letters only: decode every row
            return [number for number, line in self.iter_rows(start, stop) if matches(line.text)]
        needle = re.compile(re.escape(query.encode()), re.IGNORECASE)
        with self._lock:
            layout = list(self._layout)
        found: list[int] = []
        for row in layout:
            first, last = max(start, row.first), min(stop, row.first + row.count)
            if first >= last:
                continue
            if row.part is None:
                assert row.line is not None
                if needle.search(row.line.text.encode()) and matches(row.line.text):
                    found.append(row.first)
                continue
            found += _search_part(row.part, first - row.first, last - row.first, needle, matches, row.first)
        return found

    @property
    def has_stderr(self) -> bool:
        """Whether any line read so far came from stderr."""
        return any(
            part is not None and part.stderr_lines for parts in self._attempts for part in [parts.head, *parts.segments]
        )

    def close(self) -> None:
        """Close its files (also while a `refresh` runs on another thread: that one closes what it opened)."""
        with self._lock:
            self._closed = True
            self._close_parts(self._attempts)

    def _close_parts(self, attempts: list[_AttemptParts]) -> None:
        for parts in attempts:
            for part in [parts.head, *parts.segments]:
                if part is not None:
                    part.close()
        for part in self._retired:
            part.close()
        self._attempts, self._retired = [], []
        self._layout, self._count = [], 0


def _search_part(
    part: _Part, first: int, stop: int, needle: re.Pattern[bytes], matches: Callable[[str], bool], base: int
) -> list[int]:
    """The rows (numbered from `base`) of records `first` to `stop` of a part that hold `needle` and pass
    `matches`."""
    found: list[int] = []
    offsets = part.offsets
    for chunk_first in range(first, stop, SEARCH_CHUNK_RECORDS):
        chunk_stop = min(chunk_first + SEARCH_CHUNK_RECORDS, stop)
        begin = offsets[chunk_first]
        end = offsets[chunk_stop] if chunk_stop < len(offsets) else part.read_to
        try:
            data = os.pread(part.fd, end - begin, begin)
        except OSError:
            return found
        seen = -1
        for hit in needle.finditer(data):
            record = bisect_right(offsets, begin + hit.start(), chunk_first, chunk_stop) - 1
            if record == seen:
                continue
            seen = record
            start_byte = offsets[record] - begin
            end_byte = data.find(b"\n", start_byte)
            line = decode_record(data[start_byte : end_byte if end_byte >= 0 else len(data)])
            if matches(line.text):
                found.append(base + record)
    return found


def read_attempt(place: LogPlace, attempt: int) -> list[OutputLine]:
    """Every line of one attempt's log as it is now."""
    reader = AttemptReader(place, attempt)
    try:
        return reader.read_new()
    finally:
        reader.close()
