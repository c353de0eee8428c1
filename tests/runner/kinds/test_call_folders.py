"""Call jobs run in their job file's folder, as shell jobs do, whoever runs them from wherever: `jobdeck run`
from another folder, and the server (whose own folder is /), on worker processes and on threads, two decks
in two folders at once, and no folder left behind in the server or its workers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from runner.procs import job_folder as job_folder_module
from runner.server.client import Client, status
from runner.server.messages import Output
from tests.conftest import Place
from tests.helpers import jobdeck, wait_until

PLACE_TASKS = Path(__file__).parents[1] / "place_tasks.py"


def deck_folder(root: Path, name: str, jobs: str) -> Path:
    """A folder `name` holding a job file (deck `name`), the tasks as places.py and marker.txt saying `name`."""
    folder = root / name
    folder.mkdir()
    shutil.copy(PLACE_TASKS, folder / "places.py")
    (folder / "marker.txt").write_text(name)
    (folder / "deck.toml").write_text(f'[deck]\nname = "{name}"\n{jobs}')
    return folder / "deck.toml"


def job(name: str, on: str, args: str = "[]") -> str:
    return f'\n[[job]]\nname = "{name}"\ncall = "places:where"\non = "{on}"\nargs = {args}\n'


def seen_in(folder: Path, pid: int) -> dict[str, Any]:
    return {"cwd": str(folder), "marker": folder.name, "thread": str(folder), "pid": pid}


def test_jobdeck_run_from_another_folder_runs_calls_in_the_job_files_folder(tmp_path: Path) -> None:
    deck = deck_folder(tmp_path, "deck", job("on-process", "process") + job("on-thread", "thread"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = jobdeck("run", "--json", deck, cwd=elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = [json.loads(line) for line in result.stdout.splitlines()]
    results = {job["name"]: job["result"] for job in report["jobs"]}
    assert results == {
        "on-process": seen_in(deck.parent, results["on-process"]["pid"]),
        "on-thread": seen_in(deck.parent, results["on-thread"]["pid"]),
    }
    assert results["on-process"]["pid"] != results["on-thread"]["pid"]  # a worker process, and jobdeck itself


def server_env(place: Place) -> dict[str, str]:
    return {**os.environ, "JOBDECK_SOCKET": str(place.socket), "JOBDECK_LOG": str(place.log)}


def job_results(place: Place) -> tuple[int, dict[str, Any]]:
    """The server's pid, and (deck/job) -> the job's report, as `jobdeck status --json` has them."""
    report = status(place.socket)
    return report["server"]["pid"], {
        f"{deck['deck']}/{job['name']}": job for deck in report["decks"] for job in deck["jobs"]
    }


def wait_all_succeeded(place: Place) -> dict[str, Any]:
    def succeeded() -> bool:
        return all(job["state"] == "succeeded" for job in job_results(place)[1].values())

    wait_until(succeeded, timeout=60, what="every job succeeded")
    return job_results(place)[1]


def thread_folders(pid: int) -> list[str]:
    """The current folder of each thread of the process."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.append(os.readlink(task / "cwd"))
        except OSError:
            continue  # the thread ended meanwhile
    return found


def test_the_server_runs_two_decks_thread_jobs_at_once_each_in_its_folder_and_keeps_its_own(place: Place) -> None:
    meeting = place.root / "meeting"
    meeting.mkdir()
    deck_a = deck_folder(place.root, "a", job("t", "thread", f'["{meeting}", "a", ["b", "go"], true]'))
    deck_b = deck_folder(place.root, "b", job("t", "thread", f'["{meeting}", "b", ["a", "go"]]'))
    env = server_env(place)
    submitted = jobdeck("submit", deck_a, deck_b, env=env, cwd=place.root)
    assert submitted.returncode == 0, submitted.stderr
    wait_until(lambda: (meeting / "a").exists() and (meeting / "b").exists(), timeout=60, what="both jobs started")
    server_pid, _ = job_results(place)
    # Both jobs are inside their functions now: each thread is in its deck's folder, the server in its own.
    assert os.readlink(f"/proc/{server_pid}/cwd") == "/"
    assert {str(deck_a.parent), str(deck_b.parent)} <= set(thread_folders(server_pid))
    (meeting / "go").touch()
    jobs = wait_all_succeeded(place)
    assert {name: job["result"] for name, job in jobs.items()} == {
        "a/t": seen_in(deck_a.parent, server_pid),
        "b/t": seen_in(deck_b.parent, server_pid),
    }
    assert os.readlink(f"/proc/{server_pid}/cwd") == "/"
    wait_until(lambda: set(thread_folders(server_pid)) == {"/"}, what="no thread of the server left in a job's folder")

    async def printed() -> list[str]:
        async with await Client.connect(place.socket) as client:
            chunk = await client.call(Output(job="a/t"))
        return [f"{line.stream}: {line.text}" for line in chunk.lines]

    assert anyio.run(printed) == [f"stdout: working in {deck_a.parent}"]


def test_a_server_worker_process_runs_each_decks_call_in_that_decks_folder_and_goes_back(place: Place) -> None:
    env = server_env(place)
    pids = []
    for name in ("first", "second"):
        deck = deck_folder(place.root, name, "process_limit = 1\n" + job("p", "process"))
        assert jobdeck("submit", deck, env=env, cwd=place.root).returncode == 0
        result = wait_all_succeeded(place)[f"{name}/p"]["result"]
        assert result == seen_in(deck.parent, result["pid"])
        pids.append(result["pid"])
        # The worker stays for the next job, back in the folder it started in (the server's).
        assert os.readlink(f"/proc/{result['pid']}/cwd") == "/"
    assert pids[0] == pids[1]  # one worker, reused by the second deck


@pytest.mark.anyio
async def test_where_threads_cannot_have_a_folder_of_their_own_the_job_says_where_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_folder_module, "_unshare", lambda: False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    deck = deck_folder(tmp_path, "deck", '\n[[job]]\nname = "look"\ncall = "os:getcwd"\non = "thread"\n')
    async with Engine() as engine:
        await engine.load(deck)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    look = engine.job("look")
    assert (look.state, look.result) == (JobState.SUCCEEDED, str(elsewhere))
    assert [(line.stream, line.text) for line in look.output] == [
        (
            "log",
            f"runs in {elsewhere}, not in the job file's folder {deck.parent}: threads cannot have a folder of their "
            'own here (use on = "process" for that)',
        )
    ]


@pytest.mark.anyio
async def test_a_job_whose_folder_was_removed_fails_saying_so(tmp_path: Path) -> None:
    deck = deck_folder(
        tmp_path,
        "deck",
        '\n[[job]]\nname = "p"\ncall = "os:getcwd"\n\n[[job]]\nname = "t"\ncall = "os:getcwd"\non = "thread"\n',
    )
    async with Engine() as engine:
        await engine.pause_all()
        await engine.load(deck)
        shutil.rmtree(deck.parent)
        await engine.resume_all()
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    message = f"cannot run in the job file's folder {deck.parent}: No such file or directory"
    assert {job.name: (job.state, job.error, len(job.attempts)) for job in engine.jobs.values()} == {
        "p": (JobState.FAILED, message, 1),
        "t": (JobState.FAILED, message, 1),
    }
