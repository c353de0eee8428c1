"""Call jobs on a Dask cluster: one real LocalCluster (2 worker processes on 127.0.0.1) for the whole module.

The cluster's scheduler gives up on a task after one worker death (allowed_failures=0), as jobdeck's own
local cluster does, so that a killed worker shows as a failed attempt.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

distributed = pytest.importorskip("distributed")

from distributed import LocalCluster  # noqa: E402

from runner.engine.engine import Engine, default_kinds  # noqa: E402
from runner.kinds.call import CallKind  # noqa: E402
from runner.kinds.dask import CANCEL_NOTE, NO_CLUSTER, PAUSE_NOTE  # noqa: E402
from runner.model import Job, JobState, Kind  # noqa: E402
from tests.helpers import wait_for, wait_state  # noqa: E402

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]

TASKS = '''"""Functions the Dask tests run on the workers (written beside each test's job file)."""

import os
import time
from pathlib import Path

from runner import job_context


def add(a, b):
    return a + b


def fail(message):
    raise ValueError(message)


def flaky(counter, failures):
    path = Path(counter)
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    if count <= failures:
        raise RuntimeError(f"attempt {count} fails")
    return count


def until_cancelled(folder):
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    (folder / "started").write_text(str(os.getpid()))
    context = job_context()
    try:
        while True:
            with open(folder / "beats", "a") as beats:
                beats.write("x\\n")
            context.checkpoint()
            time.sleep(0.02)
    finally:
        (folder / "stopped").write_text("")


def die_once(folder):
    folder = Path(folder)
    if (folder / "died").exists():
        return "second try"
    (folder / "died").write_text("")
    (folder / "pid").write_text(str(os.getpid()))
    time.sleep(60)


def steps(total):
    context = job_context()
    for done in range(1, total + 1):
        context.progress(done, total)
        time.sleep(0.01)
    return total
'''


@pytest.fixture(autouse=True)
def no_dask_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JOBDECK_DASK of the environment the tests run in would override the clusters they name."""
    monkeypatch.delenv("JOBDECK_DASK", raising=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
        scheduler_kwargs={"allowed_failures": 0},
    ) as local:
        yield local


@pytest.fixture
def address(cluster: LocalCluster) -> str:
    cluster.wait_for_workers(2, timeout=30)  # a test may have killed one; its nanny starts another
    return str(cluster.scheduler_address)


@pytest.fixture
def dask_deck(write_deck: WriteDeck, tmp_path: Path) -> WriteDeck:
    """write_deck, plus the functions above as dtasks.py beside the job file."""
    (tmp_path / "dtasks.py").write_text(TASKS)
    return write_deck


def engine_for(dask_address: str | None = None, environ: dict[str, str] | None = None) -> Engine:
    kinds = default_kinds()
    kinds[Kind.CALL] = CallKind(dask_address=dask_address)
    return Engine(kinds=kinds, environ=environ or {})


async def run_to_end(path: Path, *, dask_address: str | None = None, environ: dict[str, str] | None = None) -> Engine:
    async with engine_for(dask_address, environ) as engine:
        await engine.load(path)
        with anyio.fail_after(60):
            await engine.wait_until_settled()
    return engine


def jobs(engine: Engine) -> dict[str, Job]:
    return {job.name: job for job in engine.jobs.values()}


async def test_results_come_back_with_the_worker_that_ran_each_job(
    dask_deck: WriteDeck, address: str, cluster: LocalCluster
) -> None:
    async with engine_for() as engine:
        await engine.load(
            dask_deck(f"""
                [deck]
                dask = "{address}"

                [[job]]
                name = "sum"
                call = "dtasks:add"
                args = [2, 3]
                on = "dask"

                [[job]]
                name = "words"
                call = "dtasks:add"
                args = ["a", "b"]
                on = "dask"
            """)
        )
        with anyio.fail_after(60):
            await engine.wait_until_settled()
        status = engine.kind_status()
    by_name = jobs(engine)
    assert {name: (job.state, job.result) for name, job in by_name.items()} == {
        "sum": (JobState.SUCCEEDED, 5),
        "words": (JobState.SUCCEEDED, "ab"),
    }
    worker_addresses = set(cluster.scheduler_info["workers"])
    for job in by_name.values():
        assert job.attempts[0].worker in worker_addresses
        assert job.attempts[0].to_dict()["worker"] == job.attempts[0].worker
    assert status == [f"dask {address} · 2 workers · 2 threads"]


async def test_an_exception_fails_the_job_with_the_remote_traceback(dask_deck: WriteDeck, address: str) -> None:
    engine = await run_to_end(
        dask_deck(f"""
            [[job]]
            name = "boom"
            call = "dtasks:fail"
            args = ["it broke"]
            on = "dask://{address.removeprefix("tcp://")}"
        """)
    )
    job = engine.job("boom")
    assert job.state is JobState.FAILED
    assert job.error == "ValueError: it broke"
    assert job.traceback is not None
    assert "dtasks.py" in job.traceback and "raise ValueError(message)" in job.traceback
    assert "run_call" not in job.traceback  # the trace starts at the job's own function


async def test_a_failing_job_is_retried_by_jobdeck_as_new_tasks(
    dask_deck: WriteDeck, address: str, tmp_path: Path
) -> None:
    counter = tmp_path / "counter"
    engine = await run_to_end(
        dask_deck(f"""
            [deck]
            dask = "{address}"

            [[job]]
            name = "flaky"
            call = "dtasks:flaky"
            args = ["{counter}", 2]
            on = "dask"
            retries = 2
            backoff = 0
        """)
    )
    job = engine.job("flaky")
    assert job.state is JobState.SUCCEEDED
    assert job.result == 3  # a cached result of the first task would have been an error
    assert [attempt.outcome for attempt in job.attempts] == [JobState.FAILED, JobState.FAILED, JobState.SUCCEEDED]
    assert job.attempts[0].error == "RuntimeError: attempt 1 fails"


async def test_cancel_stops_a_running_function_at_its_checkpoint_and_a_queued_task_in_dask(
    dask_deck: WriteDeck, address: str, tmp_path: Path
) -> None:
    folders = {name: tmp_path / name for name in ("one", "two", "three")}
    async with engine_for(address) as engine:
        await engine.load(
            dask_deck(f"""
                [deck]
                dask_limit = 3

                [[job]]
                name = "loop"
                call = "dtasks:until_cancelled"
                each = ["one", "two", "three"]
                args = ["{tmp_path}/{{item}}"]
                on = "dask"
            """)
        )
        loops = [engine.job(f"loop[{name}]") for name in folders]
        await wait_for(
            lambda: (
                sum(job.current_attempt is not None and job.current_attempt.worker is not None for job in loops) == 2
            ),
            timeout=30,
        )
        # Two threads in the cluster: the third task waits in Dask's queue.
        (queued,) = [job for job in loops if job.attempts[0].worker is None]
        running = [job for job in loops if job is not queued]
        await engine.cancel(queued)
        await wait_state(engine, queued.id, JobState.CANCELLED)

        for job in running:
            await engine.cancel(job)
        assert running[0].note == f"cancelling: {CANCEL_NOTE}"
        for job in running:
            await wait_state(engine, job.id, JobState.CANCELLED)
    for job in running:
        folder = folders[job.name.removeprefix("loop[").removesuffix("]")]
        assert (folder / "stopped").exists(), "the function did not stop at its checkpoint"
        beats = (folder / "beats").read_text()
        await anyio.sleep(0.2)
        assert (folder / "beats").read_text() == beats
    queued_folder = folders[queued.name.removeprefix("loop[").removesuffix("]")]
    assert not (queued_folder / "started").exists(), "the queued task ran although it was cancelled"


async def test_pause_says_a_running_dask_job_goes_on_and_holds_back_one_not_submitted(
    dask_deck: WriteDeck, address: str, tmp_path: Path
) -> None:
    async with engine_for(address) as engine:
        await engine.load(
            dask_deck(f"""
                [deck]
                dask_limit = 1

                [[job]]
                name = "loop"
                call = "dtasks:until_cancelled"
                args = ["{tmp_path}/loop"]
                on = "dask"

                [[job]]
                name = "next"
                call = "dtasks:add"
                args = [1, 2]
                on = "dask"
            """)
        )
        loop = engine.job("loop")
        await wait_for(lambda: loop.current_attempt is not None and loop.current_attempt.worker is not None, timeout=30)
        await wait_for(lambda: (tmp_path / "loop" / "beats").exists(), timeout=30)  # the task itself has begun
        await engine.pause("next")  # still queued in jobdeck: held back, never submitted
        await engine.pause(loop)
        assert (loop.state, loop.note) == (JobState.PAUSED, PAUSE_NOTE)
        beats = (tmp_path / "loop" / "beats").read_text()
        await wait_for(lambda: (tmp_path / "loop" / "beats").read_text() != beats)  # it really goes on
        await engine.resume(loop)
        await engine.cancel(loop)
        await wait_state(engine, "loop", JobState.CANCELLED)
        await anyio.sleep(0.2)
        assert engine.job("next").state is JobState.PAUSED and not engine.job("next").attempts
        await engine.resume("next")
        assert (await wait_state(engine, "next", JobState.SUCCEEDED)).result == 3


async def test_a_worker_killed_mid_job_is_a_retryable_failure(
    dask_deck: WriteDeck, address: str, tmp_path: Path
) -> None:
    async with engine_for(address) as engine:
        await engine.load(
            dask_deck(f"""
                [[job]]
                name = "victim"
                call = "dtasks:die_once"
                args = ["{tmp_path}"]
                on = "dask"
                retries = 1
                backoff = 0
            """)
        )
        pid_file = tmp_path / "pid"
        await wait_for(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=30)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        job = await wait_state(engine, "victim", JobState.SUCCEEDED, JobState.FAILED, timeout=60)
    assert job.state is JobState.SUCCEEDED, job.error
    assert job.result == "second try"
    first = job.attempts[0]
    assert first.outcome is JobState.FAILED
    assert first.error is not None and "died" in first.error and "KilledWorker" in first.error


@pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")
async def test_a_cluster_with_other_versions_is_refused(
    dask_deck: WriteDeck, address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process's scheduler and client report a distributed that the worker processes do not have.
    real = distributed.versions.get_package_info

    def other_distributed(packages: Any) -> dict[str, str | None]:
        return {**real(packages), "distributed": "2020.1.0"}

    monkeypatch.setattr(distributed.versions, "get_package_info", other_distributed)
    engine = await run_to_end(
        dask_deck("""
            [[job]]
            name = "sum"
            call = "dtasks:add"
            args = [1, 2]
            on = "dask"
            retries = 3
        """),
        dask_address=address,
    )
    job = engine.job("sum")
    assert job.state is JobState.FAILED
    assert len(job.attempts) == 1, "a version mismatch is not worth retrying"
    assert job.error is not None
    assert f"the Dask cluster at {address} runs other versions than jobdeck here: distributed 2020.1.0" in job.error
    assert f"{distributed.__version__} on worker tcp://127.0.0.1:" in job.error


async def test_a_module_missing_on_the_workers_fails_at_once_with_their_answer(
    dask_deck: WriteDeck, address: str
) -> None:
    engine = await run_to_end(
        dask_deck("""
            [[job]]
            name = "nowhere"
            call = "not_on_the_workers:main"
            on = "dask"
            retries = 2

            [[job]]
            name = "typo"
            call = "dtasks:ad"
            on = "dask"
        """),
        dask_address=address,
    )
    nowhere, typo = engine.job("nowhere"), engine.job("typo")
    assert nowhere.state is JobState.FAILED and len(nowhere.attempts) == 1
    assert nowhere.error is not None
    assert nowhere.error.startswith("Dask worker tcp://127.0.0.1:")
    assert "cannot import module 'not_on_the_workers'" in nowhere.error
    assert "the module must be importable on every worker" in nowhere.error
    assert typo.state is JobState.FAILED
    assert typo.error is not None and "has no function 'ad' (did you mean 'add'?)" in typo.error


async def test_progress_on_the_worker_reaches_the_engine(dask_deck: WriteDeck, address: str) -> None:
    seen: list[float] = []
    async with engine_for(address) as engine:
        await engine.load(
            dask_deck("""
                [[job]]
                name = "steps"
                call = "dtasks:steps"
                args = [20]
                on = "dask"
            """)
        )
        job = engine.job("steps")
        with anyio.fail_after(30):
            while not job.state.finished:
                if job.progress is not None and job.progress.done not in seen:
                    seen.append(job.progress.done)
                await anyio.sleep(0.005)
    assert job.state is JobState.SUCCEEDED
    assert job.progress is not None and (job.progress.done, job.progress.total) == (20, 20)
    assert seen and seen[0] < 20, "progress arrived only at the end"


async def test_which_cluster_a_job_uses(dask_deck: WriteDeck, address: str) -> None:
    unreachable = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    deck = dask_deck(f"""
        [deck]
        dask = "{unreachable}"

        [[job]]
        name = "deck-cluster"
        call = "dtasks:add"
        args = [1, 1]
        on = "dask"

        [[job]]
        name = "inline"
        call = "dtasks:add"
        args = [2, 2]
        on = "dask://{address.removeprefix("tcp://")}"
    """)
    # JOBDECK_DASK in the deck's environment (which --dask sets) overrides the deck's dask; an inline
    # address wins over both; so does an address given to the kind, over all but the inline one.
    engine = await run_to_end(deck, environ={"JOBDECK_DASK": address})
    assert {job.name: job.result for job in engine.jobs.values()} == {"deck-cluster": 2, "inline": 4}
    engine = await run_to_end(deck, dask_address=address, environ={"JOBDECK_DASK": unreachable})
    assert {job.name: job.result for job in engine.jobs.values()} == {"deck-cluster": 2, "inline": 4}
    engine = await run_to_end(
        dask_deck("""
            [[job]]
            name = "nowhere"
            call = "dtasks:add"
            args = [1, 1]
            on = "dask"
        """)
    )
    assert engine.job("nowhere").state is JobState.FAILED
    assert engine.job("nowhere").error == NO_CLUSTER
