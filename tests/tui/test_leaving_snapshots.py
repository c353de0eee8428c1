"""Snapshots of the dialogs met on the way out, each alone over an empty screen at 80x24 (the main screen has
snapshots of its own): the stop that waits on a job, once it offers to quit anyway, and a server that stopped."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App

from runner.model import JobState
from tui.screens.dialogs import ServerStoppedScreen, StoppingScreen

THREAD_NOTE = "cancelling: thread jobs cannot be interrupted: this takes effect at the job's next checkpoint"


@dataclass
class StillStopping:
    name: str
    note: str | None
    state: JobState = JobState.RUNNING


class DialogApp(App[None]):
    def __init__(self, *, attached: bool) -> None:
        super().__init__()
        self.attached = attached

    def on_mount(self) -> None:
        jobs = [StillStopping("pi[1]", THREAD_NOTE), StillStopping("fetch-all", None)]
        self.push_screen(StoppingScreen(lambda: jobs, attached=self.attached, offer_at=0.0))  # type: ignore[arg-type]


class ServerGoneApp(App[None]):
    def on_mount(self) -> None:
        self.push_screen(ServerStoppedScreen("the jobdeck server closed the connection (EndOfStream())"))


def test_the_stop_offering_to_quit_anyway(snap_compare: object) -> None:
    assert snap_compare(DialogApp(attached=False), terminal_size=(80, 24))  # type: ignore[operator]


def test_the_stop_of_an_attached_dashboard_offering_to_quit_anyway(snap_compare: object) -> None:
    assert snap_compare(DialogApp(attached=True), terminal_size=(80, 24))  # type: ignore[operator]


def test_the_server_has_stopped(snap_compare: object) -> None:
    assert snap_compare(ServerGoneApp(), terminal_size=(80, 24))  # type: ignore[operator]
