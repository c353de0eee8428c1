from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

TASKS = Path(__file__).with_name("job_tasks.py")


@pytest.fixture
def write_deck(tmp_path: Path) -> Callable[[str], Path]:
    """Write a job file (and the test tasks module beside it, as tasks.py); returns the file's path."""
    shutil.copy(TASKS, tmp_path / "tasks.py")

    def write(text: str, name: str = "deck.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
