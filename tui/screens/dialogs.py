"""Small modal dialogs of the dashboard: the quit question, the jobs still stopping on the way out, the server
that has stopped, and the key help."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import Enum
from typing import ClassVar

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from runner.engine.interface import ObservedJob
from tui.farewell import SERVER_ENDS_WITHIN_S

KEY_HELP: tuple[tuple[str, str], ...] = (
    ("tab / shift+tab", "next / previous pane"),
    ("↑ ↓  j k  home end  pgup pgdn", "move the selection"),
    ("enter", "job detail"),
    ("p", "pause or resume the selected job"),
    ("P", "pause or resume dispatching for everything"),
    ("c", "cancel the selected job"),
    ("r", "retry the selected finished job"),
    ("R", "retry every failed job"),
    ("F", "forget the selected job's deck once it has finished"),
    ("o", "open a job file"),
    ("/", "filter rows by name or state (escape clears)"),
    ("ctrl+p", "command palette"),
    ("?", "this help"),
    ("h", "history: earlier decks from the journal, and re-running one"),
    ("d", "detach: leave the jobs running in the server (when attached)"),
    ("q", "quit (asks first while jobs run)"),
)


class QuitAnswer(Enum):
    STOP = "stop"
    DETACH = "detach"


class QuitScreen(ModalScreen[QuitAnswer | None]):
    """Asks before quitting while jobs are unfinished: `y` stops them and quits, `n` stays; attached to a
    server, `d` detaches (the jobs go on) and `y` stops the server too."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('stop')", "yes, stop jobs and quit"),
        Binding("d", "answer('detach')", "detach, jobs go on"),
        Binding("n,escape", "answer('stay')", "no, stay"),
    ]

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 64; height: auto; padding: 1 2;
        border: thick $warning; background: $panel;
    }
    QuitScreen .question { text-style: bold; }
    QuitScreen .keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, unfinished: int, *, attached: bool = False) -> None:
        super().__init__()
        self.unfinished = unfinished
        self.attached = attached

    def compose(self) -> ComposeResult:
        jobs = "job is" if self.unfinished == 1 else "jobs are"
        with Vertical():
            if self.attached:
                yield Static(f"{self.unfinished} {jobs} not finished.", classes="question")
                yield Static("Detach to leave them running in the jobdeck server (jobdeck attach comes back).")
                yield Static(
                    "[b]y[/b] stop jobs and the server, quit    [b]d[/b] detach    [b]n[/b] stay", classes="keys"
                )
            else:
                yield Static(f"{self.unfinished} {jobs} not finished. Quit and stop them?", classes="question")
                yield Static("Running jobs are cancelled cleanly; nothing is left running.")
                yield Static("[b]y[/b] stop jobs and quit    [b]n[/b] stay", classes="keys")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.attached or parameters != ("detach",)

    def action_answer(self, answer: str) -> None:
        self.dismiss(None if answer == "stay" else QuitAnswer(answer))


QUIT_ANYWAY_AFTER_S = 3.0
"""How long a stop may take before the stopping dialog offers to quit without waiting."""
STILL_STOPPING_SHOWN = 5


class StoppingScreen(ModalScreen[bool]):
    """Shown while the jobs are being stopped on the way out: which have not stopped yet and why, and, from
    `offer_at` on, `a` to quit without waiting for them (dismissed with True)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("a", "quit_anyway", "quit anyway")]

    DEFAULT_CSS = """
    StoppingScreen { align: center middle; }
    StoppingScreen > Vertical {
        width: 72; height: auto; max-height: 100%; padding: 1 2;
        border: thick $warning; background: $panel;
    }
    StoppingScreen .question { text-style: bold; }
    StoppingScreen #still { margin-top: 1; }
    StoppingScreen .keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(
        self,
        still_stopping: Callable[[], Sequence[ObservedJob]],
        *,
        attached: bool,
        offer_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`offer_at`: when (on `clock`) to offer quitting without waiting; QUIT_ANYWAY_AFTER_S from now by default."""
        super().__init__()
        self.still_stopping = still_stopping
        self.attached = attached
        self.clock = clock
        self.offer_at = clock() + QUIT_ANYWAY_AFTER_S if offer_at is None else offer_at
        self.offered = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Stopping jobs…", classes="question", id="title")
            yield Static("", id="still")
            yield Static("", classes="keys", id="choice")

    def on_mount(self) -> None:
        self._show()
        self.set_interval(0.25, self._show)

    def _show(self) -> None:
        jobs = list(self.still_stopping())
        count = len(jobs)
        title = f"Stopping {count} job{'' if count == 1 else 's'}…" if count else "Stopping jobs…"
        self.query_one("#title", Static).update(title)
        still = Table.grid(padding=(0, 2))
        still.add_column(no_wrap=True, style="bold")
        still.add_column()  # a long note wraps within its column
        for job in jobs[:STILL_STOPPING_SHOWN]:
            still.add_row(Text(job.name), Text(job.note or job.state.value))
        if count > STILL_STOPPING_SHOWN:
            still.add_row(Text(f"and {count - STILL_STOPPING_SHOWN} more"), Text(""))
        self.query_one("#still", Static).update(still)
        if not self.offered and self.clock() >= self.offer_at:
            self.offered = True
            self.refresh_bindings()
        if self.offered:
            them = "it" if count == 1 else "them"
            if self.attached:
                after = f"the jobdeck server goes on stopping {them} and ends within {SERVER_ENDS_WITHIN_S} s"
            else:
                after = f"{'it ends' if count == 1 else 'they end'} with jobdeck, part done"
            self.query_one("#choice", Static).update(
                f"Quit now, and {after}.\n[b]a[/b] quit anyway    or wait here for {them} to stop"
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.offered if action == "quit_anyway" else True

    def action_quit_anyway(self) -> None:
        self.dismiss(True)


class ServerChoice(Enum):
    QUIT = "quit"
    START = "start"


class ServerStoppedScreen(ModalScreen[ServerChoice | None]):
    """An attached dashboard whose server has stopped (another client's `q`, `y`, `stop-server`, or the server
    ended): `q` quits, `s` starts a new server and attaches to it, escape looks at the frozen panes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "choose('start')", "start a new server"),
        Binding("q", "choose('quit')", "quit"),
        Binding("escape,n", "choose('look')", "look at the last state"),
    ]

    DEFAULT_CSS = """
    ServerStoppedScreen { align: center middle; }
    ServerStoppedScreen > Vertical {
        width: 72; height: auto; padding: 1 2;
        border: thick $error; background: $panel;
    }
    ServerStoppedScreen .question { text-style: bold; }
    ServerStoppedScreen .why { color: $text-muted; }
    ServerStoppedScreen .keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("The jobdeck server has stopped.", classes="question")
            yield Static("Its jobs are shown as they last were: nothing here runs or changes any more.")
            yield Static(f"({escape(self.reason)})", classes="why")
            yield Static(
                "[b]s[/b] start a new server and attach    [b]q[/b] quit    [b]escape[/b] look", classes="keys"
            )

    def action_choose(self, choice: str) -> None:
        self.dismiss(None if choice == "look" else ServerChoice(choice))


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 72; height: auto; max-height: 100%; padding: 1 2;
        border: thick $primary; background: $panel;
    }
    HelpScreen .title { text-style: bold; margin-bottom: 1; }
    HelpScreen .keys { color: $text-muted; margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        lines = "\n".join(f"[b]{keys:<30}[/b] {what}" for keys, what in KEY_HELP)
        with Vertical():
            yield Static("jobdeck keys", classes="title")
            yield Static(lines, markup=True)
            yield Static("escape closes", classes="keys")
