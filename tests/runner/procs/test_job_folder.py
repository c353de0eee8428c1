"""A call job runs in its job file's folder: threads get a folder of their own, a process worker changes its
own and goes back, and where a thread cannot have one the job is told where it runs instead."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.procs import job_folder as job_folder_module
from runner.procs.job_folder import FolderError, job_folder


def on_new_thread(function: Callable[[], Any]) -> Any:
    """`function()` run on a thread of its own (each thread decides once whether it has its own folder)."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(function()))
    thread.start()
    thread.join(30)
    assert outcome, "the thread did not finish"
    return outcome[0]


def folders(root: Path, *names: str) -> list[Path]:
    made = []
    for name in names:
        (root / name).mkdir()
        (root / name / "marker.txt").write_text(name)
        made.append(root / name)
    return made


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have folders of their own on Linux")
def test_threads_in_two_job_folders_at_once_each_see_their_own_and_the_process_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    one, two = folders(tmp_path, "one", "two")
    both_inside = threading.Barrier(2, timeout=30)
    seen: dict[str, dict[str, str]] = {}

    def job(folder: Path) -> None:
        with job_folder(str(folder), alone=False) as note:
            both_inside.wait()  # both threads are in their folders now
            started: list[str] = []
            child = threading.Thread(target=lambda: started.append(os.getcwd()))
            child.start()
            child.join()
            seen[folder.name] = {
                "note": str(note),
                "cwd": os.getcwd(),
                "relative read": Path("marker.txt").read_text(),
                "thread it started": started[0],
                "process": os.readlink("/proc/self/cwd"),
            }
            both_inside.wait()  # neither leaves before the other has looked

    threads = [threading.Thread(target=job, args=(folder,)) for folder in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == {
        folder.name: {
            "note": "None",
            "cwd": str(folder),
            "relative read": folder.name,
            "thread it started": str(folder),
            "process": str(tmp_path),
        }
        for folder in (one, two)
    }
    assert os.getcwd() == str(tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have folders of their own on Linux")
def test_a_thread_the_job_left_running_stays_in_its_folder_while_the_next_job_on_that_thread_runs_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    one, two = folders(tmp_path, "one", "two")
    look = threading.Event()
    leftover_saw: list[str] = []

    def linger() -> None:
        look.wait(30)
        leftover_saw.append(os.getcwd())

    def two_jobs_on_one_thread() -> tuple[str, str]:
        with job_folder(str(one), alone=False):
            leftover = threading.Thread(target=linger)
            leftover.start()  # still running when the job ends
        with job_folder(str(two), alone=False):
            second = os.getcwd()
            look.set()
            leftover.join(30)
        return second, os.getcwd()

    assert on_new_thread(two_jobs_on_one_thread) == (str(two), str(tmp_path))
    assert leftover_saw == [str(one)]


def test_a_process_worker_runs_the_call_in_the_folder_and_goes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (folder,) = folders(tmp_path, "deck")
    with job_folder(str(folder), alone=True, isolate=False) as note:
        inside = (note, os.getcwd(), os.readlink("/proc/self/cwd"), Path("marker.txt").read_text())
    assert inside == (None, str(folder), str(folder), "deck")
    assert os.getcwd() == str(tmp_path)


def test_the_folder_is_left_even_when_the_call_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (folder,) = folders(tmp_path, "deck")
    with pytest.raises(ZeroDivisionError), job_folder(str(folder), alone=True, isolate=False):
        _ = 1 / 0
    assert os.getcwd() == str(tmp_path)


def test_a_removed_folder_is_refused_before_the_call_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ran = []

    def enter() -> str:
        try:
            with job_folder(str(tmp_path / "gone"), alone=False):
                ran.append(True)
        except FolderError as error:
            return str(error)
        return "entered"

    assert on_new_thread(enter) == f"cannot run in the job file's folder {tmp_path}/gone: No such file or directory"
    assert ran == [] and os.getcwd() == str(tmp_path)


def test_without_folders_of_their_own_a_thread_stays_where_the_process_is_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(job_folder_module, "_unshare", lambda: False)
    (folder,) = folders(tmp_path, "deck")

    def look(where: Path) -> tuple[str | None, str]:
        with job_folder(str(where), alone=False) as note:
            return note, os.getcwd()

    assert on_new_thread(lambda: look(folder)) == (
        f"runs in {tmp_path}, not in the job file's folder {folder}: threads cannot have a folder of their own "
        'here (use on = "process" for that)',
        str(tmp_path),
    )
    assert on_new_thread(lambda: look(tmp_path)) == (None, str(tmp_path))  # already there: nothing to say

    def alone() -> tuple[str | None, str]:
        with job_folder(str(folder), alone=True) as note:
            return note, os.readlink("/proc/self/cwd")

    # The only thread running jobs in its process (a one-thread Dask worker) moves the process instead.
    assert on_new_thread(alone) == (None, str(folder))
    assert os.getcwd() == str(tmp_path)
