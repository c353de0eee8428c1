"""A built wheel (not the editable source tree) holds everything jobdeck needs, and runs from another folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel built from this checkout, and the folder it was installed into (no dependencies, no source)."""
    folder = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(folder)]
    subprocess.run([*build, str(PROJECT)], check=True, capture_output=True, timeout=120)
    (wheel,) = folder.glob("jobdeck-*.whl")
    target = folder / "site"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target)]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True, timeout=120)
    return wheel, target


def run_installed(target: Path, arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Python run against the installed copy only: -P keeps the current folder off the path."""
    environment = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run(
        [sys.executable, "-P", *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


def test_the_wheel_carries_the_stylesheets_and_the_demo(unpacked_wheel: tuple[Path, Path]) -> None:
    wheel, _ = unpacked_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ["tui/app.tcss", "tui/screens/job_detail.tcss", "tui/screens/open_deck.tcss"]:
        assert needed in names
    for name in ["demo.toml", "pipeline.toml", "tasks.py", "server.py"]:
        needed = f"runner/demo/{name}"
        assert needed in names
    assert not any(name.startswith(("tests/", "sample_jobs/", "bench/")) for name in names)


def test_an_installed_jobdeck_prepares_the_demo_and_answers_help_away_from_the_source(
    unpacked_wheel: tuple[Path, Path], tmp_path: Path
) -> None:
    _, target = unpacked_wheel
    code = (
        "import runner, tomllib\n"
        "from runner.demo.workspace import prepare_workspace\n"
        "print(runner.__file__)\n"
        "workspace = prepare_workspace()\n"
        "deck = tomllib.loads((workspace / 'demo.toml').read_text())\n"
        "print(len(deck['job']), sorted(path.name for path in workspace.iterdir()))\n"
    )
    shown = run_installed(target, ["-c", code], tmp_path)
    assert shown.returncode == 0, shown.stderr
    where, jobs_and_files = shown.stdout.splitlines()
    assert where.startswith(str(target))
    assert jobs_and_files.endswith("['demo.toml', 'pipeline.toml', 'tasks.py']")

    helped = run_installed(target, ["-m", "runner.cli", "--help"], tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "demo" in helped.stdout
