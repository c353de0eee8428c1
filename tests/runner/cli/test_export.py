"""`jobdeck history` and `jobdeck export RUN`: a run's jobs read from a real journal (written by `jobdeck run`, with
no server anywhere), as CSV any CSV reader takes back and as JSON lines."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from runner.cli.main import main
from tests.runner.conftest import TASKS

DECK = """
[deck]
name = "log"

[[job]]
name = "said"
shell = 'echo "first"; echo "a, \\"quoted\\" line"'

[[job]]
name = "sum"
call = "tasks:add"
args = [2, 3]
on = "thread"

[[job]]
name = "exit3"
shell = "echo trying; exit 3"

[[job]]
name = "killed"
shell = "kill -9 $$"

[[job]]
name = "then"
shell = "true"
after = ["exit3"]
"""


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal with one run of DECK, made by `jobdeck run` (no server)."""
    folder = tmp_path_factory.mktemp("export")
    shutil.copy(TASKS, folder / "tasks.py")
    (folder / "log.toml").write_text(DECK)
    assert main(["run", "--db", str(folder / "journal.db"), str(folder / "log.toml")]) == 1
    return folder / "journal.db"


def run_main(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> tuple[int, str, str]:
    code = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_history_lists_the_runs_with_ids_that_export_takes(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "history", "--db", journal)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["run", "loaded", "deck", "jobs", "outcome", "file"]
    assert re.fullmatch(
        r"([0-9a-f]{8})  \d{4}-\d\d-\d\d \d\d:\d\d  log   5     2 succeeded, 2 failed, 1 skipped  .*log\.toml", row
    ), row
    (as_json,) = json.loads(run_main(capsys, "history", "--db", journal, "--json")[1])
    assert as_json["id"].startswith(row[:8]) and as_json["name"] == "log" and as_json["total"] == 5

    by_id = run_main(capsys, "export", row[:8], "--db", journal)
    by_name = run_main(capsys, "export", "log", "--db", journal)  # a deck's name: its latest run
    assert by_id == by_name and by_id[0] == 0


def test_export_writes_a_joblog_as_csv_and_as_json_lines(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "export", "log", "--db", journal)
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "name",
        "kind",
        "state",
        "attempts",
        "started_at",
        "ended_at",
        "duration_s",
        "bytes",
        "exit_code",
        "signal",
        "error",
        "result",
    ]
    shown = {row["name"]: (row["state"], row["exit_code"], row["signal"], row["bytes"], row["result"]) for row in rows}
    assert shown == {
        "said": ("succeeded", "0", "", "", 'a, "quoted" line'),  # the last line it wrote; quoted as CSV quotes
        "sum": ("succeeded", "", "", "1", "5"),
        "exit3": ("failed", "3", "", "", "trying"),
        "killed": ("failed", "", "9", "", ""),
        "then": ("skipped", "", "", "", ""),
    }
    assert [row["name"] for row in rows] == ["said", "sum", "exit3", "killed", "then"]  # the deck's order
    assert float(rows[0]["duration_s"]) >= 0 and float(rows[0]["ended_at"]) >= float(rows[0]["started_at"])

    lines = run_main(capsys, "export", "log", "--json", "--db", journal)[1].splitlines()
    objects = [json.loads(line) for line in lines]
    assert objects[2] == {
        **objects[2],
        "name": "exit3",
        "exit_code": 3,
        "signal": None,
        "error": "exited with status 3",
        "attempts": 1,
    }
    assert objects[1]["bytes"] == 1 and objects[1]["result"] == "5"


def test_export_of_no_such_run_or_journal_says_so(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "export", "lgo", "--db", journal)
    assert (code, out) == (2, "")
    assert "no run 'lgo' in the journal" in err and "did you mean 'log'?" in err
    missing = journal.with_name("none.db")
    code, _, err = run_main(capsys, "history", "--db", missing)
    assert code == 1
    assert f"cannot read the journal {missing}: it does not exist" in err
    assert not missing.exists()  # read, never made
