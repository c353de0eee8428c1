"""A download that `if_changed` found unchanged says so in its finished row, rather than a size it did not fetch."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.demo.server import DemoServer
from tests.helpers import until
from tests.tui.test_job_list import outcome_column
from tui.app import JobdeckApp
from tui.panes import Pane

pytestmark = pytest.mark.anyio


async def test_a_304_shows_as_unchanged(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "feed.xml").write_text("<feed/>\n" * 1000)
    with DemoServer(files=served) as web:
        deck = tmp_path / "feeds.toml"
        deck.write_text(
            f'[[job]]\nname = "feed"\nfetch = "{web.url}/files/feed.xml"\nsave = "feed.xml"\nif_changed = true\n'
        )
        app = JobdeckApp([load_deck(deck)], start_dir=tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            finished = app.job_list(Pane.FINISHED)

            def shown() -> str:
                """The outcome the row of `feed` shows in Finished, "" while it is not there (listed in the pane
                but not drawn yet, too: outcome_column then raises)."""
                if [job.name for job in finished.jobs] != ["feed"]:
                    return ""
                try:
                    return outcome_column(finished, "feed")
                except AssertionError:
                    return ""

            await until(pilot, lambda: shown() == "8.0 kB/8.0 kB", what="fetched")
            assert app.engine is not None
            await app.engine.retry("feeds/feed")
            await until(pilot, lambda: "unchanged" in shown(), what="unchanged shown")
            assert outcome_column(finished, "feed") == "unchanged (304)"
