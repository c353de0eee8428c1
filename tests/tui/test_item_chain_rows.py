"""Per-item chains in the panes: a fan-out from a result is one waiting row until the result is there, then its
members appear (the stand-in's row says how many), and a member that waits for its own upstream member says
which one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import until
from tests.tui.test_job_list import dashboard, rows, write
from tui.panes import Pane

pytestmark = pytest.mark.anyio

CHAIN = """
[deck]
name = "chain"

[[job]]
name = "list"
shell = "while [ ! -e listed ]; do sleep 0.02; done; echo '\\"a\\"'; echo '\\"b\\"'"

[[job]]
name = "get"
shell = "[ {item} = a ] || while [ ! -e release ]; do sleep 0.02; done; echo got {item}"
each = { result_of = "list" }

[[job]]
name = "count"
shell = "echo counted {item}"
each = { result_of = "list" }
after = ["get[{item}]"]
"""


def row_of(lines: list[str], name: str) -> str:
    found = [line for line in lines if f" {name} " in line]
    return " ".join(found[0].split()) if found else ""


async def test_the_panes_show_a_fan_out_waiting_for_a_result_growing_and_members_waiting_for_theirs(
    tmp_path: Path,
) -> None:
    async with dashboard(write(tmp_path / "chain.toml", CHAIN), jobs=3) as (app, pilot):
        queued, finished = app.job_list(Pane.QUEUED), app.job_list(Pane.FINISHED)
        await until(pilot, lambda: "waiting for list's result" in row_of(rows(queued), "get"), what="get waiting")
        (tmp_path / "listed").touch()
        await until(pilot, lambda: "waiting for get[b]" in row_of(rows(queued), "count[b]"), what="count[b] waits")
        await until(pilot, lambda: "counted a" in row_of(rows(finished), "count[a]"), what="count[a] done")
        assert row_of(rows(finished), "get") == "✓ get shell succeeded - grew into 2 jobs"
        (tmp_path / "release").touch()
        await until(pilot, lambda: "counted b" in row_of(rows(finished), "count[b]"), what="count[b] done")
