"""While the dashboard runs, Python's full garbage collections are ten times rarer; afterwards as they were."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from tests.tui.test_job_list import dashboard, write
from tui.collector import MIDDLE_COLLECTIONS_PER_FULL


@pytest.mark.anyio
async def test_the_dashboard_makes_full_collections_rarer_while_it_runs(tmp_path: Path) -> None:
    before = gc.get_threshold()
    assert before[2] < MIDDLE_COLLECTIONS_PER_FULL
    deck = write(tmp_path / "one.toml", "[[job]]\nname = 'one'\nshell = 'true'\n")
    async with dashboard(deck, jobs=1):
        assert gc.get_threshold() == (before[0], before[1], MIDDLE_COLLECTIONS_PER_FULL)
    assert gc.get_threshold() == before
