"""`jobdeck check --json`: every problem of every file as an object an editor or CI reads, and check's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli.main import main


def checked(capsys: pytest.CaptureFixture[str], *files: Path) -> tuple[int, dict[str, object]]:
    code = main(["check", "--json", *map(str, files)])
    captured = capsys.readouterr()
    assert captured.err == ""
    report: dict[str, object] = json.loads(captured.out)
    return code, report


def test_problems_are_objects_with_their_file_line_job_key_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("good.toml").write_text('[[job]]\nname = "a"\nshell = "true"\n')
    Path("bad.toml").write_text('[[job]]\nname = "x"\nshell = "true"\nretires = 1\n')
    code, report = checked(capsys, Path("good.toml"), Path("bad.toml"), Path("gone.toml"))
    assert code == 2
    assert report["ok"] is False
    assert report["files"] == [
        {"file": "good.toml", "ok": True, "deck": "good", "jobs": 1, "kinds": ["shell"]},
        {"file": "bad.toml", "ok": False},
        {"file": "gone.toml", "ok": False},
    ]
    assert report["problems"] == [
        {
            "file": "bad.toml",
            "line": 4,
            "column": None,
            "job": "x",
            "key": "retires",
            "message": "unknown key in [[job]]",
            "hint": "did you mean 'retries'?",
        },
        {
            "file": "gone.toml",
            "line": None,
            "column": None,
            "job": None,
            "key": None,
            "message": "no such job file",
            "hint": "check the path; job files are TOML (.toml) files",
        },
    ]


def test_good_files_exit_0_with_no_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deck = tmp_path / "fine.toml"
    deck.write_text('[[job]]\nname = "a"\nshell = "true"\neach = [1, 2]\n')
    code, report = checked(capsys, deck)
    assert code == 0
    assert report == {
        "ok": True,
        "files": [{"file": str(deck), "ok": True, "deck": "fine", "jobs": 2, "kinds": ["shell"]}],
        "problems": [],
    }
