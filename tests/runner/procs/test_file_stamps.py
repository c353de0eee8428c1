"""A module file's stamp (modification time in ns, size), read keeping the GIL on a local disk: the same answer
os.stat gives, and os.stat itself where the disk is not local."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.procs import file_stamps
from runner.procs.file_stamps import file_stamp


def os_stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return (status.st_mtime_ns, status.st_size)


def test_a_local_file_is_read_without_os_stat_and_gives_what_os_stat_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "tasks.py"
    module.write_text("def f():\n    return 1\n")
    os.utime(module, ns=(1_700_000_000_123_456_789, 1_700_000_000_987_654_321))
    expected = os_stamp(module)

    def refuse(*arguments: object, **keywords: object) -> object:
        raise AssertionError("os.stat lets the GIL go: not on a local disk")

    monkeypatch.setattr(file_stamps.os, "stat", refuse)
    assert file_stamp(str(module)) == expected == (1_700_000_000_987_654_321, len("def f():\n    return 1\n"))


def test_an_edit_keeping_the_size_shows_in_the_stamp(tmp_path: Path) -> None:
    module = tmp_path / "tasks.py"
    module.write_text("a = 1\n")
    os.utime(module, ns=(0, 1_000_000_000_000))
    before = file_stamp(str(module))
    module.write_text("a = 2\n")
    os.utime(module, ns=(0, 1_000_000_000_001))
    assert file_stamp(str(module)) == os_stamp(module) == (1_000_000_000_001, 6) != before


def test_what_is_not_a_regular_file_has_no_stamp(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo, tmp_path / "missing.py", "a\0b"):
        assert file_stamp(str(path)) is None


def test_off_a_local_disk_os_stat_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "tasks.py"
    module.write_text("x = 1\n")
    expected = os_stamp(module)
    monkeypatch.setattr(file_stamps, "on_local_file_system", lambda folder: False)
    asked: list[str] = []
    real_stat = os.stat

    def counted(path: str, *arguments: object, **keywords: object) -> os.stat_result:
        asked.append(path)
        return real_stat(path)

    monkeypatch.setattr(file_stamps.os, "stat", counted)
    assert file_stamp(str(module)) == expected
    assert asked == [str(module)]
