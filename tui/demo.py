"""`jobdeck demo`: the dashboard on sample_jobs/demo.toml, against a loopback server jobdeck starts itself."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from runner.deck.parser import load_deck
from runner.demo.server import DemoServer
from runner.errors import DeckError

SAMPLE_JOBS = Path(__file__).resolve().parents[1] / "sample_jobs"
DEMO_FILES = ("demo.toml", "tasks.py")
DEMO_LATENCY_S = 0.05


def prepare_workspace() -> Path:
    """A fresh folder holding the demo deck and its tasks, so the demo's downloads never land in the project."""
    missing = [name for name in DEMO_FILES if not (SAMPLE_JOBS / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the demo needs {', '.join(missing)} in {SAMPLE_JOBS}; run jobdeck from its source tree"
        )
    workspace = Path(tempfile.mkdtemp(prefix="jobdeck-demo-"))
    for name in DEMO_FILES:
        shutil.copy(SAMPLE_JOBS / name, workspace / name)
    return workspace


def run_demo() -> int:
    try:
        workspace = prepare_workspace()
    except FileNotFoundError as error:
        print(f"jobdeck demo: {error}", file=sys.stderr)
        return 2
    with DemoServer(latency=DEMO_LATENCY_S) as server:
        os.environ["JOBDECK_DEMO_URL"] = server.url
        try:
            deck = load_deck(workspace / "demo.toml")
        except DeckError as error:
            print(f"jobdeck demo: the demo deck is broken:\n{error}", file=sys.stderr)
            return 2
        from tui.app import JobdeckApp

        JobdeckApp([deck], start_dir=workspace).run()
    print(f"jobdeck demo: its files are in {workspace}")
    return 0
