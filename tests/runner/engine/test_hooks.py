"""Hooks on the real engine: real /bin/sh processes, their variables, stdin, folder, output, timeout."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.engine.hooks import HookCall, HookRun, run_hook
from runner.model import JobState
from tests.helpers import JOBDECK, file_size, process_alive, wait_for, wait_until

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]


async def settle(engine: Engine) -> None:
    with anyio.fail_after(30):
        await engine.wait_until_settled()


async def test_deck_hooks_get_the_summary_in_variables_and_on_stdin(write_deck: WriteDeck, tmp_path: Path) -> None:
    async with Engine(environ={"PATH": "/usr/bin:/bin", "TOKEN": "s3cret-value"}) as engine:
        await engine.load(
            write_deck("""
                [deck]
                name = "nightly"
                on_success = "touch success-ran"
                on_failure = "env | grep ^JOBDECK_ | sort > failure.env; echo token ${TOKEN}; exit 3"
                on_finish = "cat > finish.json"

                [[job]]
                name = "get"
                shell = "true"

                [[job]]
                name = "bad"
                shell = "exit 1"
                on_failure = "echo $JOBDECK_JOB $JOBDECK_ATTEMPT $JOBDECK_EXIT_CODE $JOBDECK_ERROR > bad.failed"
                retries = 1
                backoff = 0
            """)
        )
        await settle(engine)  # hooks are waited for too
    assert engine.job("bad").state is JobState.FAILED  # the failing hook changes nothing
    assert not (tmp_path / "success-ran").exists()
    variables = dict(line.split("=", 1) for line in (tmp_path / "failure.env").read_text().splitlines())
    assert variables["JOBDECK_DECK"] == "nightly"
    assert variables["JOBDECK_DECK_FILE"] == str(tmp_path / "deck.toml")
    assert variables["JOBDECK_OUTCOME"] == "failed"
    assert (variables["JOBDECK_JOBS"], variables["JOBDECK_SUCCEEDED"], variables["JOBDECK_FAILED"]) == ("2", "1", "1")
    summary = json.loads((tmp_path / "finish.json").read_text())
    assert summary["hook"] == "on_finish"
    assert summary["counts"] == {"succeeded": 1, "failed": 1, "cancelled": 0, "skipped": 0}
    assert summary["unsuccessful"] == ["bad"]
    assert summary["duration_s"] >= 0
    assert (tmp_path / "bad.failed").read_text() == "bad 2 1 exited with status 1\n"
    runs = {run.hook: run for run in engine.hook_runs["nightly"]}
    assert runs["on_failure"].outcome == "exited with status 3" and not runs["on_failure"].ok
    assert runs["on_failure"].output == ["token ***"]  # a ${VAR} a hook uses is masked as a job's is
    assert runs["on_finish"].ok and runs["bad on_failure"].ok


async def test_on_success_runs_each_time_the_deck_finishes(write_deck: WriteDeck, tmp_path: Path) -> None:
    async with Engine() as engine:
        await engine.load(
            write_deck("""
                [deck]
                on_success = "echo ran >> success.log"

                [[job]]
                name = "one"
                shell = "true"
            """)
        )
        await settle(engine)
        await engine.retry("one")
        await settle(engine)
    assert (tmp_path / "success.log").read_text() == "ran\nran\n"


async def test_a_hook_past_its_timeout_is_ended_with_what_it_started(tmp_path: Path) -> None:
    record = HookRun("deck", "on_finish", "sleepy", 0.0)
    call = HookCall("sleep 60 & echo $! > pid; wait", tmp_path, {"PATH": "/usr/bin:/bin"}, None, {}, {})
    with anyio.fail_after(20):
        await run_hook(call, record, mask=str, grace_period=1, timeout=0.5)
    assert record.outcome == "timed out after 0.5 s" and not record.ok
    sleeper = int((tmp_path / "pid").read_text())
    await wait_for(lambda: not process_alive(sleeper), what="the hook's sleep ends")


async def test_a_hook_that_cannot_start_is_reported(tmp_path: Path) -> None:
    record = HookRun("deck", "on_finish", "true", 0.0)
    call = HookCall("true", tmp_path / "gone", {}, None, {}, {})
    await run_hook(call, record, mask=str, grace_period=1)
    assert record.outcome.startswith("could not start: ") and not record.ok


@pytest.mark.parametrize("stopping", [False, True])
async def test_a_deck_cancelled_because_jobdeck_stops_is_not_told_as_finished(
    write_deck: WriteDeck, tmp_path: Path, stopping: bool
) -> None:
    async with Engine(grace_period=1) as engine:
        await engine.load(
            write_deck('[deck]\non_finish = "touch told"\n\n[[job]]\nname = "long"\nshell = "sleep 30"\n')
        )
        await wait_for(lambda: engine.job("long").state is JobState.RUNNING)
        await (engine.stop_jobs() if stopping else engine.cancel_all())
        await settle(engine)
    assert engine.job("long").state is JobState.CANCELLED
    assert (tmp_path / "told").exists() is not stopping


def test_a_hook_does_not_outlive_a_killed_jobdeck(tmp_path: Path) -> None:
    """kill -9 of `jobdeck run` while its deck's hook runs: the shell jobs' guardian ends the hook's group."""
    deck = tmp_path / "deck.toml"
    # The hook reads its stdin first: jobdeck writes it once the guardian knows the hook's group.
    hook = "read facts; sleep 60 & echo $! > pid; wait"
    deck.write_text(f'[deck]\non_finish = "{hook}"\n\n[[job]]\nname = "one"\nshell = "true"\n')
    env = os.environ | {"JOBDECK_DB": str(tmp_path / "journal.db")}
    with subprocess.Popen([*JOBDECK, "run", deck], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL) as run:
        try:
            wait_until(lambda: file_size(tmp_path / "pid") > 0, what="the hook's sleep started")
        finally:
            run.kill()
    sleeper = int((tmp_path / "pid").read_text())
    wait_until(lambda: not process_alive(sleeper), what="the hook's sleep ended by the guardian")
