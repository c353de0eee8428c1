"""A fetch waiting for its host shows in the Queued pane as such, not as running."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.model import JobState
from tests.helpers import until
from tui.app import JobdeckApp
from tui.panes import Pane

pytestmark = pytest.mark.anyio


async def test_a_fetch_waiting_for_its_host_is_queued_host_busy(tmp_path: Path, server_url: str) -> None:
    path = tmp_path / "downloads.toml"
    path.write_text(
        f'[deck]\nhost_limit = 1\n\n[[job]]\nname = "get"\nfetch = "{server_url}/slow?delay=30"\neach = [1, 2]\n'
    )
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        queued = app.job_list(Pane.QUEUED)
        await until(pilot, lambda: [job.name for job in queued.jobs] == ["get[2]"], what="get[2] waits in Queued")
        await until(pilot, lambda: "host busy" in queued.render_line(1).text, what="its row says why")
        row = queued.render_line(1).text
        assert "queued" in row and "get[2]" in row
        assert app.engine is not None and app.engine.job("get[2]").state is JobState.QUEUED
        assert [job.name for job in app.job_list(Pane.RUNNING).jobs] == ["get[1]"]
        await app.stop_engine()
