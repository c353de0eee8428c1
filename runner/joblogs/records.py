"""The line format of a job log file: one record per output line, its stream first.

A record is a code, a space, the line's text (UTF-8) and a newline: `1 ` for stdout, `2 ` for stderr, `# ` for
jobdeck's own notes about the job (the engine's "log" stream), `! ` for notes about the log itself (lines the
disk had no room for). Keeping both streams in one file keeps the order they were written in, so the combined
view is the file read in order and one stream is the file filtered. A tail segment (see runner.joblogs.layout)
starts with a header record, `@ BYTES LINES`, where in the attempt's whole output its first line was: how much a
cut left out is read from it.

What a log's cap counts, and what "bytes" mean in a cut marker, is the size of the output itself: each line's
text and its line end, not the codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.model import OutputLine

STREAM_CODES = {"stdout": b"1", "stderr": b"2", "log": b"#"}
CODE_STREAMS = {code[0]: stream for stream, code in STREAM_CODES.items()}
PREFIXES = {stream: code.decode() + " " for stream, code in STREAM_CODES.items()}
LOG_NOTE = ord("!")
"""The code of a note the writer adds about the file (it is not part of the job's output, nor of its size)."""
HEADER = ord("@")
CODE_BYTES = 2
"""The code and the space before each line's text."""


def record_line(stream: str, text: str) -> str:
    """One output line as a record, still as text (encoded on the writer's thread, many at once). A newline inside
    the text (which the line splitter never leaves) would end the record early: it is written as a space."""
    if "\n" in text:
        text = text.replace("\n", " ")
    return PREFIXES.get(stream, "# ") + text + "\n"


def record_size(line: str) -> int:
    """The output size (see the module's docstring) of a record made by `record_line`."""
    if line.isascii():  # known without looking at the characters: CPython keeps the flag
        return len(line) - CODE_BYTES
    return len(encode_lines([line])) - CODE_BYTES


def encode_lines(lines: list[str]) -> bytes:
    """Records made by `record_line`, as the bytes of the file (a lone surrogate, which a thread job may print,
    becomes "?")."""
    text = "".join(lines)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def encode_record(stream: str, text: str) -> bytes:
    return encode_lines([record_line(stream, text)])


def note_record(text: str) -> bytes:
    return b"! " + text.replace("\n", " ").encode("utf-8", "replace") + b"\n"


def header_record(start_bytes: int, start_lines: int) -> bytes:
    return f"@ {start_bytes} {start_lines}\n".encode()


def output_size(record: bytes) -> int:
    """How much of the job's output a record stands for: its text and line end (0 for the writer's notes)."""
    return 0 if record[0] in (LOG_NOTE, HEADER) else len(record) - CODE_BYTES


@dataclass(frozen=True)
class Header:
    """Where a tail segment's first line was in the attempt's whole output."""

    start_bytes: int
    start_lines: int


def parse_header(record: bytes) -> Header | None:
    """The header of a tail segment (its first record), or None if the record is not one."""
    if not record or record[0] != HEADER:
        return None
    try:
        _, start_bytes, start_lines = record.split()
        return Header(int(start_bytes), int(start_lines))
    except ValueError:
        return None


def decode_record(record: bytes) -> OutputLine:
    """The output line of a record (with or without its newline); the writer's notes are jobdeck's ("log")."""
    record = record.removesuffix(b"\n")
    stream = CODE_STREAMS.get(record[0], "log") if record else "log"
    return OutputLine(stream, record[CODE_BYTES:].decode("utf-8", "replace"))
