"""A pane of jobs: a Line-API view that renders only the rows on screen and caches them per job revision.

The cursor sits on the pane's first row until the user moves it, and goes back there with `home`: the newest
finished job, or the first running one, is what `enter` and `p` act on. Once moved, the cursor stays on its job
while the job stays in the pane (rows may come and go above it), and keeps its place when the job leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from runner.engine.interface import ObservedJob
from runner.model import JobState, Kind
from tui.formatting import (
    STATE_GLYPHS,
    format_attempt,
    format_progress,
    format_seconds,
    one_line,
    progress_bar,
    result_preview,
    row_seconds,
    shorten,
    shorten_middle,
)

KIND_WIDTH = 6
STATE_WIDTH = 11
ATTEMPT_WIDTH = 4
TIME_WIDTH = 8
PROGRESS_WIDTH = 24
BAR_WIDTH = 8
MIN_STATUS_WIDTH = 8
"""A status text shown beside a progress bar gets at least this many cells, or is left out."""
MIN_NAME_WIDTH = 12
MAX_NAME_WIDTH = 36
MIN_DECK_WIDTH = 5
"""A deck name in front of a job's name is cut (in its middle) to no less than this."""


STATE_COMPONENTS = {state: f"job-list--{state.value}" for state in JobState}


class JobList(ScrollView, can_focus=True):
    """The rows of one pane. The app hands it its jobs; it keeps a cursor and renders what is visible."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "up", show=False),
        Binding("down,j", "cursor_down", "down", show=False),
        Binding("home", "cursor_home", "first", show=False),
        Binding("end", "cursor_end", "last", show=False),
        Binding("pageup", "page_up", "page up", show=False),
        Binding("pagedown", "page_down", "page down", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "job-list--cursor",
        "job-list--header",
        "job-list--queued",
        "job-list--running",
        "job-list--paused",
        "job-list--retrying",
        "job-list--succeeded",
        "job-list--failed",
        "job-list--cancelled",
        "job-list--skipped",
        "job-list--dim",
    }

    DEFAULT_CSS = """
    JobList {
        background: $surface;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    JobList > .job-list--cursor { background: $block-cursor-blurred-background; }
    JobList:focus > .job-list--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    JobList:focus:nocolor > .job-list--cursor { text-style: bold reverse; }
    JobList > .job-list--header { color: $text-muted; text-style: bold; }
    JobList > .job-list--queued { color: $text-muted; }
    JobList > .job-list--running { color: $accent; }
    JobList > .job-list--paused { color: $warning; }
    JobList > .job-list--retrying { color: $warning; }
    JobList > .job-list--succeeded { color: $success; }
    JobList > .job-list--failed { color: $error; text-style: bold; }
    JobList > .job-list--cancelled { color: $secondary; }
    JobList > .job-list--skipped { color: $text-muted; }
    JobList > .job-list--dim { color: $text-muted; }
    """

    class CursorMoved(Message):
        """The selected job of a pane changed (or the pane's rows did)."""

        def __init__(self, job_list: JobList, job: ObservedJob | None) -> None:
            super().__init__()
            self.job_list = job_list
            self.job = job

        @property
        def control(self) -> JobList:
            return self.job_list

    def __init__(
        self,
        *,
        id: str | None = None,
        clock: Callable[[], float] = time.time,
        belongs: Callable[[ObservedJob], bool] | None = None,
    ) -> None:
        """`belongs`: whether a job's current state puts it in this pane (see `_moved_on`)."""
        super().__init__(id=id)
        self.clock = clock
        self.belongs = belongs
        self.jobs: list[ObservedJob] = []
        self.cursor = 0
        self.on_first_row = True
        """The cursor stays on the first row, whichever job comes there (until the user moves it)."""
        self._show_decks = False
        self._cache: dict[str, tuple[tuple[object, ...], Strip]] = {}
        self._styles: dict[object, Style] = {}
        """The rows' resolved styles: the widget's own style is worked out from its ancestors at each ask,
        a fifth of the time a row took. Emptied, with the rows, when the stylesheet or theme changes."""
        self._selected_id: str | None = None

    # --- data ------------------------------------------------------------------------------------------

    @property
    def selected(self) -> ObservedJob | None:
        if 0 <= self.cursor < len(self.jobs):
            return self.jobs[self.cursor]
        return None

    @property
    def show_decks(self) -> bool:
        """Each row names its deck in front of the job's name (when more than one deck is loaded)."""
        return self._show_decks

    @show_decks.setter
    def show_decks(self, show: bool) -> None:
        if show != self._show_decks:
            self._show_decks = show
            self.refresh()

    def set_jobs(self, jobs: list[ObservedJob], locate: Callable[[str], int | None] | None = None) -> None:
        """Replace the rows (the list is the pane model's own; it is not copied). The cursor stays on the first
        row, or on its job, or (its job gone) in its place. `locate` finds a job's row faster than a scan."""
        self.jobs = jobs
        if self.on_first_row:
            self.cursor = 0
        elif self._selected_id is not None:
            index = locate(self._selected_id) if locate else _scan(jobs, self._selected_id)
            if index is not None:
                self.cursor = index
        self.cursor = max(0, min(self.cursor, len(jobs) - 1))
        self._set_row_count(len(jobs))
        self._remember_selection()
        self._scroll_to_row(self.cursor)
        self.refresh()

    def _set_row_count(self, rows: int) -> None:
        """Size the scrollable area for `rows` rows and the header. Setting `virtual_size` would lay out the
        whole screen again and redraw every widget, at each pull that moves jobs between panes: that took
        half the dashboard's time in a run of tiny jobs. Only the scrollbars need to know, as Textual itself
        does it when it sizes a widget without a layout; unless a scrollbar comes or goes, which changes
        the rows' width."""
        size = Size(0, rows + 1)
        if size == self.virtual_size:
            return
        scrollbars = self.scrollbars_enabled
        self.set_reactive(JobList.virtual_size, size)
        self._scroll_update(size)
        if self.scrollbars_enabled != scrollbars:
            self.refresh(layout=True)

    def refresh_changed(self, changed_ids: set[str]) -> None:
        """Re-render only the visible rows whose jobs changed (and rows showing a running clock)."""
        top = self.scroll_offset.y
        for y in range(1, self.size.height):
            index = top + y - 1
            if 0 <= index < len(self.jobs):
                job = self.jobs[index]
                if job.id in changed_ids or job.state in (JobState.RUNNING, JobState.PAUSED, JobState.RETRYING):
                    self.refresh_line(top + y)

    def _remember_selection(self) -> None:
        selected = self.selected
        new_id = selected.id if selected else None
        if new_id != self._selected_id:
            self._selected_id = new_id
            self.post_message(self.CursorMoved(self, selected))

    # --- cursor ----------------------------------------------------------------------------------------

    def _move_cursor(self, index: int, *, to_first_row: bool = False) -> None:
        self.on_first_row = to_first_row
        if not self.jobs:
            return
        index = max(0, min(index, len(self.jobs) - 1))
        old = self.cursor
        self.cursor = index
        self._remember_selection()
        self.refresh_line(old + 1)
        self.refresh_line(index + 1)
        self._scroll_to_row(index)

    def _scroll_to_row(self, index: int) -> None:
        """Scroll the least that shows row `index` below the header line."""
        top = self.scroll_offset.y
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + rows_shown:
            self.scroll_to(y=index - rows_shown + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self._move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self.cursor + 1)

    def action_cursor_home(self) -> None:
        self._move_cursor(0, to_first_row=True)

    def action_cursor_end(self) -> None:
        self._move_cursor(len(self.jobs) - 1)

    def action_page_up(self) -> None:
        self._move_cursor(self.cursor - max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self._move_cursor(self.cursor + max(1, self.size.height - 2))

    def on_focus(self) -> None:
        self.refresh()
        self.post_message(self.CursorMoved(self, self.selected))

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self._scroll_to_row(self.cursor)

    # --- rendering -------------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    def _style(self, component: str | None = None) -> Style:
        """The widget's own style, or a component's (e.g. "job-list--dim"), resolved once per stylesheet."""
        style = self._styles.get(component)
        if style is None:
            style = self._styles[component] = (
                self.rich_style if component is None else self.get_component_rich_style(component)
            )
        return style

    def render_line(self, y: int) -> Strip:
        # The header stays on the first line; rows scroll beneath it.
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header_strip(width) if self.jobs else self._none_strip(width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.jobs):
            return Strip.blank(width, self._style())
        job = self.jobs[index]
        selected = index == self.cursor
        now = self.clock()
        clock = int(row_seconds(job, now) * 2) if job.state in (JobState.RUNNING, JobState.RETRYING) else 0
        key = (job.revision, width, selected, self.has_focus, self._show_decks, clock)
        cached = self._cache.get(job.id)
        if cached is not None and (cached[0] == key or (cached[0][1:5] == key[1:5] and self._moved_on(job))):
            return cached[1]
        strip = self._row_strip(job, width, selected, now)
        if len(self._cache) > 4 * max(100, self.size.height):
            self._cache.clear()
        self._cache[job.id] = (key, strip)
        return strip

    def _moved_on(self, job: ObservedJob) -> bool:
        """Whether the job has left this pane since the pull that put it here. It then keeps the row it was
        drawn with until the next pull moves it: a queued job that started since shows as queued, not as a
        running job in the Queued pane (a busy dashboard pulls only a few times a second)."""
        return self.belongs is not None and not self.belongs(job)

    def _columns(self, width: int) -> tuple[int, bool]:
        """The name column's width, and whether the progress column fits; wide panes give the rest to progress."""
        fixed = 2 + KIND_WIDTH + STATE_WIDTH + ATTEMPT_WIDTH + TIME_WIDTH
        show_progress = width - fixed - PROGRESS_WIDTH >= MIN_NAME_WIDTH
        name_width = width - fixed - (PROGRESS_WIDTH if show_progress else 0)
        if show_progress:
            name_width = min(name_width, MAX_NAME_WIDTH)
        return max(MIN_NAME_WIDTH, name_width), show_progress

    def _header_strip(self, width: int) -> Strip:
        name_width, show_progress = self._columns(width)
        text = (
            "  "
            + "name".ljust(name_width)
            + "kind".ljust(KIND_WIDTH)
            + "state".ljust(STATE_WIDTH)
            + "try".ljust(ATTEMPT_WIDTH)
            + "time".rjust(TIME_WIDTH - 1)
            + " "
        )
        if show_progress:
            text += " progress / outcome"
        style = self.rich_style + self.get_component_rich_style("job-list--header")
        return Strip([Segment(text[:width].ljust(width), style)], width)

    def _none_strip(self, width: int) -> Strip:
        """An empty pane's one line."""
        style = self.rich_style + self.get_component_rich_style("job-list--dim")
        return Strip([Segment("  none".ljust(width), style)], width)

    def _row_strip(self, job: ObservedJob, width: int, selected: bool, now: float) -> Strip:
        name_width, show_progress = self._columns(width)
        base = self._style()
        state_style = self._style(STATE_COMPONENTS[job.state])
        dim = self._style("job-list--dim")
        glyph = STATE_GLYPHS[job.state]
        segments = [
            Segment(f"{glyph} ", state_style),
            *self._name_segments(job, name_width, dim),
            Segment(job.kind.value.ljust(KIND_WIDTH), dim),
            Segment(job.state.value.ljust(STATE_WIDTH), state_style),
            Segment(format_attempt(job).ljust(ATTEMPT_WIDTH), dim),
            Segment(format_seconds(row_seconds(job, now)).rjust(TIME_WIDTH - 1) + " ", Style()),
        ]
        if show_progress:
            room = width - sum(segment.cell_length for segment in segments) - 1
            segments.extend(self._outcome_segments(job, room, state_style, dim))
        # The cursor's colours go over the row's own (Strip.apply_style would put them underneath, unseen).
        cursor = self._cursor_style() if selected else None  # one row a pane: not worth keeping
        line = Strip(Segment.apply_style(segments, base, cursor), None)
        return line.adjust_cell_length(width, base + cursor if cursor else base).crop(0, width)

    def _cursor_style(self) -> Style:
        """The selected row's style, drawn over the row's own: what the stylesheet sets for the cursor (a
        background; with focus also a colour and bold), its colours resolved (blended with what lies beneath,
        `auto` made to contrast). What it does not set, the row keeps (its state colours, without focus)."""
        resolved = self.get_component_rich_style("job-list--cursor")
        own = self.get_component_rich_style("job-list--cursor", partial=True)
        colours = Style(
            color=resolved.color if own.color is not None else None,
            bgcolor=resolved.bgcolor if own.bgcolor is not None else None,
        )
        return own + colours

    def _name_segments(self, job: ObservedJob, width: int, dim: Style) -> list[Segment]:
        """The name column: the job's name, after its deck's (cut in its middle) when rows name their decks."""
        room = width - 1
        if not self._show_decks:
            return [Segment(shorten(job.name, room).ljust(width))]
        deck_width = max(MIN_DECK_WIDTH, room - 1 - len(job.name))
        deck = shorten_middle(job.deck, deck_width) + "/"
        name = shorten(job.name, room - len(deck))
        return [Segment(deck, dim), Segment(name.ljust(width - len(deck)))]

    def _outcome_segments(self, job: ObservedJob, room: int, state_style: Style, dim: Style) -> list[Segment]:
        """The progress / outcome column: a bar and amounts while running, what came of it once finished."""
        if job.state.finished or job.state is JobState.RETRYING:
            style = state_style if job.state is JobState.FAILED else dim
            return [Segment(" " + shorten(one_line(finished_outcome(job)), room), style)]
        if job.note:
            return [Segment(" " + shorten(one_line(job.note), room), self.get_component_rich_style("job-list--paused"))]
        attempt = job.current_attempt
        worker = attempt.worker if attempt is not None else None
        where = [Segment(f" on {worker.removeprefix('tcp://')}", dim)] if worker else []
        status = job.status
        if job.progress is None:
            said = status or job.last_output
            if said and not where:
                return [Segment(" " + shorten(one_line(said), room), dim)]
            return where
        fraction = job.progress.fraction
        bar = progress_bar(fraction, BAR_WIDTH) if fraction is not None else ""
        segments = [Segment(" " + bar, state_style), Segment(" " + format_progress(job.progress), dim), *where]
        left = room - sum(segment.cell_length for segment in segments) - 3
        if status and left >= MIN_STATUS_WIDTH:
            segments.append(Segment(" · " + shorten(one_line(status), left), dim))
        return segments


def finished_outcome(job: ObservedJob) -> str:
    """What a finished (or retrying) row says of how it went: why it failed or stopped, what a download got,
    what a call returned, what a shell job said last."""
    if job.state is JobState.SUCCEEDED:
        if job.kind is Kind.FETCH and isinstance(job.result, dict) and job.result.get("unchanged"):
            return "unchanged (304)"  # if_changed: the saved file was left as it was
        expanded = job.result.get("expanded") if isinstance(job.result, dict) and "items" in job.result else None
        if isinstance(expanded, int):  # a fan-out from a result, grown into its members
            return f"grew into {expanded} job{'s' if expanded != 1 else ''}"
        status = shell_status(job)
        if status:
            return status
        if job.progress and job.progress.unit == "bytes":
            return format_progress(job.progress)
        if job.kind is Kind.CALL and job.result is not None:
            return result_preview(job.result)
        return job.last_output or ""
    reason = job.error or job.note or ""
    if job.state is JobState.FAILED and job.kind is Kind.SHELL and job.last_output:
        return f"{reason} · {job.last_output}" if reason else job.last_output
    return reason


def _scan(jobs: list[ObservedJob], job_id: str) -> int | None:
    return next((index for index, job in enumerate(jobs) if job.id == job_id), None)


def shell_status(job: ObservedJob) -> str | None:
    """The last JOBDECK_STATUS text of a shell job: live, or kept in its result (a job from the journal)."""
    if job.kind is not Kind.SHELL:
        return None
    if job.status:
        return job.status
    result = job.result
    return result.get("status") if isinstance(result, dict) else None
