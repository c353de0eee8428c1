"""Line numbers of tables and keys in a job file, found by scanning the text, since tomllib reports none."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TABLE_HEADER = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_\-."' ]+?)\s*(\]\]?)\s*(?:#.*)?$""")
_KEY_START = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*[.=]""")
_KEY_PART = re.compile(r""""[^"]*"|'[^']*'|[^.\s]+""")


@dataclass
class Block:
    """The lines under one table header: where the header is and where each of its keys is first set."""

    line: int | None
    key_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)

    def note_key(self, key: str, line: int) -> None:
        self.key_lines.setdefault(key, line)


class Lines:
    """Where the top-level keys, the `[deck]` table and each `[[job]]` table are.

    The i-th `[[job]]` header is the i-th job; `[job.headers]` sub-tables count as the last job's `headers`
    key. Multi-line strings are skipped so their contents are not taken for keys or headers.
    """

    def __init__(self, text: str) -> None:
        self.top = Block(line=None)
        self.deck = Block(line=None)
        self.jobs: list[Block] = []
        self._scan(text)

    def job(self, index: int) -> Block:
        return self.jobs[index] if index < len(self.jobs) else Block(line=None)

    def _scan(self, text: str) -> None:
        current: Block | None = self.top
        open_string: str | None = None
        table_header, key_start = _TABLE_HEADER.match, _KEY_START.match
        for number, line in enumerate(text.splitlines(), start=1):
            if open_string:
                if line.count(open_string) % 2 == 1:
                    open_string = None
                continue
            header = table_header(line) if "[" in line else None
            if header and len(header.group(1)) == len(header.group(3)):
                current = self._enter_table(_split_key_path(header.group(2)), header.group(1) == "[[", number)
            elif current is not None and (key := key_start(line)):
                current.note_key(_unquote(key.group(1)), number)
            if "''" in line or '""' in line:  # cheap test first: most lines open no multi-line string
                open_string = next((quote for quote in ('"""', "'''") if line.count(quote) % 2 == 1), None)

    def _enter_table(self, key_path: list[str], is_array: bool, line: int) -> Block | None:
        if not key_path:
            return None
        top, rest = key_path[0], key_path[1:]
        self.top.note_key(top, line)
        if top == "job" and not rest and is_array:
            self.jobs.append(Block(line=line))
            return self.jobs[-1]
        if top == "deck" and not rest:
            self.deck.line = self.deck.line or line
            return self.deck
        owner = self.jobs[-1] if top == "job" and self.jobs else self.deck if top == "deck" else None
        if owner is not None and rest:
            owner.note_key(rest[0], line)
        return None  # keys inside sub-tables are not job or deck keys


def _split_key_path(text: str) -> list[str]:
    return [_unquote(part) for part in _KEY_PART.findall(text)]


def _unquote(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        return key[1:-1]
    return key
