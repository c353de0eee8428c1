"""While a key's frame is on its way, the timer's pull of the engine's changes waits for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.model import JobState
from tests.helpers import until
from tests.tui.test_job_list import SLEEPERS, dashboard, names, rows, selected, write
from tui import key_first
from tui.key_first import KEY_FRAME_WAIT_S, KeyFirst
from tui.panes import Pane


class FakeWidget:
    def __init__(self) -> None:
        self.after_refresh: list[Callable[[], None]] = []

    def call_after_refresh(self, callback: Callable[[], None]) -> bool:
        self.after_refresh.append(callback)
        return True

    def frame_out(self) -> None:
        callbacks, self.after_refresh = self.after_refresh, []
        for callback in callbacks:
            callback()


def test_the_pull_waits_for_the_keys_frame_and_runs_once_it_is_out(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(key_first.time, "monotonic", lambda: now[0])
    app, pulls = FakeWidget(), []
    keys = KeyFirst(lambda: pulls.append(now[0]))
    keys.tick()
    assert pulls == [100.0], "no key: the timer pulls"
    keys.key_pressed(app)  # type: ignore[arg-type]
    keys.key_pressed(app)  # type: ignore[arg-type] # a second key before the frame: still one frame to wait for
    assert len(app.after_refresh) == 1
    now[0] += 0.1
    keys.tick()
    assert pulls == [100.0], "the key's frame comes first"
    app.frame_out()
    assert pulls == [100.0, 100.1], "the pull that waited runs as soon as the frame is out"
    app.frame_out()
    assert len(pulls) == 2


def test_a_command_holds_the_pull_until_the_frame_after_its_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attached to a server, a command waits for its answer while frames go out: the pull must not run in
    that round trip, or the key's frame would redraw every pane where its own effect is one row."""
    now = [100.0]
    monkeypatch.setattr(key_first.time, "monotonic", lambda: now[0])
    app, pulls = FakeWidget(), []
    keys = KeyFirst(lambda: pulls.append(now[0]))
    keys.key_pressed(app)  # type: ignore[arg-type]
    keys.command_sent()
    app.frame_out()  # a frame during the round trip: not the key's
    now[0] += 0.05
    keys.tick()
    assert pulls == [], "the command is not answered yet"
    keys.command_answered(app)  # type: ignore[arg-type]
    now[0] += 0.05
    keys.tick()
    assert pulls == []
    app.frame_out()  # the frame showing the command's effect
    assert pulls == [100.1], "the pull that waited runs once the key's frame is out"


@pytest.mark.parametrize("command", [False, True], ids=["a frame that never comes", "a command never answered"])
def test_the_pull_is_held_back_only_so_long(monkeypatch: pytest.MonkeyPatch, command: bool) -> None:
    now = [0.0]
    monkeypatch.setattr(key_first.time, "monotonic", lambda: now[0])
    pulls: list[float] = []
    app = FakeWidget()
    keys = KeyFirst(lambda: pulls.append(now[0]))
    keys.key_pressed(app)  # type: ignore[arg-type]
    if command:
        keys.command_sent()
        app.frame_out()
    keys.tick()
    now[0] = KEY_FRAME_WAIT_S + 0.01
    keys.tick()
    assert pulls == [now[0]]


# --- in the dashboard ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_commands_row_shows_its_effect_without_the_timers_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`p` pauses the selected job: its row says so at once, while the timer's pull (stopped here) would have
    brought every other change along and redrawn every pane."""
    deck = write(tmp_path / "sleepers.toml", SLEEPERS)
    async with dashboard(deck, jobs=4) as (app, pilot):
        await until(pilot, lambda: names(app, Pane.RUNNING) == ["second", "third", "gate"], what="three running")
        monkeypatch.setattr(app._key_first, "_pull", lambda: None)  # the timer pulls nothing from here on
        (tmp_path / "go").touch()  # the gate ends and `first` starts: changes no pull brings now
        assert app.engine is not None
        await until(pilot, lambda: app.engine.job("first").state is JobState.RUNNING, what="first running")
        running = app.job_list(Pane.RUNNING)
        assert selected(app) == "second"
        await pilot.press("p")
        assert app.engine.job("second").state is JobState.PAUSED
        assert "paused" in rows(running)[1], rows(running)
        assert names(app, Pane.RUNNING) == ["second", "third", "gate"], "the other changes wait for the pull"
