"""A dashboard with nothing changing does not draw its header again at each of its pulls."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from runner.deck.parser import load_deck
from runner.model import JobState
from tests.helpers import until
from tui.app import JobdeckApp
from tui.widgets.summary_bar import SummaryBar, SummaryPart

pytestmark = pytest.mark.anyio


async def test_an_unchanged_header_is_not_drawn_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deck = tmp_path / "still.toml"
    deck.write_text('[deck]\nname = "still"\n[[job]]\nname = "wait"\nshell = "exec sleep 60"\n')
    app = JobdeckApp([load_deck(deck)])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None and app.engine.counts()[JobState.RUNNING] == 1)
        shown: list[str] = []
        drawn: list[object] = []
        header = app.query_one(SummaryBar)
        show_parts, update = SummaryBar.show_parts, Static.update

        def counted_show(bar: SummaryBar, parts: Sequence[SummaryPart]) -> None:
            show_parts(bar, parts)
            shown.append(str(bar.render()))

        def counted_update(widget: Static, *args: Any, **kwargs: Any) -> None:
            if widget is header:
                drawn.append(args)
            update(widget, *args, **kwargs)

        monkeypatch.setattr(SummaryBar, "show_parts", counted_show)
        await until(pilot, lambda: len(shown) >= 2, what="two pulls")  # each pull shows the header
        monkeypatch.setattr(Static, "update", counted_update)
        before = len(shown)
        await until(pilot, lambda: len(shown) >= before + 5, what="five more pulls")
        assert len(set(shown[before:])) == 1, "the header says the same at each pull"
        assert drawn == [], "and is not drawn again"
        await app.stop_engine()
