"""Reading a job file from disk: a regular, readable UTF-8 text file, or a DeckError that says what it is instead."""

from __future__ import annotations

import difflib
from pathlib import Path

from runner.errors import DeckError, Problem


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
        data = path.read_bytes()
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
