"""Loading a job file from the dashboard says what was loaded, counted in words a person would use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import until
from tui.app import JobdeckApp

pytestmark = pytest.mark.anyio


async def test_loading_a_file_says_how_many_jobs_it_has(tmp_path: Path) -> None:
    one = tmp_path / "one.toml"
    one.write_text('[deck]\nname = "one"\n[[job]]\nname = "a"\nshell = "exec sleep 60"\n')
    two = tmp_path / "two.toml"
    two.write_text('[deck]\nname = "two"\n[[job]]\nname = "a"\nshell = "exec sleep 60"\neach = [1, 2]\n')
    app = JobdeckApp([])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None, what="the engine started")
        await app.load_deck(one)
        await app.load_deck(two)
        expected = ["loaded one: 1 job", "loaded two: 2 jobs"]
        await until(pilot, lambda: [str(notice.message) for notice in app._notifications] == expected, what="said")
        await app.stop_engine()
