"""Small modal dialogs of the dashboard: the quit question, a yes/no question, the jobs still stopping on the
way out, the server that has stopped, and the key help."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Static

from runner.engine.interface import ObservedJob
from runner.errors import DeckAlreadyLoaded
from tui.farewell import SERVER_ENDS_WITHIN_S

KEY_HELP: tuple[tuple[str, str], ...] = (
    ("tab / shift+tab", "next / previous pane"),
    ("↑ ↓  j k  home end  pgup pgdn", "move the selection"),
    ("enter", "job detail"),
    ("p", "pause or resume the selected job"),
    ("P", "pause or resume dispatching for everything"),
    ("c", "cancel the selected job (asks first once it has run a few seconds)"),
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


HELP_CHROME_ROWS = 6
"""The help's rows outside its scrolling keys: border (2), title (1), the margins around the keys (2), key line (1)."""
HELP_MIN_ROWS = 3


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


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question before something that cannot be undone: `y` answers True, `n` or escape False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto; padding: 1 2;
        border: thick $warning; background: $panel;
    }
    ConfirmScreen .question { text-style: bold; }
    ConfirmScreen .keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, question: str, detail: str, *, yes: str, no: str) -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="question", markup=False)
            yield Static(self.detail, markup=False)
            yield Static(f"[b]y[/b] {escape(self.yes)}    [b]n[/b] {escape(self.no)}", classes="keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


def load_again_question(path: Path, repeat: DeckAlreadyLoaded) -> ConfirmScreen:
    """Asks before loading a job file whose earlier load is still at work: a second load runs every job again."""
    if repeat.deck is not None and repeat.unfinished:
        jobs = f"{repeat.unfinished} unfinished job{'' if repeat.unfinished == 1 else 's'}"
        question = f"{path.name} is loaded already, as deck {repeat.deck!r} with {jobs}."
    else:
        question = f"{path.name} is loaded already and not finished."
    return ConfirmScreen(
        question,
        "Load it a second time? Every job in it runs again, beside the first copy.",
        yes="load it again",
        no="don't load it",
    )


class HelpScreen(ModalScreen[None]):
    """Every key, one per row; a description too long for its row wraps under itself, not under the key. The
    rows scroll (j k, arrows, pgup pgdn, home end) when the terminal is too short for all of them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "close"),
        Binding("j,down", "scroll('down')", "scroll down", show=False),
        Binding("k,up", "scroll('up')", "scroll up", show=False),
        Binding("pagedown,space", "scroll('page_down')", "page down", show=False),
        Binding("pageup", "scroll('page_up')", "page up", show=False),
        Binding("home,g", "scroll('home')", "top", show=False),
        Binding("end,G", "scroll('end')", "bottom", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 80; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
        border: thick $primary; background: $panel;
    }
    HelpScreen .title { text-style: bold; padding: 0 1; }
    HelpScreen VerticalScroll { height: auto; scrollbar-gutter: stable; padding: 0 1; margin: 1 0; background: $panel; }
    HelpScreen .row { height: auto; }
    HelpScreen .key { width: 31; text-style: bold; }
    HelpScreen .what { width: 1fr; }
    HelpScreen .keys { color: $text-muted; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("jobdeck keys", classes="title")
            with VerticalScroll(can_focus=False):
                for keys, what in KEY_HELP:
                    with Horizontal(classes="row"):
                        yield Static(keys, classes="key", markup=False)
                        yield Static(what, classes="what", markup=False)
            yield Static("j k ↑ ↓ pgup pgdn scroll   escape closes", classes="keys")

    def on_resize(self, event: Resize) -> None:
        # The rows take what the screen leaves beside the border, title and key line (CSS has no "100% - 6").
        self.query_one(VerticalScroll).styles.max_height = max(HELP_MIN_ROWS, event.size.height - HELP_CHROME_ROWS)

    def action_scroll(self, where: str) -> None:
        rows = self.query_one(VerticalScroll)
        moves = {
            "down": rows.scroll_down,
            "up": rows.scroll_up,
            "page_down": rows.scroll_page_down,
            "page_up": rows.scroll_page_up,
            "home": rows.scroll_home,
            "end": rows.scroll_end,
        }
        moves[where](animate=False)
