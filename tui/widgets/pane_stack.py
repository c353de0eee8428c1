"""The three panes, one above the other, sharing the rows between them by what they have to show.

An empty pane shrinks to its one "none" line; a pane with a few jobs takes the rows they need; the rest go to
the panes that have more jobs than fit, in equal shares. Rows no pane needs go to the panes that have jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.containers import Vertical
from textual.css.scalar import Scalar

from tui.widgets.job_list import JobList

BORDER_ROWS = 2
EMPTY_HEIGHT = BORDER_ROWS + 1
"""An empty pane: its borders around the "none" line."""
SMALLEST_HEIGHT = BORDER_ROWS + 2
"""A pane with jobs shows at least its header and one row."""


def share_rows(available: int, job_counts: Sequence[int]) -> list[int]:
    """The height of each pane, given how many jobs each shows, so that they fill `available` rows (unless
    even the smallest heights do not fit, when each pane gets its smallest)."""
    wanted = [BORDER_ROWS + 1 + count if count else EMPTY_HEIGHT for count in job_counts]
    heights = [SMALLEST_HEIGHT if count else EMPTY_HEIGHT for count in job_counts]
    left = available - sum(heights)
    # Fill the panes that want more one row a turn: a pane stops once it shows all of its jobs. When a turn
    # has fewer rows than takers, the lower panes (Finished, which only grows) get them.
    while left > 0:
        hungry = [index for index, height in enumerate(heights) if height < wanted[index]]
        if not hungry:
            break
        for index in hungry[-left:]:
            heights[index] += 1
        left -= min(left, len(hungry))
    takers = [index for index, count in enumerate(job_counts) if count] or list(range(len(heights)))
    for turn in range(max(left, 0)):
        heights[takers[-1 - turn % len(takers)]] += 1
    return heights


class PaneStack(Vertical):
    """The panes' container: call `share` when their row counts may have changed; it also shares on resize."""

    def share(self) -> None:
        panes = list(self.query_children(JobList))
        available = self.content_region.height
        if not panes or available <= 0:
            return
        heights = share_rows(available, [len(pane.jobs) for pane in panes])
        for pane, height in zip(panes, heights, strict=True):
            if pane.styles.height != Scalar.from_number(height):
                pane.styles.height = height

    def on_resize(self) -> None:
        self.share()
