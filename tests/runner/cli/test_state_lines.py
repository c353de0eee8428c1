"""`jobdeck run`'s plain lines (stdout not a terminal): a burst of changes goes out in one write, and a line
whose change came just before the run ended is still written."""

from __future__ import annotations

import io
from pathlib import Path

import anyio
import pytest

from runner.cli.console import StateLines
from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import wait_state

pytestmark = pytest.mark.anyio


class CountingWrites(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def write_deck(folder: Path, jobs: int) -> Path:
    deck = folder / "lines.toml"
    deck.write_text(f'[deck]\nname = "lines"\n\n[[job]]\nname = "t"\nshell = "true"\neach = {{ range = [{jobs}] }}\n')
    return deck


async def test_a_burst_of_changes_is_written_together_and_nothing_is_lost_at_close(tmp_path: Path) -> None:
    out = CountingWrites()
    async with Engine() as engine:
        lines = StateLines(engine, out)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(lines.follow)
            await engine.load(write_deck(tmp_path, 20))
            for number in range(20):
                await wait_state(engine, f"lines/t[{number}]", JobState.SUCCEEDED)
            task_group.cancel_scope.cancel()  # follow stops, maybe holding changes it has not written yet
        lines.close()
    written = out.getvalue().splitlines()
    for number in range(20):
        assert sum(f"lines/t[{number}] " in line for line in written) == 2, written  # running, succeeded
    assert out.writes < len(written) / 2, f"{out.writes} writes for {len(written)} lines"
