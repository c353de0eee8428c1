"""While a key's frame is on its way, the timer's pull of the engine's changes waits for it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tui import key_first
from tui.key_first import KEY_FRAME_WAIT_S, KeyFirst


class FakeApp:
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
    app, pulls = FakeApp(), []
    keys = KeyFirst(app, lambda: pulls.append(now[0]))  # type: ignore[arg-type]
    keys.tick()
    assert pulls == [100.0], "no key: the timer pulls"
    keys.key_pressed()
    keys.key_pressed()  # a second key before the frame: still one frame to wait for
    assert len(app.after_refresh) == 1
    now[0] += 0.1
    keys.tick()
    assert pulls == [100.0], "the key's frame comes first"
    app.frame_out()
    assert pulls == [100.0, 100.1], "the pull that waited runs as soon as the frame is out"
    app.frame_out()
    assert len(pulls) == 2


def test_a_frame_that_never_comes_holds_the_pull_back_only_so_long(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(key_first.time, "monotonic", lambda: now[0])
    pulls: list[float] = []
    keys = KeyFirst(FakeApp(), lambda: pulls.append(now[0]))  # type: ignore[arg-type]
    keys.key_pressed()
    keys.tick()
    now[0] = KEY_FRAME_WAIT_S + 0.01
    keys.tick()
    assert pulls == [now[0]]
