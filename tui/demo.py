"""`jobdeck demo`: the dashboard on the demo deck (runner/demo/demo.toml), against a loopback server it starts."""

from __future__ import annotations

import os
import sys

from runner.deck.parser import load_deck
from runner.demo.server import DemoServer
from runner.demo.workspace import prepare_workspace
from runner.errors import DeckError

DEMO_LATENCY_S = 0.05


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
