"""Line numbers of tables and keys in a job file, found by scanning the text, since tomllib reports none."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TABLE_HEADER = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_\-."' ]+?)\s*(\]\]?)\s*(?:#.*)?$""")
_KEY_START = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*[.=]""")
_KEY_PART = re.compile(r""""[^"]*"|'[^']*'|[^.\s]+""")


@dataclass
class Block:
    """The lines under one table header: where the header is and where each of its keys is first set.

    The `key = value` lines are read only when a key's line is first asked for, which happens only to report
    a problem: a big deck without problems never reads them.
    """

    line: int | None
    key_lines: dict[str, int] = field(default_factory=dict)
    unread: list[tuple[int, int]] = field(default_factory=list)
    """Ranges of line numbers (first, last) whose `key = value` lines are not read yet."""
    lines: Lines | None = None

    def line_of(self, key: str) -> int | None:
        if self.unread and self.lines is not None:
            self.lines.read_keys(self)
        return self.key_lines.get(key, self.line)

    def note_key(self, key: str, line: int) -> None:
        known = self.key_lines.get(key)
        if known is None or line < known:  # the first line that sets it, whatever order lines are read in
            self.key_lines[key] = line


class Lines:
    """Where the top-level keys, the `[deck]` table and each `[[job]]` table are.

    The i-th `[[job]]` header is the i-th job; `[job.headers]` sub-tables count as the last job's `headers`
    key. Multi-line strings are skipped so their contents are not taken for keys or headers.
    """

    def __init__(self, text: str) -> None:
        self.top = Block(line=None, lines=self)
        self.deck = Block(line=None, lines=self)
        self.jobs: list[Block] = []
        self._text_lines = text.splitlines()
        self._in_strings: set[int] = set()
        """Numbers of the lines inside multi-line strings (after the line that opens one)."""
        self._scan()

    def job(self, index: int) -> Block:
        return self.jobs[index] if index < len(self.jobs) else Block(line=None)

    def read_keys(self, block: Block) -> None:
        key_start = _KEY_START.match
        for first, last in block.unread:
            for number in range(first, last + 1):
                if number not in self._in_strings and (key := key_start(self._text_lines[number - 1])):
                    block.note_key(_unquote(key.group(1)), number)
        block.unread.clear()

    def _scan(self) -> None:
        current: Block | None = self.top
        start = 1
        open_string: str | None = None
        headers: dict[str, tuple[list[str], bool] | None] = {}
        """What each line with a `[` says as a header (None: it is no header); a big deck repeats `[[job]]`."""
        for number, line in enumerate(self._text_lines, start=1):
            if open_string:
                self._in_strings.add(number)
                if line.count(open_string) % 2 == 1:
                    open_string = None
                continue
            if "[" in line:
                if line in headers:
                    header = headers[line]
                else:
                    header = headers[line] = _header(line)
                if header is not None:
                    if current is not None and start < number:
                        current.unread.append((start, number - 1))
                    current = self._enter_table(header[0], header[1], number)
                    start = number + 1
            if "''" in line or '""' in line:  # cheap test first: most lines open no multi-line string
                open_string = next((quote for quote in ('"""', "'''") if line.count(quote) % 2 == 1), None)
        if current is not None and start <= len(self._text_lines):
            current.unread.append((start, len(self._text_lines)))

    def _enter_table(self, key_path: list[str], is_array: bool, line: int) -> Block | None:
        if not key_path:
            return None
        top, rest = key_path[0], key_path[1:]
        self.top.note_key(top, line)
        if top == "job" and not rest and is_array:
            self.jobs.append(Block(line=line, lines=self))
            return self.jobs[-1]
        if top == "deck" and not rest:
            self.deck.line = self.deck.line or line
            return self.deck
        owner = self.jobs[-1] if top == "job" and self.jobs else self.deck if top == "deck" else None
        if owner is not None and rest:
            owner.note_key(rest[0], line)
        return None  # keys inside sub-tables are not job or deck keys


def _header(line: str) -> tuple[list[str], bool] | None:
    """The key path of a `[table]` or `[[table]]` header line, and whether it is an array of tables."""
    header = _TABLE_HEADER.match(line)
    if header is None or len(header.group(1)) != len(header.group(3)):
        return None
    return _split_key_path(header.group(2)), header.group(1) == "[["


def _split_key_path(text: str) -> list[str]:
    return [_unquote(part) for part in _KEY_PART.findall(text)]


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key
