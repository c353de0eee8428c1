"""`jobdeck run` ends its process without Python's tear-down once all is closed: its output is whole, its exit
status right, and what was registered to run at exit still runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import JOBDECK, RUN_TIMEOUT_S

TASKS = """
import atexit


def leave_a_mark(path):
    atexit.register(lambda: open(path, "w").write("ran at exit"))
    return path
"""


def test_a_run_ends_with_its_output_whole_and_the_exit_functions_run(tmp_path: Path) -> None:
    (tmp_path / "exit_tasks.py").write_text(TASKS)
    mark = tmp_path / "mark"
    deck = tmp_path / "exit.toml"
    deck.write_text(
        '[deck]\nname = "exit"\n\n[[job]]\nname = "mark"\ncall = "exit_tasks:leave_a_mark"\non = "thread"\n'
        f'args = ["{mark}"]\n\n[[job]]\nname = "bad"\nshell = "exit 3"\n'
    )
    result = subprocess.run(
        [*JOBDECK, "run", "--json", "--db", str(tmp_path / "journal.db"), str(deck)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 1, result.stderr  # a job failed
    assert result.stdout.rstrip().endswith("}"), result.stdout  # the JSON report, whole
    assert '"exit/bad"' in result.stdout or '"bad"' in result.stdout
    assert mark.read_text() == "ran at exit"
