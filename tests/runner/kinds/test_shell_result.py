"""A shell job's result says how its command ended (exit code or signal) and the last line it wrote, whether it
succeeded or failed: the same in `run --json` as in the engine (and so in `status --json` and the dashboard)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.helpers import jobdeck


def test_run_json_gives_each_shell_job_its_exit_code_and_last_line(write_deck: Callable[..., Path]) -> None:
    deck = write_deck("""
        [[job]]
        name = "fine"
        shell = "echo working; echo done; echo"

        [[job]]
        name = "broken"
        shell = "echo trying; echo no such file >&2; exit 3"

        [[job]]
        name = "killed"
        shell = "echo bye; kill -9 $$"

        [[job]]
        name = "silent"
        shell = "true"

        [[job]]
        name = "never"
        shell = "true"
        after = ["broken"]
    """)
    finished = jobdeck("run", "--json", "--no-journal", deck)
    assert finished.returncode == 1, finished.stderr
    jobs = {job["name"]: job for job in json.loads(finished.stdout)["jobs"]}
    assert jobs["fine"]["result"] == {"exit_code": 0, "signal": None, "last_line": "done"}, "blank lines do not count"
    assert jobs["broken"]["result"] == {"exit_code": 3, "signal": None, "last_line": "no such file"}
    assert jobs["broken"]["error"] == "exited with status 3"
    assert jobs["killed"]["result"] == {"exit_code": None, "signal": "SIGKILL", "last_line": "bye"}
    assert jobs["silent"]["result"] == {"exit_code": 0, "signal": None, "last_line": None}
    assert jobs["never"]["result"] is None, "a job that did not run has no result"
