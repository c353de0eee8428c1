"""A job kind is made and started when a deck first has a job of it: a deck of call jobs never imports httpx,
and a kind started from another task (a client's request in the server) is left cleanly at the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import wait_state

pytestmark = pytest.mark.anyio

CALL_ONLY = """
import sys
import anyio
from runner.engine.engine import Engine

async def main():
    async with Engine() as engine:
        await engine.load(sys.argv[1])
        await engine.wait_until_settled()
        assert all(job.state.value == "succeeded" for job in engine.jobs.values())
    print(sorted(name for name in ("httpx", "runner.kinds.fetch") if name in sys.modules))

anyio.run(main)
"""


def test_a_deck_of_call_jobs_never_imports_the_fetch_kind_or_httpx(tmp_path: Path) -> None:
    (tmp_path / "lazy_tasks.py").write_text("def echo(value):\n    return value\n")
    deck = tmp_path / "calls.toml"
    deck.write_text(
        '[deck]\nname = "calls"\n\n[[job]]\nname = "a"\ncall = "lazy_tasks:echo"\non = "thread"\nargs = [1]\n'
    )
    result = subprocess.run(
        [sys.executable, "-c", CALL_ONLY, str(deck)], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


async def test_kinds_started_from_other_tasks_run_their_jobs_and_are_left_at_the_end(tmp_path: Path) -> None:
    shell_deck = tmp_path / "shell.toml"
    shell_deck.write_text('[deck]\nname = "sh"\n\n[[job]]\nname = "a"\nshell = "true"\n')
    (tmp_path / "lazy_tasks2.py").write_text("def echo(value):\n    return value\n")
    call_deck = tmp_path / "call.toml"
    call_deck.write_text('[deck]\nname = "c"\n\n[[job]]\nname = "a"\ncall = "lazy_tasks2:echo"\nargs = [2]\n')
    async with Engine() as engine:
        assert engine.kind_status() == []  # nothing started before a deck needs it
        async with anyio.create_task_group() as task_group:  # as a server's clients do, each in a task
            task_group.start_soon(engine.load, shell_deck)
            task_group.start_soon(engine.load, call_deck)
        await wait_state(engine, "sh/a", JobState.SUCCEEDED)
        await wait_state(engine, "c/a", JobState.SUCCEEDED)
