"""The jobdeck dashboard: three panes of jobs over the engine, every action on a key.

The app talks to the engine only through its public interface: it sends commands and pulls the jobs
that changed since the last revision at a steady 10 Hz, so a flood of job events never floods the UI.
The engine's task group lives in one app-level worker that owns the whole `async with`.

The engine is either in this process (`Engine`, `--local`) or in the user's server (`RemoteEngine`, which
mirrors the server's jobs); the app sees either only as an `EngineInterface`. Attached to a server, quitting
may detach instead (the jobs go on) and a closed terminal always detaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import ClassVar

import anyio
from rich.markup import escape
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from runner.engine.engine import Engine
from runner.engine.interface import EngineInterface, LoadedDeck, ObservedJob
from runner.errors import CommandError, DeckError, Problem
from runner.model import Deck, JobState
from tui.formatting import STATE_GLYPHS, format_eta, format_rate
from tui.panes import Pane, PaneModel
from tui.screens.dialogs import HelpScreen, QuitAnswer, QuitScreen
from tui.screens.job_detail import JobDetailScreen
from tui.widgets.job_list import JobList
from tui.widgets.key_bar import KeyBar, KeyHint

PULL_INTERVAL_S = 0.1
THROUGHPUT_WINDOW_S = 20.0
MIN_WIDTH = 60
MIN_HEIGHT = 14
KEY_LABELS = {"enter": "⏎", "slash": "/", "question_mark": "?"}
PANE_IDS = {Pane.QUEUED: "queued", Pane.RUNNING: "running", Pane.FINISHED: "finished"}
ATTACHED_ONLY = frozenset({"detach"})
KEY_PRIORITIES = {
    "quit": 10,
    "help": 9,
    "detach": 9,
    "pause": 7,
    "cancel": 7,
    "detail": 6,
    "retry": 6,
    "open": 5,
    "filter": 4,
    "history": 3,
    "pause-all": 2,
    "retry-failed": 1,
}
"""Which keys the bar keeps longest when it is too narrow for all (others: 0)."""
"""Actions that only mean something when attached to a server: their keys are not shown otherwise."""


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
        Binding("P", "toggle_dispatch", "all", id="pause-all"),
        Binding("R", "retry_failed", "failed", id="retry-failed"),
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
        self.model = PaneModel()
        self._revision = -1
        self._stop_engine = anyio.Event()
        self._engine_stopped = anyio.Event()
        self._finished_samples: deque[tuple[float, int]] = deque()
        self._quitting = False
        self._deck_names: set[str] = set()
        """The decks as of the last pull: one that is gone was forgotten, and its jobs leave the panes."""

    # --- layout ----------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The app keeps its own references: App.query_one searches the active screen, which may be a
        # dialog or the detail view while the panes keep updating underneath.
        self._summary = Static("", id="summary")
        self._filter_input = Input(placeholder="filter by name or state; escape clears", id="filter")
        self._lists = {
            pane: JobList(id=PANE_IDS[pane], follow_end=pane is Pane.FINISHED, clock=self.clock) for pane in Pane
        }
        yield self._summary
        with Vertical(id="panes"):
            for pane, job_list in self._lists.items():
                job_list.border_title = f"{pane.value} (0)"
                yield job_list
        yield Static(
            f"The terminal is too small for jobdeck: make it at least {MIN_WIDTH}x{MIN_HEIGHT}.", id="too-small"
        )
        yield self._filter_input
        self._key_bar = KeyBar(id="keys")
        yield self._key_bar

    def on_mount(self) -> None:
        self._filter_input.display = False
        self.job_list(Pane.RUNNING).focus()
        self._check_size()
        self._refresh_keys_if_changed()
        self.run_engine()
        self.set_interval(PULL_INTERVAL_S, self.pull_changes)
        self._quit_on_signals()

    @property
    def attached(self) -> bool:
        """The engine is a server's: quitting may detach, and a closed terminal does."""
        return self.engine is not None and self.engine.attached

    def _quit_on_signals(self) -> None:
        """A closed terminal (SIGHUP) or a plain `kill` (SIGTERM) ends the app cleanly. Attached to a server,
        that is a detach: the jobs go on. In-process, jobs are cancelled and no child process is left
        behind, as with `q` then `y`."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._quit_now)

    def _quit_now(self) -> None:
        if not self._quitting:
            self.run_worker(self._shut_down(stop_jobs=not self.attached), group="quit")

    def job_list(self, pane: Pane) -> JobList:
        return self._lists[pane]

    def on_resize(self) -> None:
        self._check_size()

    def _check_size(self) -> None:
        too_small = self.size.width < MIN_WIDTH or self.size.height < MIN_HEIGHT
        if self.screen_stack:
            self.screen_stack[0].set_class(too_small, "-too-small")

    # --- the engine ------------------------------------------------------------------------------------

    @work(group="engine", exit_on_error=False)
    async def run_engine(self) -> None:
        from runner.server.client import ServerError

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

    async def _load_and_say(self, engine: EngineInterface, path: Path) -> None:
        """Load a job file outside the open dialog: its problems, if any, go to a notification."""
        try:
            deck = await engine.load(path)
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

    async def load_deck(self, path: Path) -> LoadedDeck:
        """Load a job file into the engine; DeckError (changing nothing) when it is bad."""
        if self.engine is None:
            raise DeckError([Problem(path, "jobdeck is still starting; press enter again in a moment")])
        deck = await self.engine.load(path)
        self.notify(f"loaded {deck.name}: {len(deck.jobs)} job{'' if len(deck.jobs) == 1 else 's'}", timeout=3)
        return deck

    # --- pulling changes -------------------------------------------------------------------------------

    def pull_changes(self) -> None:
        engine = self.engine
        if engine is None or not self.screen_stack:
            return
        if engine.lost and not self._lost_shown:
            self._lost_shown = True
            self.notify(f"lost the jobdeck server: {engine.lost}", severity="error", timeout=30)
        if engine.revision != self._revision:
            changed = engine.changed_since(self._revision)
            self._revision = engine.revision
            touched = self.model.apply(changed)
            changed_ids = {job.id for job in changed}
        else:
            touched, changed_ids = set(), set()
        if self._deck_names - engine.decks.keys():
            touched |= self.model.drop_decks(self._deck_names - engine.decks.keys())
        self._deck_names = set(engine.decks)
        for pane in Pane:
            job_list = self.job_list(pane)
            if pane in touched:
                job_list.set_jobs(self.model.rows[pane].jobs)
                job_list.border_title = f"{pane.value} ({self.model.count(pane)})"
            else:
                job_list.refresh_changed(changed_ids)
        self._update_summary(engine)
        self._refresh_keys_if_changed()

    def _update_summary(self, engine: EngineInterface) -> None:
        counts = engine.counts()
        now = self.clock()
        finished = sum(counts[state] for state in JobState if state.finished)
        self._finished_samples.append((now, finished))
        while now - self._finished_samples[0][0] > THROUGHPUT_WINDOW_S:
            self._finished_samples.popleft()
        first_time, first_finished = self._finished_samples[0]
        span = now - first_time
        rate = (finished - first_finished) / span if span >= 1.0 else 0.0
        remaining = sum(counts[state] for state in JobState if not state.finished)
        eta = remaining / rate if rate > 0 else None
        decks = ", ".join(engine.decks) or "no deck loaded: press o to open a job file"
        wide = self.size.width >= 100
        totals = "  ".join(
            f"{STATE_GLYPHS[state]} {counts[state]}" + (f" {state.value}" if wide else "")
            for state in JobState
            if counts[state]
        )
        parts = [f"[b]{decks}[/b]", totals or "no jobs"]
        if engine.jobs:
            parts.append(format_rate(rate))
            parts.append(f"ETA {format_eta(eta) if remaining else 'done'}")
        parts.extend(escape(line) for line in engine.kind_status())
        if not engine.dispatching:
            parts.append("[reverse] dispatching paused: P resumes [/reverse]")
        if engine.lost:
            parts.append("[reverse] server gone: q quits [/reverse]")
        if self.model.filter_text:
            parts.append(f"filter: {self.model.filter_text!r}")
        self._summary.update(" │ ".join(parts))

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
                hints.append(KeyHint(key, binding.description, enabled, KEY_PRIORITIES.get(binding.id or "", 0)))
        self._key_bar.show_keys(hints)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do not apply to the selected job stay in the footer, greyed out."""
        if action in ATTACHED_ONLY and not self.attached:
            return False
        if self.screen_stack and self.screen is not self.screen_stack[0] and action not in ("quit", "help"):
            return False  # a dialog or the detail view is in front: its own keys apply
        if self.engine is None and action not in ("quit", "help", "focus_pane"):
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
        try:
            await command(job.id)
        except CommandError as error:
            self.notify(str(error), severity="warning", timeout=4)
        self.pull_changes()

    async def action_toggle_pause(self) -> None:
        job = self.selected_job
        if self.engine is None or job is None:
            return
        command = self.engine.resume if job.state is JobState.PAUSED else self.engine.pause
        await self._command(command, job)

    async def action_cancel_job(self) -> None:
        if self.engine is not None:
            await self._command(self.engine.cancel, self.selected_job)

    async def action_retry_job(self) -> None:
        if self.engine is not None:
            await self._command(self.engine.retry, self.selected_job)

    async def action_retry_failed(self) -> None:
        if self.engine is None:
            return
        count = await self.engine.retry_failed()
        self.notify(f"retrying {count} failed job{'s' if count != 1 else ''}", timeout=3)
        self.pull_changes()

    async def action_toggle_dispatch(self) -> None:
        if self.engine is None:
            return
        if self.engine.dispatching:
            await self.engine.pause_all()
        else:
            await self.engine.resume_all()
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
        engine.watch(job.id)
        screen = JobDetailScreen(job, spec_lines=partial(engine.spec_lines, job.id), clock=self.clock)
        self.push_screen(screen, lambda _: engine.unwatch(job.id))

    async def on_job_detail_screen_command_requested(self, message: JobDetailScreen.CommandRequested) -> None:
        """p, c and r on the detail screen act on that screen's job."""
        engine = self.engine
        if engine is None or message.job_id not in engine.jobs:
            return
        commands = {"pause": engine.pause, "resume": engine.resume, "cancel": engine.cancel, "retry": engine.retry}
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
            job_list.set_jobs(self.model.rows[pane].jobs)
            job_list.border_title = f"{pane.value} ({self.model.count(pane)})"
        if self.engine is not None:
            self._update_summary(self.engine)

    def on_key(self, event: events.Key) -> None:
        """Escape clears the filter (from the filter field or from the panes)."""
        filter_input = self._filter_input
        if event.key == "escape" and (filter_input.display or self.model.filter_text):
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
            await self._shut_down(stop_jobs=False)
        elif unfinished:
            self.push_screen(QuitScreen(unfinished, attached=self.attached), self._quit_answered)
        else:
            # Attached with nothing left to run: leave the idle server for the next attach.
            await self._shut_down(stop_jobs=not self.attached)

    def unfinished_count(self) -> int:
        if self.engine is None:
            return 0
        counts = self.engine.counts()
        return sum(count for state, count in counts.items() if not state.finished)

    async def _quit_answered(self, answer: QuitAnswer | None) -> None:
        if answer is QuitAnswer.STOP:
            await self._shut_down(stop_jobs=True)
        elif answer is QuitAnswer.DETACH:
            await self._shut_down(stop_jobs=False)

    async def action_detach(self) -> None:
        """Leave the server's jobs running and end this dashboard; `jobdeck attach` comes back to them."""
        if self.attached and not self._quitting:
            await self._shut_down(stop_jobs=False)

    async def _shut_down(self, *, stop_jobs: bool = True) -> None:
        self._quitting = True
        if stop_jobs:
            self._summary.update("[b]stopping jobs…[/b]")
        self.detached = self.attached and not stop_jobs
        await self.stop_engine(stop_jobs=stop_jobs)
        self.exit()

    async def on_unmount(self) -> None:
        # Whatever way the app ends, an in-process engine's jobs and processes end with it; a server's go on.
        if not self._engine_stopped.is_set():
            await self.stop_engine(stop_jobs=not self.attached)

    # --- command palette -------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
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
        yield SystemCommand("Keys", "Show every key (?)", self.action_help)
