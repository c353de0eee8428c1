"""Only regular job files of a sane size are read: a FIFO, a device or a huge file is refused at once, unread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.deck.reading import MAX_JOB_FILE_BYTES, read_job_file
from runner.errors import DeckError
from tests.helpers import jobdeck


def refusal(path: Path) -> str:
    with pytest.raises(DeckError) as refused:
        read_job_file(path)
    (problem,) = refused.value.problems
    return f"{problem.message} | {problem.hint}"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "deck.toml"
    os.mkfifo(fifo)
    # A real process: before the fix, opening the FIFO blocked it until this timeout.
    checked = jobdeck("check", str(fifo), timeout=20)
    assert checked.returncode == 2
    assert "named pipe (FIFO), not a job file" in checked.stderr
    assert "Traceback" not in checked.stderr


def test_a_device_is_refused_unread() -> None:
    assert "character device, not a job file" in refusal(Path("/dev/zero"))


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as file:
        file.truncate(MAX_JOB_FILE_BYTES + 1)  # sparse: nothing is written, reading it would take a while
    message = refusal(huge)
    assert f"too large ({MAX_JOB_FILE_BYTES + 1:,} bytes" in message
    assert "use `each`" in message


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    text = '[[job]]\nname = "a"\nshell = "true"\n'
    path.write_text(text)
    assert read_job_file(path) == text
