"""A job's `env` and `cwd` reach its real process: a shell command, a call on a (reused) worker process, a call
on a thread; `${VAR}` values are filled in from the deck's environment when the job starts, and masked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState

pytestmark = pytest.mark.anyio

PLACES = """
import os

def where(name):
    return [os.getcwd(), os.environ.get(name)]
"""


async def test_env_and_cwd_reach_shell_and_call_jobs(write_deck: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "places.py").write_text(PLACES)
    deck = write_deck("""
        [deck]
        process_limit = 1
        env = { STAGE = "deck" }

        [[job]]
        name = "shell"
        shell = "echo $STAGE ${TOKEN_COPY} $COUNT; pwd"
        env = { TOKEN_COPY = "${API_TOKEN}", COUNT = 3 }
        cwd = "sub"

        [[job]]
        name = "process"
        call = "places:where"
        args = ["STAGE"]
        env = { STAGE = "job" }
        cwd = "sub"

        [[job]]
        name = "same-worker-later"
        call = "places:where"
        args = ["STAGE_ONLY_FOR_ONE"]
        after = ["process"]

        [[job]]
        name = "thread"
        call = "places:where"
        args = ["STAGE"]
        on = "thread"
        cwd = "sub"
    """)
    (tmp_path / "deck.toml").write_text(
        deck.read_text().replace('env = { STAGE = "job" }', 'env = { STAGE = "job", STAGE_ONLY_FOR_ONE = "x" }')
    )
    environ = {"API_TOKEN": "s3cret-token", "PATH": "/usr/bin:/bin"}
    async with Engine(environ=environ) as engine:
        await engine.load(deck, environ=environ)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    jobs = {job.name: job for job in engine.jobs.values()}
    assert {name: job.state for name, job in jobs.items()} == dict.fromkeys(jobs, JobState.SUCCEEDED)
    sub = str(tmp_path / "sub")
    assert [line.text for line in jobs["shell"].output] == ["deck *** 3", sub], "the token is filled in, and masked"
    assert jobs["process"].result == [sub, "job"]
    assert jobs["same-worker-later"].result == [str(tmp_path), None], "the worker's environment is put back"
    assert jobs["thread"].result == [sub, None]
