"""The panes share the screen's rows by what they have to show: an empty pane is one "none" line."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from tests.helpers import until
from tui.app import JobdeckApp
from tui.panes import Pane
from tui.widgets.pane_stack import share_rows

MANY_DONE_ONE_RUNNING = (
    "[deck]\nname = 'mostly-done'\nshell_limit = 4\n"
    + "".join(f"\n[[job]]\nname = 'quick{number:02d}'\nshell = 'true'\n" for number in range(20))
    + "\n[[job]]\nname = 'slow'\nshell = 'exec sleep 60'\n"
)


@pytest.mark.anyio
async def test_empty_panes_shrink_to_one_line_and_the_rows_go_to_the_panes_with_jobs(tmp_path: Path) -> None:
    path = tmp_path / "mostly-done.toml"
    path.write_text(MANY_DONE_ONE_RUNNING)
    app = JobdeckApp([load_deck(path)], start_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.model.count(Pane.FINISHED) == 20 and app.model.count(Pane.RUNNING) == 1)
        await pilot.pause(0.2)
        queued, running, finished = (app.job_list(pane) for pane in Pane)
        assert queued.outer_size.height == 3
        assert queued.render_line(0).text.strip() == "none"
        assert running.outer_size.height == 4, "borders, header and its one row"
        assert finished.outer_size.height == 24 - 2 - 3 - 4, "everything else: header and summary lines aside"
        lines = finished.scrollable_content_region.height
        assert [finished.render_line(y).text[:2] for y in range(1, lines)] == ["✓ "] * 12, "its header, 12 rows"

        await pilot.press("tab", "tab")  # still reachable: the empty Queued pane takes the focus
        assert app.focused is queued and app.selected_job is None
        assert app.check_action("toggle_pause", ()) is None
        await pilot.press("shift+tab", "shift+tab")
        assert app.focused is running and app.selected_job is not None
        await app.stop_engine()


@pytest.mark.parametrize(
    ("available", "counts", "heights"),
    [
        pytest.param(22, [0, 3, 38], [3, 6, 13], id="empty-shrinks-short-gets-all-it-needs"),
        pytest.param(22, [0, 0, 38], [3, 3, 16], id="two-empty"),
        pytest.param(22, [6, 6, 26], [7, 7, 8], id="all-long-share-evenly"),
        pytest.param(22, [0, 2, 3], [3, 9, 10], id="spare-rows-to-panes-with-jobs"),
        pytest.param(22, [0, 0, 0], [7, 7, 8], id="all-empty"),
        pytest.param(12, [5, 5, 5], [4, 4, 4], id="smallest-screen"),
    ],
)
def test_share_rows(available: int, counts: list[int], heights: list[int]) -> None:
    assert share_rows(available, counts) == heights
