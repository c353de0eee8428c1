"""Reading a job file from disk: a regular, readable UTF-8 text file, or a DeckError that says what it is instead."""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from runner.errors import DeckError, Problem

MAX_JOB_FILE_BYTES = 64 * 1024 * 1024
"""A job file larger than this is refused unread: a million-item fan-out takes about 8 MB."""

_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def absolute(path: Path) -> Path:
    """The path with `~` expanded and symlinks resolved, or made absolute as written if it cannot be resolved."""
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, no home folder, a NUL in the path
        return path.absolute()


def read_job_file(path: Path) -> str:
    def fail(message: str, hint: str | None = None, line: int | None = None) -> DeckError:
        return DeckError([Problem(path, message, line=line, hint=hint)])

    if "\0" in str(path):
        raise fail("the path contains a NUL character", "check how the path was typed or generated")
    if path.is_dir():
        raise fail("this is a folder, not a job file", _toml_files_hint(path))
    if not path.exists():
        raise fail("no such job file", _similar_file_hint(path) or "check the path; job files are TOML (.toml) files")
    try:
        data = read_regular_file(path, fail)
    except PermissionError:
        raise fail("cannot read the job file: permission denied", "check the file's permissions") from None
    except OSError as exc:
        raise fail(f"cannot read the job file: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise fail("this is a binary file, not a TOML job file", "give the path of a .toml text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
            "save the file with UTF-8 encoding",
            line,
        ) from None


def read_regular_file(
    path: Path, fail: Callable[[str, str], DeckError], *, what: str = "job file", text_hint: str = ".toml text file"
) -> bytes:
    """The bytes of a regular file of a sane size. The file is opened without blocking and judged by what was
    opened, not by its name: a FIFO would block the reader forever and /dev/zero never ends."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(descriptor)
        for is_kind, kind in _SPECIAL_FILES:
            if is_kind(status.st_mode):
                raise fail(f"this is {kind}, not a {what}", f"give the path of a {text_hint}")
        if status.st_size > MAX_JOB_FILE_BYTES:
            raise fail(
                f"the {what} is too large ({status.st_size:,} bytes; at most {MAX_JOB_FILE_BYTES:,} are read)",
                "split it into several job files, or use `each` to fan a job out",
            )
        data = file.read(MAX_JOB_FILE_BYTES + 1)
    if len(data) > MAX_JOB_FILE_BYTES:  # it grew while being read
        raise fail(f"the {what} is too large (more than {MAX_JOB_FILE_BYTES:,} bytes)", "split it into several files")
    return data


def _toml_files_hint(folder: Path) -> str:
    try:
        found = sorted(child.name for child in folder.glob("*.toml"))
    except OSError:
        found = []
    if not found:
        return "give the path of a .toml job file"
    listed = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
    return f"give the path of a job file inside it: {listed}"


def _similar_file_hint(path: Path) -> str | None:
    # Compare stems: a shared ".toml" would make any two short names look alike.
    try:
        siblings = {child.stem: child.name for child in path.parent.iterdir() if child.suffix == path.suffix}
    except OSError:
        return None
    matches = difflib.get_close_matches(path.stem, list(siblings), n=1)
    return f"did you mean {siblings[matches[0]]!r}?" if matches else None
