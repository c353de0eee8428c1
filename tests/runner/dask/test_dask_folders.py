"""Dask call jobs run in their job file's folder when the worker has it, as process and thread jobs do: with
`dask = "local"` under `jobdeck run` from another folder, two decks' tasks at once on one two-thread worker,
and, where a worker lacks the folder (a remote machine), in the worker's own folder, said in the output."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

distributed = pytest.importorskip("distributed")

from distributed import LocalCluster  # noqa: E402

from runner.engine.engine import Engine  # noqa: E402
from runner.model import JobState  # noqa: E402
from tests.helpers import jobdeck  # noqa: E402

pytestmark = pytest.mark.anyio

PLACE_TASKS = Path(__file__).parents[1] / "place_tasks.py"


@pytest.fixture(autouse=True)
def no_dask_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JOBDECK_DASK of the environment the tests run in would override the clusters they name."""
    monkeypatch.delenv("JOBDECK_DASK", raising=False)


@pytest.fixture(scope="module")
def two_thread_worker() -> Iterator[str]:
    """One worker process running two tasks at once, as a remote `dask worker --nthreads 2` does."""
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        local.wait_for_workers(1, timeout=30)
        yield str(local.scheduler_address)


def deck_folder(root: Path, name: str, jobs: str) -> Path:
    folder = root / name
    folder.mkdir()
    shutil.copy(PLACE_TASKS, folder / "places.py")
    (folder / "marker.txt").write_text(name)
    (folder / "deck.toml").write_text(f'[deck]\nname = "{name}"\n{jobs}')
    return folder / "deck.toml"


def seen_in(folder: Path, pid: int) -> dict[str, Any]:
    return {"cwd": str(folder), "marker": folder.name, "thread": str(folder), "pid": pid}


def test_a_local_cluster_runs_jobdeck_runs_calls_in_the_job_files_folder(tmp_path: Path) -> None:
    job = '[[job]]\nname = "d"\ncall = "places:where"\non = "dask"\n'
    deck = deck_folder(tmp_path, "deck", f'dask = "local"\nprocess_limit = 1\n\n{job}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = jobdeck("run", "--json", deck, cwd=elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    (job,) = json.loads(result.stdout)["jobs"]
    assert job["result"] == seen_in(deck.parent, job["result"]["pid"])


async def test_two_decks_tasks_at_once_on_one_worker_each_run_in_their_folder(
    two_thread_worker: str, tmp_path: Path
) -> None:
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    decks = [
        deck_folder(
            tmp_path,
            me,
            f'dask = "{two_thread_worker}"\n\n[[job]]\nname = "d"\ncall = "places:where"\non = "dask"\n'
            f'args = ["{meeting}", "{me}", ["{other}"]]\n',
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    async with Engine(environ={}) as engine:
        for deck in decks:
            await engine.load(deck)
        with anyio.fail_after(60):
            await engine.wait_until_settled()
    results = {job.id: job.result for job in engine.jobs.values()}
    worker = results["a/d"]["pid"]
    assert results == {"a/d": seen_in(decks[0].parent, worker), "b/d": seen_in(decks[1].parent, worker)}
    assert os.readlink(f"/proc/{worker}/cwd") == os.getcwd()  # the worker's own folder, as it started


async def test_a_worker_without_the_job_files_folder_runs_the_job_in_its_own_and_says_so(
    two_thread_worker: str, tmp_path: Path
) -> None:
    deck = deck_folder(
        tmp_path, "gone", f'dask = "{two_thread_worker}"\n\n[[job]]\nname = "d"\ncall = "os:getcwd"\non = "dask"\n'
    )
    async with Engine(environ={}) as engine:
        await engine.pause_all()
        await engine.load(deck)
        shutil.rmtree(deck.parent)  # as on a machine that does not share this folder
        await engine.resume_all()
        with anyio.fail_after(60):
            await engine.wait_until_settled()
    job = engine.job("gone/d")
    assert (job.state, job.result) == (JobState.SUCCEEDED, os.getcwd())
    assert [(line.stream, line.text) for line in job.output] == [
        (
            "log",
            f"runs in the Dask worker's folder {os.getcwd()}, not in the job file's folder {deck.parent}: "
            "No such file or directory on this worker",
        )
    ]
