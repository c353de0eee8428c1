"""Lines out of a stream that arrives in pieces: the one way jobdeck cuts a job's output into lines.

"\n", "\r\n" and a lone "\r" each end a line (progress bars redraw a line with "\r"); a line longer than
`longest` characters is passed on in pieces of that length, so a stream without line ends never piles up.
Imports stay light: the process workers use this module too.
"""

from __future__ import annotations

import codecs
import re

_LINE_END = re.compile(r"\r\n?|\n")


class LineSplitter:
    """Feed it text (`feed`) or bytes (`feed_bytes`, UTF-8, undecodable bytes replaced) as it comes; each call
    returns the lines completed, without their line ends. `finish` returns the last, unterminated line.
    Not thread-safe: a caller that writes from several threads holds its own lock."""

    def __init__(self, longest: int) -> None:
        if longest < 1:
            raise ValueError("longest must be at least 1")
        self.longest = longest
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, text: str) -> list[str]:
        pending = self._pending + text
        held = ""
        if pending.endswith("\r"):
            pending, held = pending[:-1], "\r"  # perhaps the first half of a "\r\n": wait for what follows
        if "\r" in pending:
            *lines, rest = _LINE_END.split(pending)
        else:
            *lines, rest = pending.split("\n")
        if len(rest) > self.longest:
            cut = (len(rest) - 1) // self.longest * self.longest  # keeps 1 to `longest` characters back
            lines.append(rest[:cut])
            rest = rest[cut:]
        self._pending = rest + held
        longest = self.longest
        if any(len(line) > longest for line in lines):
            return [piece for line in lines for piece in self._pieces(line)]
        return lines

    def feed_bytes(self, chunk: bytes) -> list[str]:
        return self.feed(self._decoder.decode(chunk))

    def finish(self) -> list[str]:
        """The last line if the stream did not end with a line end (and what the decoder still held)."""
        lines = self.feed(self._decoder.decode(b"", final=True))
        rest, self._pending = self._pending, ""
        if rest.endswith("\r"):
            rest = rest[:-1]
        if rest:
            lines.extend(self._pieces(rest))
        return lines

    def _pieces(self, line: str) -> list[str]:
        longest = self.longest
        if len(line) <= longest:
            return [line]
        return [line[start : start + longest] for start in range(0, len(line), longest)]
