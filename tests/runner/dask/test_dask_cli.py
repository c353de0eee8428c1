"""`jobdeck run` with Dask: against `dask scheduler` and `dask worker` started as real processes (and the
scheduler going away), with `dask = "local"`, which cluster the option, the variable and the deck name,
and Dask never loaded for decks that do not use it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import JOBDECK, RUN_TIMEOUT_S, jobdeck, wait_for, wait_state, wait_until

WriteDeck = Callable[..., Path]

DASK = Path(sys.executable).with_name("dask")
UNREACHABLE = "tcp://127.0.0.1:9"  # the discard port: nothing listens there


def reports(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    (deck,) = [json.loads(line) for line in result.stdout.splitlines()]
    return {job["name"]: job for job in deck["jobs"]}


@pytest.fixture(autouse=True)
def no_dask_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JOBDECK_DASK of the environment the tests run in would override the clusters they name."""
    monkeypatch.delenv("JOBDECK_DASK", raising=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_cluster() -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A `dask scheduler` and a one-thread `dask worker`, each a real process group on 127.0.0.1."""
    distributed = pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{free_port()}"
    commands = [
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
    ]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            processes.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            )
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=30)
    except BaseException:
        stop_all(processes)
        raise
    return address, processes


@pytest.fixture(scope="module")
def scheduler_address() -> Iterator[str]:
    address, processes = start_cluster()
    try:
        yield address
    finally:
        stop_all(processes)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's own group (the worker's nanny has a child), SIGKILL if it lingers."""
    for signal_number, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


DECK = """
[deck]
dask = "{deck_cluster}"

[[job]]
name = "sum"
call = "tasks:add"
args = [2, 3]
on = "dask"

[[job]]
name = "boom"
call = "tasks:fail"
args = ["no luck"]
on = "dask"
"""


def test_run_sends_jobs_to_the_cluster_the_option_or_the_variable_names(
    write_deck: WriteDeck, scheduler_address: str
) -> None:
    deck = write_deck(DECK.format(deck_cluster=UNREACHABLE))
    # --dask wins over JOBDECK_DASK and over the deck's dask.
    result = jobdeck("run", "--json", "--dask", scheduler_address, deck, env=os.environ | {"JOBDECK_DASK": UNREACHABLE})
    assert result.returncode == 1, result.stderr  # boom fails
    jobs = reports(result)
    assert (jobs["sum"]["state"], jobs["sum"]["result"]) == ("succeeded", 5)
    assert (jobs["boom"]["state"], jobs["boom"]["error"]) == ("failed", "ValueError: no luck")
    # JOBDECK_DASK wins over the deck's dask.
    result = jobdeck("run", "--json", deck, env=os.environ | {"JOBDECK_DASK": scheduler_address.removeprefix("tcp://")})
    assert reports(result)["sum"]["result"] == 5, result.stderr


@pytest.mark.anyio
async def test_losing_the_scheduler_fails_the_attempt_as_retryable(write_deck: WriteDeck) -> None:
    address, processes = start_cluster()
    try:
        async with Engine(environ={}) as engine:
            await engine.load(
                write_deck(f"""
                    [deck]
                    dask = "{address}"

                    [[job]]
                    name = "long"
                    call = "tasks:sleep_for"
                    args = [30]
                    on = "dask"
                    retries = 1
                    backoff = 60
                """)
            )
            job = engine.job("long")
            await wait_for(lambda: job.current_attempt is not None and job.current_attempt.worker is not None)
            stop_group(processes[0])  # the scheduler
            await wait_state(engine, "long", JobState.RETRYING, timeout=30)
            await engine.cancel(job)
            with anyio.fail_after(30):
                await engine.wait_until_settled()
    finally:
        stop_all(processes)
    assert job.attempts[0].error == f"lost the connection to the Dask scheduler at {address}"


def test_a_bad_dask_address_is_a_usage_error(write_deck: WriteDeck) -> None:
    deck = write_deck(DECK.format(deck_cluster="local"))
    result = jobdeck("run", "--dask", "http://scheduler:8786", deck)
    assert result.returncode == 2
    assert "http:// is not a scheduler protocol jobdeck can use" in result.stderr
    assert "Traceback" not in result.stderr


def session_processes(session: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def test_a_local_cluster_lives_as_long_as_the_run_and_leaves_no_process(write_deck: WriteDeck) -> None:
    pytest.importorskip("distributed")
    deck = write_deck(
        DECK.format(deck_cluster="local").replace("[deck]", "[deck]\nprocess_limit = 1").replace("no luck", "ok")
    )
    with subprocess.Popen(
        [*JOBDECK, "run", "--json", str(deck)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    jobs = {job["name"]: job for job in json.loads(stdout)["jobs"]}
    assert jobs["sum"]["result"] == 5, stderr
    wait_until(lambda: not session_processes(process.pid), timeout=5, what="the local cluster's processes gone")


@pytest.mark.parametrize("command", ["run", "check"])
def test_decks_without_dask_jobs_never_import_dask(write_deck: WriteDeck, command: str) -> None:
    deck = write_deck("""
        [[job]]
        name = "on-a-process"
        call = "tasks:add"
        args = [1, 2]

        [[job]]
        name = "on-a-thread"
        call = "tasks:add"
        args = [1, 2]
        on = "thread"
    """)
    program = (
        "import sys, runner.cli.main\n"
        f"code = runner.cli.main.main([{command!r}, {str(deck)!r}])\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, f'imported {loaded}'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
