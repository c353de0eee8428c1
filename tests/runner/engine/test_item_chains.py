"""Per-item chains and fan-outs from results in the real engine, with real shell processes and calls: a member
starts as soon as its own upstream member has succeeded, says whom it waits for, is skipped when that one fails;
a fan-out from a result is one waiting job until that result is there, then grows into its members."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.engine.events import JobsAdded
from runner.model import JobState
from tests.helpers import WAIT_TIMEOUT_S, wait_for, wait_state

pytestmark = pytest.mark.anyio

GATED = "while [ ! -e {gate} ]; do sleep 0.02; done"
"""A shell job that runs until the test creates its gate file."""


async def settled(engine: Engine) -> None:
    with anyio.fail_after(WAIT_TIMEOUT_S):
        await engine.wait_until_settled()


@asynccontextmanager
async def opened_at_the_end(gate: Path) -> AsyncIterator[None]:
    """However the test ends, the thread that waits for the gate can end: a thread stops only when it returns."""
    try:
        yield
    finally:
        if not gate.exists():
            gate.write_text("[]")


def write(folder: Path, text: str) -> Path:
    path = folder / "chain.toml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


PER_ITEM = f"""
[deck]
name = "chain"

[[job]]
name = "get"
shell = "if [ {{item}} = 2 ]; then {GATED.format(gate="release")}; [ -e fail ] && exit 1; fi; echo got {{item}}"
each = [1, 2]

[[job]]
name = "count"
shell = "echo counted {{item}}"
each = [1, 2]
after = ["get[{{item}}]"]

[[job]]
name = "total"
shell = "echo total"
after = ["count"]
"""


async def test_a_member_starts_when_its_own_upstream_member_succeeds_and_says_whom_it_waits_for(
    tmp_path: Path,
) -> None:
    async with Engine() as engine:
        await engine.load(write(tmp_path, PER_ITEM))
        await wait_state(engine, "chain/count[1]", JobState.SUCCEEDED)
        assert engine.job("chain/get[2]").state is JobState.RUNNING  # count[1] did not wait for all of get
        waiting = engine.job("chain/count[2]")
        assert (waiting.state, waiting.note) == (JobState.QUEUED, "waiting for get[2]")
        (tmp_path / "release").touch()
        await wait_state(engine, "chain/total", JobState.SUCCEEDED)
        assert engine.job("chain/count[2]").last_output == "counted 2"


async def test_a_member_whose_upstream_member_fails_is_skipped_and_the_others_run(tmp_path: Path) -> None:
    (tmp_path / "fail").touch()
    (tmp_path / "release").touch()
    async with Engine() as engine:
        await engine.load(write(tmp_path, PER_ITEM))
        await settled(engine)
        states = {job.name: (job.state, job.error) for job in engine.jobs.values()}
        assert states["count[1]"] == (JobState.SUCCEEDED, None)
        assert states["count[2]"] == (JobState.SKIPPED, "not run: get[2] failed")
        assert states["total"] == (JobState.SKIPPED, "not run: count[2] skipped")


FROM_RESULT = """
[deck]
name = "pages"

[[job]]
name = "list_pages"
call = "listing:list_pages"
args = ["{gate}"]
on = "thread"

[[job]]
name = "get"
shell = "echo {{item.url}} > {{item.name}}.txt; echo got {{item.name}}"
each = {{ result_of = "list_pages" }}

[[job]]
name = "count"
shell = "wc -c < {{item.name}}.txt"
each = {{ result_of = "list_pages" }}
after = ["get[{{item.name}}]"]

[[job]]
name = "publish"
shell = "cat *.txt | wc -l"
after = ["get", "count"]
"""

LISTING = """
import os
import time


def list_pages(gate):
    while not os.path.exists(gate):
        time.sleep(0.02)
    with open(gate) as handle:
        return eval(handle.read())
"""


async def test_a_fan_out_from_a_call_s_result_waits_as_one_row_then_grows_into_its_members(tmp_path: Path) -> None:
    (tmp_path / "listing.py").write_text(LISTING)
    gate = tmp_path / "pages.py"
    async with Engine() as engine, opened_at_the_end(gate):
        await engine.load(write(tmp_path, FROM_RESULT.format(gate=gate)))
        events = engine.subscribe()
        stand_in = engine.job("pages/get")
        await wait_for(lambda: engine.job("pages/list_pages").state is JobState.RUNNING)
        assert (stand_in.state, stand_in.note) == (JobState.QUEUED, "waiting for list_pages' result")
        assert engine.job("pages/publish").state is JobState.QUEUED
        gate.write_text('[{"name": "home", "url": "/"}, {"name": "about", "url": "/about"}]')
        await wait_state(engine, "pages/publish", JobState.SUCCEEDED)
        assert [job.name for job in engine.jobs.values()] == [
            "list_pages",
            "get",
            "count",
            "publish",
            "get[home]",
            "get[about]",
            "count[home]",
            "count[about]",
        ]
        assert engine.job("pages/get").result == {
            "expanded": 2,
            "items": [{"name": "home", "url": "/"}, {"name": "about", "url": "/about"}],
        }
        assert engine.job("pages/count[about]").spec.after == ("get[about]",)
        assert engine.job("pages/publish").spec.after == ("get[home]", "get[about]", "count[home]", "count[about]")
        assert engine.job("pages/publish").last_output == "2"  # after every member, not after the stand-ins
        assert (tmp_path / "about.txt").read_text() == "/about\n"
        added = []
        while True:
            try:
                event = events.receive_nowait()
            except Exception:
                break
            if isinstance(event, JobsAdded):
                added.append(event.job_ids)
        assert added == [("pages/get[home]", "pages/get[about]"), ("pages/count[home]", "pages/count[about]")]


async def test_a_fan_out_from_a_shell_job_s_json_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[job]]
        name = "list"
        shell = "echo '\\"a\\"'; echo; echo '{\\"name\\": \\"b\\"}'; echo 3"

        [[job]]
        name = "show"
        shell = "echo item {item}"
        each = { result_of = "list" }
        """,
    )
    async with Engine() as engine:
        await engine.load(path)
        await settled(engine)
        shown = {job.name: job.last_output for job in engine.jobs.values() if job.spec.group == "show"}
        assert shown == {"show[a]": "item a", "show[b]": "item b", "show[3]": "item 3"}


BAD_RESULTS = {
    "unclosed": ("echo '[1, 2'", "unclosed's output is not a JSON list: Expecting"),
    "words": ("echo not json", "line 1 of words' output is not JSON: 'not json'"),
    "silent": ("true", "silent printed nothing: it should print a JSON list, or JSON values one a line"),
    "fieldless": (
        "echo '[{\\\"name\\\": 1}]'",
        "item 1 of fieldless' result: {item.url}: the item {'name': 1} has no field 'url'",
    ),
}
"""Shell jobs whose output gives no members, and the message the fan-out from it fails with."""


async def test_a_result_that_gives_no_members_fails_the_fan_out_and_skips_what_waits_for_it(tmp_path: Path) -> None:
    text = "".join(
        f'[[job]]\nname = "{name}"\nshell = "{command}"\n\n'
        f'[[job]]\nname = "get-{name}"\nshell = "echo {{item.url}}"\neach = {{ result_of = "{name}" }}\n\n'
        f'[[job]]\nname = "publish-{name}"\nshell = "true"\nafter = ["get-{name}"]\n\n'
        for name, (command, _) in BAD_RESULTS.items()
    )
    async with Engine() as engine:
        deck = await engine.load(write(tmp_path, text))
        await settled(engine)
        for name, (_, error) in BAD_RESULTS.items():
            get, publish = engine.job(f"{deck.name}/get-{name}"), engine.job(f"{deck.name}/publish-{name}")
            assert get.state is JobState.FAILED and get.error is not None and get.error.startswith(error), get.error
            assert (publish.state, publish.error) == (JobState.SKIPPED, f"not run: get-{name} failed")


async def test_a_call_result_that_is_not_a_list_fails_the_fan_out_with_what_it_was(tmp_path: Path) -> None:
    (tmp_path / "listing.py").write_text(LISTING)
    gate = tmp_path / "pages.py"
    gate.write_text('{"pages": 2}')
    async with Engine() as engine:
        await engine.load(write(tmp_path, FROM_RESULT.format(gate=gate)))
        await settled(engine)
        assert engine.job("pages/get").error == (
            'list_pages\' result is not a list but dict {"pages": 2}: each = { result_of } needs a list'
        )
        assert engine.job("pages/count").error == "not run: get failed"


async def test_a_member_whose_upstream_member_is_cancelled_is_skipped(tmp_path: Path) -> None:
    async with Engine() as engine:
        await engine.load(write(tmp_path, PER_ITEM))
        await wait_state(engine, "chain/count[1]", JobState.SUCCEEDED)
        await engine.cancel("chain/get[2]")
        skipped = await wait_state(engine, "chain/count[2]", JobState.SKIPPED)
        assert skipped.error == "not run: get[2] cancelled"


async def test_a_paused_fan_out_from_a_result_grows_only_once_resumed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[job]]
        name = "list"
        shell = "while [ ! -e listed ]; do sleep 0.02; done; echo '[1, 2]'"

        [[job]]
        name = "show"
        shell = "echo {item}"
        each = { result_of = "list" }
        """,
    )
    async with Engine() as engine:
        deck = await engine.load(path)
        await engine.pause(f"{deck.name}/show")
        (tmp_path / "listed").touch()
        await wait_state(engine, f"{deck.name}/list", JobState.SUCCEEDED)
        assert engine.job(f"{deck.name}/show").state is JobState.PAUSED
        assert len(engine.jobs) == 2, "held back: not expanded"
        await engine.resume(f"{deck.name}/show")
        await settled(engine)
        assert [(job.name, job.state) for job in engine.jobs.values()][1:] == [
            ("show", JobState.SUCCEEDED),
            ("show[1]", JobState.SUCCEEDED),
            ("show[2]", JobState.SUCCEEDED),
        ]
