"""The jobdeck dashboard: three panes of jobs over the engine, every action on a key.

The app talks to the engine only through its public interface: it sends commands and pulls the jobs
that changed since the last revision at a steady 10 Hz, so a flood of job events never floods the UI.
The engine's task group lives in one app-level worker that owns the whole `async with`.

The engine is either in this process (`Engine`, `--local`) or in the user's server (`RemoteEngine`, which
mirrors the server's jobs); the app sees either only as an `EngineInterface`. Attached to a server, quitting
may detach instead (the jobs go on) and a closed terminal always detaches.

Leaving is bounded: a job that cannot be interrupted never holds the dashboard. After `q`, `y` a dialog shows
what is still stopping and offers to quit without waiting; a lost terminal, SIGHUP or SIGTERM arms an exit
deadline (tui.exit_deadline). What the app stopped, or that it detached, is printed once it has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import anyio
from rich.markup import escape
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Input, Static

from runner.engine.engine import Engine
from runner.engine.estimate import Estimator
from runner.engine.interface import EngineInterface, LoadedDeck, ObservedJob
from runner.errors import CommandError, DeckAlreadyLoaded, DeckError, Problem
from runner.model import Deck, JobState
from runner.server.server_error import ServerError
from tui import farewell
from tui.collector import FewerFullCollections
from tui.deck_endings import TITLE, EndingWatch, notification_sequences
from tui.exit_deadline import ExitDeadline
from tui.formatting import STATE_GLYPHS, format_duration, format_eta, format_rate, row_seconds
from tui.key_first import KeyFirst
from tui.panes import Pane, PaneModel, in_pane
from tui.pull_pace import BUSY_CHANGES, PullPace
from tui.quiet_pulls import QuietPulls
from tui.screens.dialogs import (
    QUIT_ANYWAY_AFTER_S,
    ConfirmScreen,
    HelpScreen,
    QuitAnswer,
    QuitScreen,
    ServerChoice,
    ServerStoppedScreen,
    StoppingScreen,
    load_again_question,
)
from tui.terminal import TerminalDriver
from tui.widgets.job_list import JobList
from tui.widgets.key_bar import KeyBar, KeyHint
from tui.widgets.pane_stack import PaneStack
from tui.widgets.summary_bar import SummaryBar, SummaryPart

if TYPE_CHECKING:
    from tui.screens.job_detail import JobDetailScreen

PULL_INTERVAL_S = 0.1
GONE_EXIT_S = 5.0
"""How long a dashboard whose terminal is gone (or that got SIGHUP or SIGTERM) may take to end cleanly before
its process is ended regardless."""
STOPPING_SHOWN_AFTER_S = 0.5
"""A stop that takes longer than this shows what it is waiting for."""
ACTIONS_WHILE_FROZEN = frozenset({"quit", "help", "focus_pane", "show_detail"})
"""What still applies while the app is leaving or its server has stopped: the job keys are greyed."""
MIN_WIDTH = 60
MIN_HEIGHT = 14
CONFIRM_CANCEL_AFTER_S = 5.0
"""`c` on a job whose attempt has run this long asks first: a younger one is cancelled at once."""
KEY_LABELS = {"enter": "⏎", "slash": "/", "question_mark": "?"}
PANE_IDS = {Pane.QUEUED: "queued", Pane.RUNNING: "running", Pane.FINISHED: "finished"}
ATTACHED_ONLY = frozenset({"detach"})
"""Actions that only mean something when attached to a server: their keys are not shown otherwise."""
KEY_PRIORITIES = {
    "quit": 10,
    "help": 9,
    "detach": 9,
    "pause": 7,
    "cancel": 7,
    "detail": 6,
    "retry": 6,
    "history": 5,
    "open": 4,
    "filter": 3,
    "pause-all": 2,
    "retry-failed": 1,
}
"""Which keys the bar keeps longest when it is too narrow for all (others: 0)."""
KEY_GROUPS = {"pause": "pause", "pause-all": "pause", "retry": "retry", "retry-failed": "retry"}
"""Keys the bar shows together ("p/P pause") when it is short of room."""


def write_new_file(folder: Path, stem: str, suffix: str, text: str) -> Path:
    """Write `text` to a file that did not exist: `stem` + `suffix` in `folder`, else `stem-2` + `suffix`, ..."""
    for number in itertools.count(1):
        path = folder / f"{stem}{'' if number == 1 else f'-{number}'}{suffix}"
        try:
            with path.open("x", encoding="utf-8") as file:
                file.write(text)
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")


class JobdeckApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "jobdeck"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "focus_pane(1)", "next pane", show=False, id="next-pane"),
        Binding("shift+tab", "focus_pane(-1)", "previous pane", show=False, id="previous-pane"),
        Binding("enter", "show_detail", "detail", id="detail"),
        Binding("p", "toggle_pause", "pause", id="pause"),
        Binding("c", "cancel_job", "cancel", id="cancel"),
        Binding("r", "retry_job", "retry", id="retry"),
        Binding("P", "toggle_dispatch", "pause all", id="pause-all"),
        Binding("R", "retry_failed", "retry failed", id="retry-failed"),
        Binding("o", "open_deck", "open", id="open"),
        Binding("slash", "start_filter", "filter", id="filter"),
        Binding("h", "history", "history", id="history"),
        Binding("question_mark", "help", "keys", id="help"),
        Binding("d", "detach", "detach", id="detach"),
        Binding("q", "quit", "quit", id="quit"),
        Binding("F", "forget_deck", "forget", show=False, id="forget-deck"),
    ]

    def __init__(
        self,
        decks: Sequence[Deck] = (),
        *,
        files: Sequence[Path] = (),
        engine_factory: Callable[[], AbstractAsyncContextManager[EngineInterface]] = Engine,
        start_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.clock = clock
        """Wall-clock time for elapsed times and throughput; fixed in snapshot tests."""
        self._initial_decks = list(decks)
        self._initial_files = list(files)
        """Job files the engine loads itself once it runs (a server, with this client's environment)."""
        self._engine_factory = engine_factory
        self.start_dir = start_dir or Path.cwd()
        self.engine: EngineInterface | None = None
        self.detached = False
        """The app ended by detaching: the server's jobs go on."""
        self._stop_jobs = True
        self._lost_shown = False
        self._work_left: bool | None = None
        """Whether some job was unfinished at the last pull that saw jobs (None before the first)."""
        self.model = PaneModel()
        self._revision = -1
        self._key_first = KeyFirst(self.pull_changes)
        self._pace = PullPace()
        self._quiet_pulls = QuietPulls(self, PULL_INTERVAL_S, self._timer_pull, lambda: self.engine)
        self._collections = FewerFullCollections()
        self._stop_engine = anyio.Event()
        self._engine_stopped = anyio.Event()
        self._estimator = Estimator()
        """The header's rate and ETA, from the jobs each pull brings."""
        self._quitting = False
        self._deck_names: set[str] = set()
        """The decks as of the last pull: one that is gone was forgotten, and its jobs leave the panes."""
        self._endings = EndingWatch(time.time())
        """Decks with `notify = true` whose end this dashboard has told (tui.deck_endings)."""
        self.farewell: list[str] = []
        """What the dashboard says on the terminal once it has ended (`finish` prints it)."""
        self.on_finish: list[Callable[[], None]] = []
        """Clean-ups of the launcher, run by `finish` also when the exit deadline ends the process."""
        self._finished = False
        self._finish_lock = threading.Lock()
        self._terminal: TerminalDriver | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._exit_deadline = ExitDeadline(self)
        self._leave_reason: str | None = None
        self._stopping_from: dict[str, Pane] = {}
        """The jobs unfinished when the stop began (what `farewell` reports as stopped)."""
        self._stopping_since = 0.0
        self._abandoned = False
        """Left without waiting for the engine to stop (`quit anyway`, or the exit deadline)."""
        self._frozen_at: float | None = None
        """When the server was found stopped: the panes' clocks stay there."""

    # --- layout ----------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The app keeps its own references: App.query_one searches the active screen, which may be a
        # dialog or the detail view while the panes keep updating underneath.
        self._summary = SummaryBar(id="summary")
        self._filter_input = Input(placeholder="filter by name or state; escape clears", id="filter")
        self._lists = {
            pane: JobList(id=PANE_IDS[pane], clock=self.shown_time, belongs=partial(in_pane, pane)) for pane in Pane
        }
        self._pane_stack = PaneStack(id="panes")
        yield self._summary
        with self._pane_stack:
            for pane, job_list in self._lists.items():
                job_list.border_title = f"{pane.value} (0)"
                yield job_list
        yield Static(
            f"The terminal is too small for jobdeck: make it at least {MIN_WIDTH}x{MIN_HEIGHT}.", id="too-small"
        )
        yield self._filter_input
        self._key_bar = KeyBar(id="keys")
        yield self._key_bar

    def get_driver_class(self) -> type[Driver]:
        from textual.drivers.linux_driver import LinuxDriver

        driver_class = super().get_driver_class()
        return TerminalDriver if driver_class is LinuxDriver else driver_class

    def on_mount(self) -> None:
        self._collections.start()
        self._filter_input.display = False
        self.job_list(Pane.RUNNING).focus()
        self._check_size()
        self._refresh_keys_if_changed()
        self.run_engine()
        self._quiet_pulls.start()
        self._quit_on_signals()

    @property
    def attached(self) -> bool:
        """The engine is a server's: quitting may detach, and a closed terminal does."""
        return self.engine is not None and self.engine.attached

    def shown_time(self) -> float:
        """The time the panes show running jobs at: the clock's, or when the server was found stopped."""
        return self._frozen_at if self._frozen_at is not None else self.clock()

    def _quit_on_signals(self) -> None:
        """A closed terminal (SIGHUP) or a plain `kill` (SIGTERM) ends the app cleanly. Attached to a server,
        that is a detach: the jobs go on. In-process, jobs are cancelled and no child process is left
        behind, as with `q` then `y`. Either way the process ends within GONE_EXIT_S.

        Plain signal handlers, not the event loop's: they run even when the loop cannot."""
        self._event_loop = asyncio.get_running_loop()
        if self._terminal is None:
            return  # headless, as under test: no signals of its own
        for signum in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._leave_soon(f"got {signal.Signals(signum).name}")

    def terminal_attached(self, driver: TerminalDriver) -> None:
        self._terminal = driver

    def terminal_lost(self, reason: str) -> None:
        self._leave_soon(reason)

    def _leave_soon(self, reason: str) -> None:
        """Leave as after a closed terminal, and end the process within GONE_EXIT_S whatever holds it. Thread-safe."""
        self._exit_deadline.arm(GONE_EXIT_S, exit_code=1)
        with contextlib.suppress(RuntimeError):  # the loop has closed: the app has ended already
            if self._event_loop is not None:
                self._event_loop.call_soon_threadsafe(self._quit_now, reason)

    def _quit_now(self, reason: str | None = None) -> None:
        self._leave_reason = self._leave_reason or reason
        self._leave(stop_jobs=not self.attached)

    def job_list(self, pane: Pane) -> JobList:
        return self._lists[pane]

    def on_resize(self, event: events.Resize) -> None:
        # The event's size: this handler runs before App's own, which is the one that updates `self.size`.
        self._check_size(event.size)

    def _check_size(self, size: Size | None = None) -> None:
        size = size or self.size
        too_small = size.width < MIN_WIDTH or size.height < MIN_HEIGHT
        if self.screen_stack:
            self.screen_stack[0].set_class(too_small, "-too-small")

    # --- the engine ------------------------------------------------------------------------------------

    @work(group="engine", exit_on_error=False)
    async def run_engine(self) -> None:
        try:
            async with self._engine_factory() as engine:
                self.engine = engine
                for deck in self._initial_decks:
                    await engine.add_deck(deck)
                for path in self._initial_files:
                    await self._load_and_say(engine, path)
                self.pull_changes()
                self._refresh_keys_if_changed()
                await self._stop_engine.wait()
                if self._stop_jobs:
                    await engine.shut_down()
        except (ServerError, OSError) as unreachable:
            message = getattr(unreachable, "message", None) or str(unreachable)
            self.exit(return_code=1, message=f"jobdeck: cannot reach the jobdeck server: {message}")
        finally:
            self._engine_stopped.set()

    async def _load_and_say(self, engine: EngineInterface, path: Path, *, again: bool = False) -> None:
        """Load a job file outside the open dialog: its problems, if any, go to a notification; a file whose
        earlier load is still at work is loaded again only after `y`."""
        try:
            deck = await engine.load(path, again=again)
        except DeckAlreadyLoaded as repeat:

            async def answered(yes: bool | None) -> None:
                if yes:
                    await self._load_and_say(engine, path, again=True)
                else:
                    self.notify(f"{path} was not loaded again", timeout=4)

            self.push_screen(load_again_question(path, repeat), answered)
        except DeckError as bad:
            problems = "\n".join(str(problem) for problem in bad.problems[:5])
            self.notify(f"{path} was not loaded:\n{problems}", severity="error", timeout=15)
        else:
            self.notify(f"loaded {deck.name}: {len(deck.jobs)} job{'' if len(deck.jobs) == 1 else 's'}", timeout=3)

    async def stop_engine(self, *, stop_jobs: bool = True) -> None:
        """Leave the engine: cancel every job and wait until it has cleaned up (no child process left), or,
        attached to a server, stop the server that way, or (stop_jobs=False) just detach from it."""
        self._stop_jobs = stop_jobs
        self._stop_engine.set()
        if self.engine is not None:
            await self._engine_stopped.wait()

    async def load_deck(self, path: Path, *, again: bool = False) -> LoadedDeck:
        """Load a job file into the engine; DeckError (changing nothing) when it is bad; unless `again`,
        DeckAlreadyLoaded when its same jobs are loaded and unfinished."""
        if self.engine is None:
            raise DeckError([Problem(path, "jobdeck is still starting; press enter again in a moment")])
        deck = await self.engine.load(path, again=again)
        self.notify(f"loaded {deck.name}: {len(deck.jobs)} job{'' if len(deck.jobs) == 1 else 's'}", timeout=3)
        return deck

    # --- pulling changes -------------------------------------------------------------------------------

    def _timer_pull(self) -> None:
        if self._pace.due():
            self._key_first.tick()

    def pull_changes(self) -> None:
        engine = self.engine
        if engine is None or not self.screen_stack:
            return
        started = time.monotonic()
        if engine.lost and not self._lost_shown:
            self._lost_shown = True
            if not self._quitting:  # a server this app stopped is expected to go
                self._server_stopped(engine.lost)
        if engine.revision != self._revision:
            changed = engine.changed_since(self._revision)
            self._revision = engine.revision
            touched = self.model.apply(changed)
            changed_ids = {job.id for job in changed}
            self._estimator.observe(changed, self.clock())
        else:
            touched, changed_ids = set(), set()
        if len(changed_ids) >= BUSY_CHANGES:
            self.call_after_refresh(self._pace.busy_pull, started)
        else:
            self._pace.quiet_pull()
        if self._deck_names - engine.decks.keys():
            touched |= self.model.drop_decks(self._deck_names - engine.decks.keys())
            self._estimator.drop_decks(self._deck_names - engine.decks.keys())
        self._deck_names = set(engine.decks)
        self._show_rows(touched, changed_ids)
        self._update_summary(engine)
        self._refresh_keys_if_changed()
        self._tell_deck_endings(engine)
        self._focus_finished_once_all_done(engine)

    def _show_rows(self, touched: set[Pane], changed_ids: set[str]) -> None:
        """Redraw the panes whose rows changed, and the changed rows of the others."""
        for pane in Pane:
            job_list = self.job_list(pane)
            job_list.show_decks = len(self._deck_names) > 1
            if pane in touched:
                job_list.set_jobs(self.model.rows[pane].jobs, partial(self.model.index_of, pane))
                job_list.border_title = f"{pane.value} ({self.model.count(pane)})"
            else:
                job_list.refresh_changed(changed_ids)
        if touched:
            self._pane_stack.share()

    def _show_commanded(self, job_id: str) -> None:
        """Show the effect of a command on its job at once, and nothing else: the other jobs' changes (a
        hundred of them, at a thousand a second) wait for the timer's pull, so the key's frame redraws the one
        row rather than every pane. That pull applies this job again, which changes nothing."""
        engine = self.engine
        job = engine.jobs.get(job_id) if engine is not None else None
        if job is None or engine is None or engine.lost:
            self.pull_changes()
            return
        self._show_rows(self.model.apply([job]), {job_id})
        self._update_summary(engine)
        self._refresh_keys_if_changed()

    def _focus_finished_once_all_done(self, engine: EngineInterface) -> None:
        """When the last job finishes (or the dashboard opens on finished work), an empty Queued or Running pane
        in focus hands it to Finished, where Enter opens a job: jobs that all ended before the person pressed a
        key left them on a pane with nothing to select. Only then: a pane chosen later keeps the focus."""
        counts = engine.counts()
        if not any(counts.values()):
            return  # nothing loaded (yet): nothing has finished either
        if any(count for state, count in counts.items() if not state.finished):
            self._work_left = True
            return
        focused, finished = self.focused_list, self.job_list(Pane.FINISHED)
        if self._work_left is False or focused is None or (focused is not finished and focused.jobs):
            # Done already; or not yet: no pane in focus (starting, a dialog in front), or the focused one still
            # shows jobs (a server's counts can come before the jobs' last views). A later pull decides.
            return
        self._work_left = False
        if focused is not finished and finished.jobs:
            finished.focus()

    def _tell_deck_endings(self, engine: EngineInterface) -> None:
        """Ring the bell and send a desktop notification through the terminal when a `notify` deck finishes."""
        for ending in self._endings.news(engine.deck_endings):
            self.notify(ending.summary, title="deck finished", timeout=10)
            if self._driver is not None and not self.is_headless:
                self._driver.write(notification_sequences(TITLE, ending.summary))

    def _update_summary(self, engine: EngineInterface) -> None:
        counts = engine.counts()
        now = self.shown_time()
        rate = self._estimator.rate(now)
        remaining = sum(counts[state] for state in JobState if not state.finished)
        # Without the server nothing is known of the jobs any more: no ETA rather than one counting down.
        eta = None if engine.lost else self._estimator.eta(now, dispatching=engine.dispatching)
        self._summary.show_parts(self._summary_parts(engine, counts, rate, eta, remaining))

    def _summary_parts(
        self, engine: EngineInterface, counts: dict[JobState, int], rate: float, eta: float | None, remaining: int
    ) -> list[SummaryPart]:
        """The header's parts, each with shorter forms for a narrow terminal (lower priorities shorten first)."""
        names = list(engine.decks)
        if not names:
            decks = SummaryPart(("[b]no deck loaded: press o to open a job file[/b]", "[b]no deck: o opens one[/b]"), 6)
        elif len(names) == 1:
            decks = SummaryPart((f"[b]{escape(names[0])}[/b]",), 6)
        else:
            decks = SummaryPart((f"[b]{escape(', '.join(names))}[/b]", f"[b]{len(names)} decks[/b]"), 3)
        shown = [state for state in JobState if counts[state]]
        words = "  ".join(f"{STATE_GLYPHS[state]} {counts[state]} {state.value}" for state in shown)
        glyphs = "  ".join(f"{STATE_GLYPHS[state]} {counts[state]}" for state in shown)
        parts = [decks, SummaryPart((words, glyphs) if shown else ("no jobs",), 1)]
        if engine.jobs:
            parts.append(SummaryPart((format_rate(rate), ""), 4))
            parts.append(SummaryPart((f"ETA {format_eta(eta) if remaining else 'done'}", ""), 5))
        parts.extend(SummaryPart((escape(line), ""), 2) for line in engine.kind_status())
        if not engine.dispatching:
            parts.append(
                SummaryPart(
                    (
                        "[reverse] dispatching paused: P resumes [/reverse]",
                        "[reverse] paused: P resumes [/reverse]",
                        "[reverse] ‖ P resumes [/reverse]",
                    ),
                    9,
                )
            )
        for deck, reason in engine.halted.items():
            said = escape(f"{deck} {reason}" if len(names) > 1 else reason)
            short = escape(f"{deck} halted" if len(names) > 1 else "halted")
            parts.append(
                SummaryPart(
                    (
                        f"[reverse] {said}: R retries [/reverse]",
                        f"[reverse] {said} [/reverse]",
                        f"[reverse] {short} [/reverse]",
                    ),
                    9,
                )
            )
        if engine.lost and not self._quitting:
            parts.append(SummaryPart(("[reverse] server stopped: q [/reverse]",), 9))
        if self.model.filter_text:
            parts.append(SummaryPart((f"filter: {escape(repr(self.model.filter_text))}",), 7))
        return parts

    # --- selection -------------------------------------------------------------------------------------

    @property
    def focused_list(self) -> JobList | None:
        focused = self.screen.focused if self.screen is self.screen_stack[0] else None
        return focused if isinstance(focused, JobList) else None

    @property
    def selected_job(self) -> ObservedJob | None:
        job_list = self.focused_list
        return job_list.selected if job_list else None

    @on(JobList.CursorMoved)
    def _selection_moved(self) -> None:
        self._refresh_keys_if_changed()

    def _refresh_keys_if_changed(self) -> None:
        """Show the keys in the bar, greyed where they do not apply; the bar re-draws only on a change."""
        if not self.screen_stack:
            return
        hints = []
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.show and (binding.action not in ATTACHED_ONLY or self.attached):
                key = binding.key_display or KEY_LABELS.get(binding.key, binding.key)
                enabled = self.check_action(binding.action.split("(")[0], ()) is True
                binding_id = binding.id or ""
                priority, group = KEY_PRIORITIES.get(binding_id, 0), KEY_GROUPS.get(binding_id, "")
                hints.append(KeyHint(key, binding.description, enabled, priority, group))
        self._key_bar.show_keys(hints)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do not apply to the selected job stay in the footer, greyed out."""
        if action in ATTACHED_ONLY and not self.attached:
            return False
        if self.screen_stack and self.screen is not self.screen_stack[0] and action not in ("quit", "help"):
            return False  # a dialog or the detail view is in front: its own keys apply
        if self.engine is None and action not in ("quit", "help", "focus_pane"):
            return None
        if (self._quitting or self._frozen_at is not None) and action not in ACTIONS_WHILE_FROZEN:
            return None
        job = self.selected_job
        if action == "toggle_pause":
            return True if job and not job.state.finished else None
        if action == "cancel_job":
            return True if job and not job.state.finished else None
        if action == "retry_job":
            return True if job and job.state.finished else None
        if action == "show_detail":
            return True if job else None
        if action == "forget_deck":
            return True if job and job.state.finished else None
        if action == "retry_failed":
            return True if self.engine and self.engine.counts()[JobState.FAILED] else None
        return True

    # --- actions ---------------------------------------------------------------------------------------

    def action_focus_pane(self, step: int) -> None:
        order = [self.job_list(pane) for pane in Pane]
        current = self.focused_list
        index = order.index(current) if current in order else 1
        order[(index + step) % len(order)].focus()

    async def _command(self, command: Callable[[str], Awaitable[None]], job: ObservedJob | None) -> None:
        if job is None:
            return
        self._key_first.command_sent()
        try:
            await command(job.id)
        except CommandError as error:
            self.notify(str(error), severity="warning", timeout=4)
        finally:
            self._key_first.command_answered(self.focused or self.screen)
        self._show_commanded(job.id)

    async def action_toggle_pause(self) -> None:
        job = self.selected_job
        if self.engine is None or job is None:
            return
        command = self.engine.resume if job.state is JobState.PAUSED else self.engine.pause
        await self._command(command, job)

    async def action_cancel_job(self) -> None:
        await self._cancel(self.selected_job)

    async def _cancel(self, job: ObservedJob | None) -> None:
        """Cancel the job; once it has run a few seconds, only after `y` (its work so far would be lost)."""
        engine = self.engine
        if engine is None or job is None:
            return
        ran = row_seconds(job, self.clock()) if job.attempt_running else 0.0
        if ran < CONFIRM_CANCEL_AFTER_S:
            await self._command(engine.cancel, job)
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._command(engine.cancel, job)

        question = ConfirmScreen(
            f"Cancel {job.name}?",
            f"It has run for {format_duration(ran)}; that work is lost (r runs it again from the start).",
            yes="cancel it",
            no="keep it running",
        )
        self.push_screen(question, answered)

    async def action_retry_job(self) -> None:
        if self.engine is not None:
            await self._command(self.engine.retry, self.selected_job)

    async def action_retry_failed(self) -> None:
        if self.engine is None:
            return
        try:
            count = await self.engine.retry_failed()
        except CommandError as error:
            self.notify(str(error), severity="warning", timeout=4)
        else:
            self.notify(f"retrying {count} failed job{'s' if count != 1 else ''}", timeout=3)
        self.pull_changes()

    async def action_toggle_dispatch(self) -> None:
        if self.engine is None:
            return
        try:
            if self.engine.dispatching:
                await self.engine.pause_all()
            else:
                await self.engine.resume_all()
        except CommandError as error:
            self.notify(str(error), severity="warning", timeout=4)
        self.pull_changes()

    async def action_forget_deck(self) -> None:
        """Drop the selected job's deck from the engine once all its jobs have finished (refused before: the
        jobs are never stopped by this); the journal keeps it for the history (h)."""
        job = self.selected_job
        if self.engine is None or job is None:
            return
        try:
            count = await self.engine.forget(job.deck)
        except CommandError as error:
            self.notify(str(error), severity="warning", timeout=6)
        else:
            self.notify(f"forgot {job.deck} ({count} job{'s' if count != 1 else ''}); h shows it in the history")
        self.pull_changes()

    def action_show_detail(self) -> None:
        job = self.selected_job
        if job is None:
            return
        engine = self.engine
        if engine is None:
            return
        from tui.screens.job_detail import JobDetailScreen  # a tenth of the dashboard's start-up, when imported early

        engine.watch(job.id)
        screen = JobDetailScreen(
            job,
            spec_lines=partial(engine.spec_lines, job.id),
            log_place=partial(engine.log_place, job.id),
            clock=self.shown_time,
        )
        self.push_screen(screen, lambda _: engine.unwatch(job.id))

    async def on_job_detail_screen_command_requested(self, message: JobDetailScreen.CommandRequested) -> None:
        """p, c and r on the detail screen act on that screen's job."""
        engine = self.engine
        if engine is None or message.job_id not in engine.jobs:
            return
        if message.command == "cancel":
            await self._cancel(engine.jobs[message.job_id])
            return
        commands = {"pause": engine.pause, "resume": engine.resume, "retry": engine.retry}
        command = commands.get(message.command)
        if command is not None:
            await self._command(command, engine.jobs[message.job_id])

    def action_open_deck(self) -> None:
        from tui.screens.open_deck import OpenDeckScreen

        self.push_screen(OpenDeckScreen(self.load_deck, start_dir=self.start_dir))

    def action_start_filter(self) -> None:
        filter_input = self._filter_input
        filter_input.display = True
        filter_input.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self._focus_first_nonempty()

    def _focus_first_nonempty(self) -> None:
        for pane in (Pane.RUNNING, Pane.QUEUED, Pane.FINISHED):
            if self.model.count(pane):
                self.job_list(pane).focus()
                return
        self.job_list(Pane.RUNNING).focus()

    def _apply_filter(self, text: str) -> None:
        self.model.set_filter(text.strip())
        for pane in Pane:
            job_list = self.job_list(pane)
            job_list.set_jobs(self.model.rows[pane].jobs, partial(self.model.index_of, pane))
            job_list.border_title = f"{pane.value} ({self.model.count(pane)})"
        self._pane_stack.share()
        if self.engine is not None:
            self._update_summary(self.engine)

    async def on_event(self, event: events.Event) -> None:
        await super().on_event(event)  # an app's binding has run; a widget's key is in the widget's queue
        if isinstance(event, events.Key):
            self._key_first.key_pressed(self.focused or self.screen)

    def on_key(self, event: events.Key) -> None:
        """Escape clears the filter (from the filter field or from the panes; a screen in front has its own)."""
        filter_input = self._filter_input
        in_front = self.screen is self.screen_stack[0]
        if event.key == "escape" and in_front and (filter_input.display or self.model.filter_text):
            filter_input.value = ""
            filter_input.display = False
            self._apply_filter("")
            self.job_list(Pane.RUNNING).focus()
            event.stop()

    def action_history(self) -> None:
        from tui.screens.history import HistoryScreen

        engine = self.engine
        if engine is None or not engine.history_available:
            self.notify(
                "no journal to show: history comes from the journal the server and `jobdeck run` write",
                severity="warning",
                timeout=5,
            )
            return
        self.push_screen(HistoryScreen(engine.history_runs, engine.history_jobs), self._history_closed)

    async def _history_closed(self, path: Path | None) -> None:
        if path is not None and self.engine is not None:
            await self._load_and_say(self.engine, path)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if self._quitting:
            return
        engine = self.engine
        unfinished = self.unfinished_count()
        if engine is not None and engine.lost:
            self._ask_about_stopped_server(engine.lost)
        elif unfinished:
            self.push_screen(QuitScreen(unfinished, attached=self.attached), self._quit_answered)
        else:
            # Attached with nothing left to run: leave the idle server for the next attach.
            self._leave(stop_jobs=not self.attached)

    def unfinished_count(self) -> int:
        if self.engine is None:
            return 0
        counts = self.engine.counts()
        return sum(count for state, count in counts.items() if not state.finished)

    def _quit_answered(self, answer: QuitAnswer | None) -> None:
        if answer is QuitAnswer.STOP:
            self._leave(stop_jobs=True)
        elif answer is QuitAnswer.DETACH:
            self._leave(stop_jobs=False)

    async def action_detach(self) -> None:
        """Leave the server's jobs running and end this dashboard; `jobdeck attach` comes back to them."""
        if self.attached and not self._quitting:
            self._leave(stop_jobs=False)

    def _leave(self, *, stop_jobs: bool) -> None:
        """Start leaving, on a worker: the stop may take a while, and the app keeps drawing and taking keys."""
        if not self._quitting:
            self._quitting = True
            self.run_worker(self._shut_down(stop_jobs=stop_jobs), group="quit")

    async def _shut_down(self, *, stop_jobs: bool = True) -> None:
        self._quitting = True
        engine = self.engine
        server_gone = engine is not None and engine.lost is not None
        self.detached = self.attached and not stop_jobs and not server_gone
        if server_gone:
            self.farewell = farewell.server_gone_line()
        elif self.detached:
            self.farewell = farewell.detached_line(self.unfinished_count())
        elif stop_jobs and engine is not None:
            self._stopping_from = farewell.unfinished_panes(engine.jobs.values())
            self._stopping_since = time.monotonic()
            if self._stopping_from:
                self.set_timer(STOPPING_SHOWN_AFTER_S, self._show_stopping)
        self._refresh_keys_if_changed()
        await self.stop_engine(stop_jobs=stop_jobs)
        if self._abandoned:
            return
        if self._stopping_from or (stop_jobs and self._leave_reason):
            self.farewell = self._stop_farewell(waited=True)
        self.exit()

    def _still_stopping(self) -> list[ObservedJob]:
        if self.engine is None:
            return []
        return farewell.still_unfinished(self._stopping_from, self.engine.jobs)

    def _stop_farewell(self, *, waited: bool) -> list[str]:
        """What was stopped; what was not, if the app did not wait (after a wait, what was still stopping in
        a server ended with it, and an engine here has ended every job)."""
        left = [] if waited else self._still_stopping()
        return farewell.stopped_line(self._stopping_from, left, attached=self.attached, reason=self._leave_reason)

    def _show_stopping(self) -> None:
        if self._engine_stopped.is_set() or self._abandoned or not self._still_stopping():
            return
        offer_at = self._stopping_since + QUIT_ANYWAY_AFTER_S
        screen = StoppingScreen(self._still_stopping, attached=self.attached, offer_at=offer_at)
        self.push_screen(screen, lambda quit_anyway: self._abandon() if quit_anyway else None)

    def _abandon(self) -> None:
        """Leave without waiting for the engine to stop: say what did not stop, and end (a real terminal's
        process is then ended by the exit deadline, since what holds the engine holds the interpreter too)."""
        if self._abandoned or not self.is_running:
            return
        self._abandoned = True
        if self._stopping_from:
            self.farewell = self._stop_farewell(waited=False)
        self.exit()
        if self._terminal is not None:
            self._exit_deadline.arm(0, exit_code=0)

    async def on_unmount(self) -> None:
        self._collections.stop()
        # Whatever way the app ends, an in-process engine's jobs and processes end with it; a server's go on.
        if not self._engine_stopped.is_set() and not self._abandoned:
            await self.stop_engine(stop_jobs=not self.attached)

    # --- after the app: the exit deadline's side (tui.exit_deadline.Leaver), and last words ----------------

    def leave_at_once(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the app has ended already
            if self._event_loop is not None:
                self._event_loop.call_soon_threadsafe(self._abandon)

    def wait_terminal_released(self, timeout: float) -> bool:
        return self._terminal is None or self._terminal.released.wait(timeout)

    def restore_terminal(self) -> None:
        if self._terminal is not None:
            self._terminal.restore()

    def say_last_words(self) -> None:
        self.finish()

    def finish(self) -> None:
        """Print the farewell and run the launcher's clean-ups, once: the launcher calls this after `run`, and the
        exit deadline before it ends the process."""
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        out = sys.__stdout__
        if out is not None and self.farewell:
            with contextlib.suppress(OSError, ValueError):  # the terminal may be gone
                out.write("".join(f"{line}\n" for line in self.farewell))
                out.flush()
        for clean_up in self.on_finish:
            clean_up()

    # --- a server that has stopped ---------------------------------------------------------------------

    def _server_stopped(self, reason: str) -> None:
        """The server this app is attached to has gone: freeze the panes, grey the job keys, and ask."""
        self._frozen_at = self.clock()
        self._refresh_keys_if_changed()
        self._ask_about_stopped_server(reason)

    def _ask_about_stopped_server(self, reason: str) -> None:
        if not isinstance(self.screen, ServerStoppedScreen):
            self.push_screen(ServerStoppedScreen(reason), self._server_choice)

    async def _server_choice(self, choice: ServerChoice | None) -> None:
        if choice is ServerChoice.QUIT:
            self._leave(stop_jobs=False)
        elif choice is ServerChoice.START:
            await self._attach_again()

    async def _attach_again(self) -> None:
        """Leave the stopped server's mirror and attach afresh, starting a new server (the panes start over)."""
        self._summary.update("[b]starting a new jobdeck server…[/b] (the one that stopped may take 30 s to end)")
        await self.stop_engine(stop_jobs=False)
        self.engine = None
        self._stop_engine, self._engine_stopped = anyio.Event(), anyio.Event()
        self._initial_decks, self._initial_files = [], []
        self._revision, self._deck_names, self._lost_shown = -1, set(), False
        self._estimator = Estimator()
        filter_text = self.model.filter_text
        self.model = PaneModel()
        self._apply_filter(filter_text)
        self._frozen_at = None
        self.run_engine()

    # --- command palette -------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Keys" (a panel of the focused widget's keys) would be listed beside ours, and its
        # "Screenshot" saves to a Downloads folder a server seldom has: ours saves where jobdeck was started.
        replaced = {"Keys", "Screenshot"}
        yield from (command for command in super().get_system_commands(screen) if command.title not in replaced)
        yield SystemCommand("Pause or resume job", "Pause or resume the selected job (p)", self.action_toggle_pause)
        yield SystemCommand(
            "Pause or resume dispatching", "Hold back every queued job (P)", self.action_toggle_dispatch
        )
        yield SystemCommand("Cancel job", "Cancel the selected job (c)", self.action_cancel_job)
        yield SystemCommand("Retry job", "Queue the selected finished job again (r)", self.action_retry_job)
        yield SystemCommand("Retry failed jobs", "Queue every failed job again (R)", self.action_retry_failed)
        yield SystemCommand(
            "Forget deck", "Drop the selected job's finished deck; history keeps it (F)", self.action_forget_deck
        )
        yield SystemCommand("Open job file", "Load a deck from a TOML job file (o)", self.action_open_deck)
        yield SystemCommand("Filter jobs", "Show only jobs matching a name or state (/)", self.action_start_filter)
        yield SystemCommand("History", "Earlier runs from the journal; load one again (h)", self.action_history)
        if self.attached:
            yield SystemCommand("Detach", "End this dashboard; the jobs go on in the server (d)", self.action_detach)
        yield SystemCommand("Keys", "Show every key (?)", self.action_help)
        yield SystemCommand(
            "Screenshot", f"Save an SVG picture of the screen in {self.start_dir}", self.action_save_screenshot
        )

    def action_save_screenshot(self) -> None:
        # After the next refresh: the palette that asked for it is gone from the picture by then.
        self.call_after_refresh(self._save_screenshot)

    @work(group="screenshot", exit_on_error=False)
    async def _save_screenshot(self) -> None:
        svg = self.export_screenshot()
        stem = f"jobdeck-{time.strftime('%Y-%m-%d-%H%M%S')}"
        try:
            path = await anyio.to_thread.run_sync(write_new_file, self.start_dir, stem, ".svg", svg)
        except OSError as error:
            self.notify(f"could not save a screenshot in {self.start_dir}: {error.strerror or error}", severity="error")
        else:
            self.notify(f"screenshot saved: {path}", timeout=8)
