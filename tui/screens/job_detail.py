"""The detail of one job: what it is, how its attempts went, why it failed or what it returned, and its output.

`JobDetailScreen` is pushed over the dashboard when a job is opened. It reads a job that someone else keeps
current (the engine mutates it in place; a client may swap in fresh snapshots through `screen.job`), and its
spec lines from the engine (`EngineInterface.spec_lines`), and redraws from a 4 Hz timer only when the job's
revision moved. Commands (pause, resume, cancel, retry) are not
carried out here: the screen posts `JobDetailScreen.CommandRequested` and the app acts on it.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from itertools import islice
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.pretty import pretty_repr
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.geometry import Size
from textual.highlight import ANSIDarkHighlightTheme, ANSILightHighlightTheme, HighlightTheme, highlight
from textual.message import Message
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Input, Label, Static

from runner.engine.interface import ObservedJob, SpecLines
from runner.engine.retries import current_round, cut_short
from runner.joblogs.layout import LogPlace
from runner.joblogs.reader import JobIndex
from runner.model import OUTPUT_TAIL_LINES, Attempt, JobState, Kind, OutputLine
from tui.formatting import STATE_GLYPHS, format_clock, format_duration, format_progress_long

Command = Literal["pause", "resume", "cancel", "retry"]

REFRESH_INTERVAL_S = 0.25
RESULT_MAX_LINES = 40
RESULT_MAX_ITEMS = 30
RESULT_MAX_STRING = 300
RESULT_MAX_DEPTH = 5

STREAM_MARKS = {"stderr": "!", "log": "»"}
"""Gutter marks of output lines; stdout lines have none."""
WINDOW_ROWS = 256
"""Rows of a log file read at once (and kept, a few windows' worth) while the view scrolls over it."""
NO_LINE = OutputLine("stdout", "")


# --- formatting ------------------------------------------------------------------------------------------------


def foreground_only(style: Style) -> Style:
    """The colour and text style of `style` without its background, to lay over another background."""
    return Style(
        color=style.color,
        bold=style.bold,
        dim=style.dim,
        italic=style.italic,
        underline=style.underline,
        reverse=style.reverse,
        strike=style.strike,
    )


def attempt_count(job: ObservedJob) -> str:
    """Where the job stands among the attempts its retries allow: `2 of 3`. When that is not its attempt's number,
    the number follows, with the attempts a stopped or crashed jobdeck cut short (they do not count):
    `1 of 2 (#2, 1 interrupted)`; `1 of 3 (#4)` after a retry by hand."""
    attempts = job.attempts
    round_ = current_round(attempts, job.spec.retries)
    text = f"{round_.position} of {round_.allowed}"
    if len(attempts) == round_.position:
        return text
    interrupted = f", {round_.interrupted} interrupted" if round_.interrupted else ""
    return f"{text} (#{len(attempts)}{interrupted})"


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_output_text(text: str) -> str:
    """One output line made safe to draw: terminal escapes dropped, tabs expanded, other controls shown as `�`."""
    text = _ANSI_ESCAPE.sub("", text)
    if "\r" in text:
        text = text.rstrip("\r").rsplit("\r", 1)[-1]
    return _CONTROL.sub("�", text.expandtabs(8))


# --- the output tail -------------------------------------------------------------------------------------------


class OutputView(ScrollView, can_focus=True):
    """A job's output, following the tail unless scrolled up, with incremental search.

    It shows either the job's whole log, read from its files (`read_files`, then `scan` whenever it may have grown:
    runner.joblogs.reader.JobIndex reads only what was added, on a worker thread, and the view reads only the rows
    on screen, a window at a time, so a log of any size scrolls as quickly as a short one), or, for a job whose
    engine keeps no files, the tail the job holds in memory: feed it with `sync(job.output)` whenever the job
    changed (lines that were added are appended, lines the bounded deque let go of are dropped, and it starts over
    only when it cannot tell what changed). A search highlights every match (searching a log's files on a worker
    thread); `next_match` moves the current one, and `set_filter(True)` shows only the matching lines.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "output-view--stderr",
        "output-view--log",
        "output-view--match",
        "output-view--current-match",
        "output-view--current-line",
        "output-view--empty",
    }
    GUTTER = 3
    """Cells before each line: the current-match mark, the stream mark, a space."""

    @dataclass
    class Changed(Message):
        """The line count, the following state or the search matches changed."""

        output_view: OutputView

        @property
        def control(self) -> OutputView:
            return self.output_view

    def __init__(self, *, empty_text: str = "no output", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.empty_text = empty_text
        self.following = True
        """Whether new lines scroll into view: true until the user scrolls up, again once back at the end."""
        self._lines: list[OutputLine] = []
        self._texts: list[str] = []
        self._serial_base = 0
        """Serial number of `_lines[0]`: line serials survive lines being dropped from the front."""
        self._width = 0
        self._pattern: re.Pattern[str] | None = None
        self._query = ""
        self._matches: list[int] = []
        self._current: int | None = None
        """Index in `_lines` of the current match."""
        self._filter = False
        self._rows: list[int] | None = None
        """Indexes in `_lines` of the rows shown when filtering; None shows every line."""
        self._anchor = 0
        self._strips: LRUCache[tuple[int, bool], Strip] = LRUCache(1024)
        self._index: JobIndex | None = None
        """The job's log files, when it shows them (else the `_lines` given by `sync`)."""
        self._index_rows = 0
        self._window: LRUCache[int, tuple[OutputLine, str]] = LRUCache(4 * WINDOW_ROWS)
        """Rows of the files read lately, with their text made safe to draw."""
        self._scanning = False
        self._searches = 0
        """Searches of the files under way for the current query."""
        self._search_serial = 0
        """Moves with each new query: a search for an older one is ignored."""

    # --- what it shows ---

    @property
    def lines(self) -> Sequence[OutputLine]:
        """The lines held in memory (none while it reads the files)."""
        return self._lines

    @property
    def reading_files(self) -> bool:
        return self._index is not None

    @property
    def line_count(self) -> int:
        return self._index_rows if self._index is not None else len(self._lines)

    @property
    def row_count(self) -> int:
        return len(self._rows) if self._rows is not None else self.line_count

    @property
    def has_stderr(self) -> bool:
        if self._index is not None:
            return self._index.has_stderr
        return any(line.stream == "stderr" for line in self._lines)

    @property
    def searching(self) -> bool:
        """A search of the files is under way."""
        return self._searches > 0

    @property
    def visible_texts(self) -> list[str]:
        """The texts of the rows currently on screen (after scrolling and filtering)."""
        top = round(self.scroll_y)
        rows = range(top, min(self.row_count, top + max(self.scrollable_content_region.height, 0)))
        return [self._text(self._line_at_row(row)) for row in rows]

    def _line(self, index: int) -> OutputLine:
        return self._row(index)[0] if self._index is not None else self._lines[index]

    def _text(self, index: int) -> str:
        return self._row(index)[1] if self._index is not None else self._texts[index]

    def _row(self, index: int) -> tuple[OutputLine, str]:
        """A row of the files, read with the window around it when not at hand."""
        found = self._window.get(index)
        if found is not None or self._index is None:
            return found or (NO_LINE, "")
        first = max(0, index - WINDOW_ROWS // 4)
        for offset, line in enumerate(self._index.rows(first, first + WINDOW_ROWS)):
            self._window[first + offset] = (line, clean_output_text(line.text))
        return self._window.get(index) or (NO_LINE, "")

    # --- reading the job's files ---

    def read_files(self, index: JobIndex) -> None:
        """Show the log files this index reads (from now on, instead of lines given by `sync`)."""
        self._index = index
        self._lines, self._texts = [], []
        self._rebuild([])
        self._index_rows = 0

    def scan(self, attempts: int) -> None:
        """Read what the job's first `attempts` attempts added to its files, on a worker thread (unless a scan
        is under way: the next call reads what this one missed)."""
        index = self._index
        if index is None or self._scanning:
            return
        self._scanning = True

        def scan() -> None:
            change = index.refresh(attempts)
            self.app.call_from_thread(self._scanned, index, change, len(index))

        self.run_worker(scan, thread=True, group="scan", exit_on_error=False)

    def _scanned(self, index: JobIndex, change: str | None, count: int) -> None:
        self._scanning = False
        if index is not self._index or change is None:
            return
        known = self._index_rows
        self._index_rows = count
        if change == "rebuilt":  # rows went (a segment the cap removed): read them all again
            self._serial_base += known + 1
            self._window.clear()
            self._strips.clear()
            self._matches, self._current = [], None
            if self._rows is not None:
                self._rows = []
            known = 0
        if self._pattern is not None and count > known:
            self._search_files(self._pattern, known, count)
        self._update_virtual_size()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()
        self._changed()

    def _search_files(self, pattern: re.Pattern[str], start: int, stop: int) -> None:
        """Find the rows from `start` to `stop` that match `pattern`, on a worker thread; they are shown once
        found (unless the query changed meanwhile)."""
        index = self._index
        assert index is not None
        serial = self._search_serial
        self._searches += 1

        query = self._query

        def search() -> None:
            found = index.search(query, lambda text: pattern.search(clean_output_text(text)) is not None, start, stop)
            self.app.call_from_thread(self._searched, serial, found)

        self.run_worker(search, thread=True, group="search", exit_on_error=False)

    def _searched(self, serial: int, found: list[int]) -> None:
        if serial != self._search_serial:
            return  # for a query since replaced
        self._searches -= 1
        first = not self._matches and self._current is None
        self._matches = sorted({*self._matches, *found})
        if self._filter and self._pattern is not None:
            self._rows = list(self._matches)
            self._update_virtual_size()
        if first:
            self._pick_current()
            self._reveal_current()
        self._strips.clear()
        self.refresh()
        self._changed()

    @property
    def query(self) -> str:
        return self._query

    @property
    def match_count(self) -> int:
        return len(self._matches)

    @property
    def current_match(self) -> int | None:
        """1-based position of the current match among all matches, or None."""
        if self._current is None:
            return None
        return bisect_left(self._matches, self._current) + 1

    @property
    def current_line(self) -> OutputLine | None:
        return self._line(self._current) if self._current is not None else None

    @property
    def filtering(self) -> bool:
        return self._filter

    def sync(self, source: Sequence[OutputLine]) -> None:
        """Catch up with `source` (a job's output deque): append new lines, drop the ones it let go of."""
        if self._index is not None:
            return  # it shows the files
        known = len(self._lines)
        total = len(source)
        if known == 0 and total == 0:
            return
        if known and total:
            last = self._lines[-1]
            position = None
            for offset, line in enumerate(reversed(source)):
                if line is last:
                    position = total - 1 - offset
                    break
            if position is not None and position < known:
                dropped = known - (position + 1)
                added = list(islice(source, position + 1, None))
                if dropped:
                    self._drop(dropped)
                if added:
                    self._append(added)
                if dropped or added:
                    self._changed()
                return
        self._rebuild(list(source))
        self._changed()

    def _line_at_row(self, row: int) -> int:
        return self._rows[row] if self._rows is not None else row

    def _row_of_line(self, index: int) -> int:
        return bisect_left(self._rows, index) if self._rows is not None else index

    def _is_match(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def _add_lines(self, lines: list[OutputLine]) -> None:
        start = len(self._lines)
        texts = [clean_output_text(line.text) for line in lines]
        self._lines.extend(lines)
        self._texts.extend(texts)
        if texts:
            self._width = max(self._width, max(cell_len(text) for text in texts))
        if self._pattern is not None:
            found = [start + offset for offset, text in enumerate(texts) if self._is_match(text)]
            self._matches.extend(found)
            if self._rows is not None:
                self._rows.extend(found)

    def _append(self, lines: list[OutputLine]) -> None:
        self._add_lines(lines)
        self._update_virtual_size()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.refresh()

    def _drop(self, count: int) -> None:
        rows_before = self.row_count
        del self._lines[:count]
        del self._texts[:count]
        self._serial_base += count
        self._matches = [index - count for index in self._matches if index >= count]
        if self._rows is not None:
            self._rows = [index - count for index in self._rows if index >= count]
        if self._current is not None:
            self._current = self._current - count if self._current >= count else None
        self._anchor = max(0, self._anchor - count)
        removed_rows = rows_before - self.row_count
        self._update_virtual_size()
        if not self.following and removed_rows:
            self.scroll_to(y=max(0, self.scroll_y - removed_rows), animate=False)
        self.refresh()

    def _rebuild(self, lines: list[OutputLine]) -> None:
        self._serial_base += len(self._lines) + 1
        self._lines, self._texts, self._matches, self._width = [], [], [], 0
        self._rows = [] if self._filter and self._pattern is not None else None
        self._current = None
        self._strips.clear()
        self._add_lines(lines)
        self._update_virtual_size()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._width + self.GUTTER, self.row_count)

    def _changed(self) -> None:
        self.post_message(self.Changed(self))

    def on_unmount(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # --- following the tail ---

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        following = not self.size or round(new_value) >= self.max_scroll_y
        if following != self.following:
            self.following = following
            self._changed()

    def on_resize(self, event: Resize) -> None:
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def follow(self) -> None:
        """Jump to the last line and keep following new ones."""
        self.following = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._changed()

    # --- search ---

    def begin_search(self) -> None:
        """Remember where a new search starts from: the top line on screen, or the end when following."""
        top = round(self.scroll_y)
        self._anchor = self.line_count if self.following else self._line_at_row(min(top, max(self.row_count - 1, 0)))

    def set_query(self, query: str) -> None:
        """Highlight the lines containing `query` (case-insensitive) and make the nearest match current (once
        found, when the files are searched)."""
        if query == self._query:
            return
        self._query = query
        self._pattern = re.compile(re.escape(query), re.IGNORECASE) if query else None
        self._search_serial += 1
        self._searches = 0
        self._current = None
        if self._index is not None:
            self._matches = []
            if self._pattern is not None and self._index_rows:
                self._search_files(self._pattern, 0, self._index_rows)
        else:
            self._matches = [index for index, text in enumerate(self._texts) if self._is_match(text)]
            self._pick_current()
        self._apply_filter()
        self._strips.clear()
        self._reveal_current()
        self.refresh()
        self._changed()

    def _pick_current(self) -> None:
        """The match nearest after where the search began (the latest, searching from the tail)."""
        if not self._matches:
            return
        after = bisect_left(self._matches, self._anchor)
        if self._anchor >= self.line_count:
            self._current = self._matches[-1]
        else:
            self._current = self._matches[after] if after < len(self._matches) else self._matches[0]

    def next_match(self, forward: bool = True) -> bool:
        """Make the next (or previous) match current, wrapping around; False when nothing matches."""
        if not self._matches:
            return False
        if self._current is None:
            self._current = self._matches[0] if forward else self._matches[-1]
        elif forward:
            after = bisect_right(self._matches, self._current)
            self._current = self._matches[after % len(self._matches)]
        else:
            before = bisect_left(self._matches, self._current) - 1
            self._current = self._matches[before]  # -1 wraps to the last
        self._reveal_current()
        self.refresh()
        self._changed()
        return True

    def set_filter(self, on: bool) -> None:
        """Show only the matching lines (while there is a query), or every line."""
        if on == self._filter:
            return
        self._filter = on
        self._apply_filter()
        self._reveal_current()
        self.refresh()
        self._changed()

    def _apply_filter(self) -> None:
        self._rows = list(self._matches) if self._filter and self._pattern is not None else None
        self._update_virtual_size()

    def _reveal_current(self) -> None:
        if self._current is None:
            return
        row = self._row_of_line(self._current)
        height = max(self.scrollable_content_region.height, 1)
        top = round(self.scroll_y)
        if not top <= row < top + height:
            self.scroll_to(y=max(0, row - height // 2), animate=False)

    # --- drawing ---

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        row = scroll_y + y
        if row >= self.row_count:
            if row == 0 and not self.line_count:
                empty = Text(" " * self.GUTTER + self.empty_text)
                empty.stylize(base)
                empty.stylize(self._foreground("output-view--empty"), self.GUTTER)
                return Strip(empty.render(self.app.console)).crop_extend(0, width, base)
            return Strip.blank(width, base)
        index = self._line_at_row(row)
        current = index == self._current
        line_style = base + self.get_component_rich_style("output-view--current-line") if current else base
        text_strip = self._text_strip(index, current, line_style)
        gutter = Text()
        if current:
            gutter.append("›", self.get_component_rich_style("output-view--current-match"))
        else:
            gutter.append(" ")
        stream = self._line(index).stream
        mark = STREAM_MARKS.get(stream, " ")
        gutter.append(mark, self._foreground(f"output-view--{stream}") if stream in STREAM_MARKS else "")
        gutter.append(" ")
        gutter.stylize_before(line_style)  # Text.render drops a base style given as `style=`
        gutter_strip = Strip(gutter.render(self.app.console), self.GUTTER)
        text_width = max(width - self.GUTTER, 0)
        return Strip.join([gutter_strip, text_strip.crop_extend(scroll_x, scroll_x + text_width, line_style)])

    def _foreground(self, component: str) -> Style:
        return foreground_only(self.get_component_rich_style(component))

    def _text_strip(self, index: int, current: bool, line_style: Style) -> Strip:
        key = (self._serial_base + index, current)
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        line_text = self._text(index)
        text = Text(line_text, no_wrap=True, end="")
        text.stylize(line_style)
        if self._line(index).stream == "log":
            text.stylize(self._foreground("output-view--log"))
        if self._pattern is not None:
            match_style = self.get_component_rich_style(
                "output-view--current-match" if current else "output-view--match"
            )
            for found in self._pattern.finditer(line_text):
                text.stylize(match_style, found.start(), found.end())
        width = cell_len(line_text)
        if width > self._width:  # rows of files are measured as they are first drawn
            self._width = width
            self.call_after_refresh(self._update_virtual_size)
        strip = Strip(text.render(self.app.console), width)
        self._strips[key] = strip
        return strip


# --- the screen ------------------------------------------------------------------------------------------------


class JobDetailScreen(Screen[None]):
    """Everything about one job, for reading at 80x24: header, note, error and traceback or result, attempts,
    spec (secrets redacted), and the live, searchable tail of its output."""

    CSS_PATH = "job_detail.tcss"
    AUTO_FOCUS = None

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back"),
        Binding("q", "back", "back", show=False),
        Binding("slash", "search", "search"),
        Binding("n", "next_match", "next"),
        Binding("N", "previous_match", "prev"),
        Binding("f", "toggle_filter", "filter"),
        Binding("p", "command('pause')", "pause"),
        Binding("p", "command('resume')", "resume"),
        Binding("c", "command('cancel')", "cancel"),
        Binding("r", "command('retry')", "retry"),
        Binding("z", "zoom", "zoom"),
        Binding("G", "follow", "follow", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"job-detail--{state.value}" for state in JobState),
        "job-detail--key",
        "job-detail--muted",
        "job-detail--error",
    }

    @dataclass
    class CommandRequested(Message):
        """The user asked for a command on the job; the app carries it out."""

        job_id: str
        command: Command

    def __init__(
        self,
        job: ObservedJob,
        *,
        spec_lines: Callable[[], SpecLines | None],
        log_place: Callable[[], LogPlace | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """`spec_lines` gives the job's spec lines (None while they are on their way); `log_place` where its log
        files are (None: the output shown is the tail the job holds); `clock` gives the wall-clock time for the
        running attempt's elapsed time; times show in `tz` (local time when None)."""
        super().__init__(name=name, id=id, classes=classes)
        self.job = job
        """The job shown. Assign a fresh snapshot of the same job here to show it."""
        self.spec_lines = spec_lines
        self.log_place = log_place
        self.clock = clock
        self.tz = tz
        self._shown_job: ObservedJob | None = None
        self._shown_revision = -1
        self._shown_state: JobState | None = None
        self._clock_text = ""
        self._section_keys: dict[str, object] = {}
        """What each costly section was last drawn from, to skip drawing it again unchanged."""

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="note")
        with Vertical(id="body"):
            with VerticalScroll(id="details"):
                yield Label("ERROR", id="problem-heading", classes="heading")
                yield Static(id="problem", classes="section")
                yield Label("RESULT", id="result-heading", classes="heading")
                yield Static(id="result", classes="section")
                yield Label("ATTEMPTS", id="attempts-heading", classes="heading")
                yield Static(id="attempts", classes="section")
                yield Label("SPEC", id="spec-heading", classes="heading")
                yield Static(id="spec", classes="section")
            with Vertical(id="output-pane"):
                yield Label("OUTPUT", id="output-heading", classes="heading")
                yield OutputView(id="output")
                with Horizontal(id="search-bar"):
                    yield Label("/", id="search-prompt")
                    yield Input(placeholder="search output", id="search", compact=True)
                    yield Label("", id="search-status")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_job(force=True)
        self.set_interval(REFRESH_INTERVAL_S, self.refresh_job)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        target = self.query_one("#output" if self.job.output else "#details")
        target.focus()

    def on_resize(self, event: Resize) -> None:
        if self.job.state in (JobState.SUCCEEDED, JobState.FAILED):
            self._show_result()

    def _theme_changed(self, theme: object) -> None:
        # The sections bake theme colours into what they render: draw them again once the new styles apply.
        self.call_after_refresh(self.refresh_job, True)

    # --- refreshing ---

    def refresh_job(self, force: bool = False) -> None:
        """Redraw what changed: everything when the job's revision moved, else only the running clock."""
        job = self.job
        if force:
            self._section_keys.clear()
        if force or job is not self._shown_job or job.revision != self._shown_revision:
            self._shown_job, self._shown_revision = job, job.revision
            self._show_all()
        elif not job.state.finished:
            self._show_title(force=False)
            if job.state in (JobState.RUNNING, JobState.PAUSED):
                self._show_attempts()
        output = self.query_one(OutputView)
        if output.reading_files:  # lines reach the files a moment after the job reported them: look every tick
            output.scan(len(job.attempts))

    def _show_all(self) -> None:
        job = self.job
        if job.state is not self._shown_state:
            self._shown_state = job.state
            for state in JobState:
                self.set_class(state is job.state, f"-{state.value}")
            self.refresh_bindings()
        self._show_title(force=True)
        self._show_note()
        self._show_problem()
        self._show_result()
        self._show_attempts()
        self._show_spec()
        self._show_output()

    def _style(self, name: str) -> Style:
        # Not the partial style: that loses the alpha of colours such as $text-muted.
        return foreground_only(self.get_component_rich_style(f"job-detail--{name}"))

    def _highlight(self, code: str, language: str) -> Content:
        """Syntax highlighting in the theme's colours, or in plain ANSI colours under an ANSI theme."""
        theme: type[HighlightTheme] = HighlightTheme
        if self.app.native_ansi_color:
            theme = ANSIDarkHighlightTheme if self.app.current_theme.dark else ANSILightHighlightTheme
        return highlight(code, language=language, theme=theme)

    def _state_text(self, state: JobState) -> Text:
        return Text(f"{STATE_GLYPHS[state]} {state.value}", style=self._style(state.value))

    def _elapsed(self, attempt: Attempt) -> float:
        """Active (unpaused) seconds of the attempt, so far if it is still under way."""
        return attempt.active_seconds(self.clock())

    def _show_title(self, force: bool) -> None:
        job = self.job
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f" {STATE_GLYPHS[job.state]} {job.state.value.upper()} ", style=self._style(job.state.value))
        title.append(" ")
        title.append(job.name, style="bold")
        details = [job.deck, job.kind.value]
        attempt = job.current_attempt
        if attempt is not None:
            details.append(f"attempt {attempt_count(job)}")
            elapsed = format_duration(self._elapsed(attempt))
            details.append(f"{elapsed} so far" if attempt.ended_at is None else f"took {elapsed}")
            if attempt.worker:
                details.append(f"on {attempt.worker}")
        title.append("  " + " · ".join(details), style=self._style("muted"))
        renderable: RenderableType = title
        progress = format_progress_long(job.progress) if job.progress is not None else ""
        if job.status and not job.state.finished:
            progress = f"{progress}  {job.status}" if progress else job.status
        if progress and not job.state.finished:
            renderable = Group(title, Text(" " + progress, style=self._style("muted")))
        text = title.plain + progress
        if force or text != self._clock_text:
            self._clock_text = text
            self.query_one("#title", Static).update(renderable)

    def _show_note(self) -> None:
        note = self.query_one("#note", Static)
        job = self.job
        if not job.note:
            note.display = False
            return
        glyph = "↻" if job.state is JobState.RETRYING else "⚠"
        note.update(Content.assemble((f"{glyph} note: ", "bold"), job.note))
        note.display = True

    def _section_changed(self, section: str, key: object) -> bool:
        if self._section_keys.get(section, self) == key:
            return False
        self._section_keys[section] = key
        return True

    def _show_problem(self) -> None:
        job = self.job
        problem = self.query_one("#problem", Static)
        heading = self.query_one("#problem-heading", Label)
        shown = bool(job.error or job.traceback) and job.state.finished
        problem.display = heading.display = shown
        if not shown or not self._section_changed("problem", (job.state, job.error, job.traceback)):
            return
        heading.update("TRACEBACK" if job.traceback else "ERROR" if job.state is JobState.FAILED else "REASON")
        parts: list[Content] = []
        if job.error:
            parts.append(Content.assemble((f"{STATE_GLYPHS[job.state]} ", "bold"), (job.error, "bold")))
            if job.state is JobState.FAILED:
                parts[-1] = parts[-1].stylize("$text-error")
        if job.traceback:
            parts.append(self._highlight(job.traceback.rstrip("\n"), "pytb"))
        problem.update(Content("\n").join(parts))

    def _show_result(self) -> None:
        job = self.job
        result = self.query_one("#result", Static)
        heading = self.query_one("#result-heading", Label)
        # A succeeded call's value (None too), and what a shell job's command ended with, succeeded or failed.
        shown = (job.state is JobState.SUCCEEDED and job.kind is Kind.CALL) or (
            job.result is not None and job.state in (JobState.SUCCEEDED, JobState.FAILED)
        )
        result.display = heading.display = shown
        if not shown:
            return
        width = max(self.query_one("#details").scrollable_content_region.width - 2, 40)
        if not self._section_changed("result", (id(job), job.revision, width)):  # the job is held: ids stay unique
            return
        text = pretty_repr(
            job.result,
            max_width=width,
            max_length=RESULT_MAX_ITEMS,
            max_string=RESULT_MAX_STRING,
            max_depth=RESULT_MAX_DEPTH,
        )
        lines = text.splitlines()
        more = len(lines) - RESULT_MAX_LINES
        if more > 0:
            text = "\n".join(lines[:RESULT_MAX_LINES])
        content = self._highlight(text, "python")
        if more > 0:
            content = Content("\n").join([content, Content.styled(f"… {more} more lines", "$text-muted")])
        heading.update(f"RESULT  {job.result_type}")
        result.update(content)

    def _show_attempts(self) -> None:
        job = self.job
        heading = self.query_one("#attempts-heading", Label)
        heading.update(f"ATTEMPTS  {attempt_count(job)}")
        if not job.attempts:
            none = "none" if job.state.finished else "none yet"
            self.query_one("#attempts", Static).update(Text(none, style=self._style("muted")))
            return
        table = Table(box=None, expand=False, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))
        header_style = self._style("key")
        table.add_column("#", justify="right", header_style=header_style, no_wrap=True)
        table.add_column("started", header_style=header_style, no_wrap=True)
        table.add_column("took", justify="right", header_style=header_style, no_wrap=True)
        table.add_column("outcome", header_style=header_style, no_wrap=True)
        placed = any(attempt.worker for attempt in job.attempts)
        if placed:
            table.add_column("worker", header_style=header_style, no_wrap=True)
        table.add_column("error", header_style=header_style, overflow="fold", ratio=1)
        for attempt in job.attempts:
            if attempt.outcome is not None:
                outcome = self._state_text(attempt.outcome)
            elif cut_short(attempt):
                outcome = Text("↯ interrupted", style=self._style("muted"))
            elif attempt is job.current_attempt and not job.state.finished:
                outcome = self._state_text(job.state)
            else:
                outcome = Text("—", style=self._style("muted"))
            took = format_duration(self._elapsed(attempt)) + ("…" if attempt.ended_at is None else "")
            where = [Text(attempt.worker or "—", style=self._style("muted"))] if placed else []
            table.add_row(
                str(attempt.number),
                format_clock(attempt.started_at, self.tz),
                took,
                outcome,
                *where,
                Text(attempt.error or "", style=self._style("error")),
            )
        self.query_one("#attempts", Static).update(table)

    def _show_spec(self) -> None:
        lines = self.spec_lines()
        if not self._section_changed("spec", None if lines is None else tuple(lines)):
            return
        if lines is None:
            self.query_one("#spec", Static).update(Text("loading…", style=self._style("muted")))
            return
        table = Table.grid(padding=(0, 2, 0, 0))
        table.add_column(style=self._style("key"), no_wrap=True)
        table.add_column(overflow="fold", ratio=1)
        for key, value in lines:
            table.add_row(key, value)
        self.query_one("#spec", Static).update(table)

    def _show_output(self) -> None:
        output = self.query_one(OutputView)
        output.empty_text = "no output" if self.job.state.finished else "no output yet"
        if not output.reading_files:
            place = self.log_place()
            if place is not None:
                output.read_files(JobIndex(place))
        if output.reading_files:
            output.scan(len(self.job.attempts))
            self._show_output_heading()
            return
        try:
            lines = list(self.job.output)
        except RuntimeError:  # appended to from another thread while copied: catch up at the next change
            return
        output.sync(lines)
        self.set_class(not output.line_count, "-quiet")
        if not output.line_count:
            output.refresh()
        self._show_output_heading()

    def _show_output_heading(self) -> None:
        output = self.query_one(OutputView)
        count = output.line_count
        self.set_class(not count, "-quiet")
        parts = []
        if count:
            whole = output.reading_files or count < OUTPUT_TAIL_LINES
            parts.append(f"{count:,} line{'s' * (count != 1)}" if whole else f"last {count} lines")
            if output.has_stderr:
                parts.append("! stderr")
            parts.append("following" if output.following else "scrolled up · G follows")
        self.query_one("#output-heading", Label).update("  ".join(["OUTPUT", " · ".join(parts)]).rstrip())
        status = self.query_one("#search-status", Label)
        if not output.query:
            status.update("")
        elif not output.match_count:
            status.update("searching…" if output.searching else "no match")
        else:
            status.update(
                f"{output.current_match or 0}/{output.match_count}"
                + (" · only matches" if output.filtering else "")
                + " · n/N"
            )

    def on_output_view_changed(self, event: OutputView.Changed) -> None:
        self._show_output_heading()

    # --- search ---

    @property
    def searching(self) -> bool:
        return self.has_class("-searching")

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        if not self.searching:
            self.query_one(OutputView).begin_search()
            self.add_class("-searching")
        search.focus()
        self.refresh_bindings()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            event.stop()
            self.query_one(OutputView).set_query(event.value)
            self.refresh_bindings()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            event.stop()
            self.query_one(OutputView).focus()

    def close_search(self) -> None:
        output = self.query_one(OutputView)
        self.remove_class("-searching")
        self.query_one("#search", Input).value = ""
        output.set_filter(False)
        output.set_query("")
        output.focus()
        self.refresh_bindings()

    def action_next_match(self) -> None:
        self.query_one(OutputView).next_match(forward=True)

    def action_previous_match(self) -> None:
        self.query_one(OutputView).next_match(forward=False)

    def action_toggle_filter(self) -> None:
        output = self.query_one(OutputView)
        output.set_filter(not output.filtering)

    def action_follow(self) -> None:
        self.query_one(OutputView).follow()

    # --- the rest ---

    def action_back(self) -> None:
        if self.searching:
            self.close_search()
        else:
            self.dismiss()

    def action_zoom(self) -> None:
        self.toggle_class("-zoom")
        if self.has_class("-zoom"):
            self.query_one(OutputView).focus()

    def action_command(self, command: Command) -> None:
        self.post_message(self.CommandRequested(self.job.id, command))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.job.state
        if action == "command":
            # Only the commands that apply to the job's state are offered, which keeps the footer short.
            command = parameters[0] if parameters else None
            if command == "pause":
                return state in (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING)
            if command == "resume":
                return state is JobState.PAUSED
            if command == "cancel":
                return not state.finished
            if command == "retry":
                return state.finished
        if action in ("next_match", "previous_match", "toggle_filter"):
            return self.searching and bool(self.query_one(OutputView).query)
        return True
