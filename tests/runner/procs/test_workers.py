"""Worker processes for call jobs: results, errors, crashes, cancel, pause, output, and finding the function."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.errors import JobError
from runner.model import CallSpec
from runner.pausing import PauseControl
from runner.procs import callables, child_environment
from runner.procs.callables import resolve_callable
from runner.procs.pool import ResultRepr, WorkerPool
from tests.helpers import wait_for

TASKS_DIR = Path(__file__).parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def task(function: str, *args: Any, **kwargs: Any) -> CallSpec:
    """A call of a function in worker_tasks.py, found beside this file as a job file's module would be."""
    return CallSpec("worker_tasks", function, args, kwargs, base_dir=TASKS_DIR)


@dataclass
class Recorder:
    progress: list[tuple[float, float | None, float]] = field(default_factory=list)
    """(done, total, arrival time)."""
    output: list[tuple[str, str]] = field(default_factory=list)

    def on_progress(self, done: float, total: float | None) -> None:
        self.progress.append((done, total, time.monotonic()))

    def on_output(self, stream: str, line: str) -> None:
        self.output.append((stream, line))


async def run(
    pool: WorkerPool, spec: CallSpec, *, pause: PauseControl | None = None, recorder: Recorder | None = None
) -> Any:
    recorder = recorder or Recorder()
    return await pool.call(
        spec,
        job_name="test-job",
        pause=pause or PauseControl(),
        on_progress=recorder.on_progress,
        on_output=recorder.on_output,
    )


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie (a container's init may be slow to reap)."""
    if Path("/proc/self/stat").exists():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rpartition(")")[2].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- results and errors ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_call_returns_the_result_of_the_function_with_args_and_kwargs() -> None:
    async with WorkerPool() as pool:
        assert await run(pool, task("add", 2, 3, scale=4)) == 20


@pytest.mark.anyio
async def test_an_exception_fails_the_call_with_the_job_traceback_and_the_worker_is_kept() -> None:
    async with WorkerPool(keep_idle=1) as pool:
        worker_pid = await run(pool, task("whoami"))
        with pytest.raises(JobError) as caught:
            await run(pool, task("fail", 7))
        assert await run(pool, task("whoami")) == worker_pid

    error = caught.value
    assert error.message == "ValueError: value too large: 7"
    assert error.retryable
    assert error.traceback is not None
    assert "worker_tasks.py" in error.traceback
    assert "in _check" in error.traceback
    assert "worker_main" not in error.traceback


@pytest.mark.anyio
async def test_a_function_that_cannot_be_found_fails_the_call_without_retry() -> None:
    async with WorkerPool() as pool:
        with pytest.raises(JobError) as caught:
            await run(pool, task("ad", 1, 2))
    assert caught.value.message == "module 'worker_tasks' has no function 'ad' (did you mean 'add'?)"
    assert not caught.value.retryable


@pytest.mark.anyio
async def test_arguments_that_cannot_be_pickled_fail_before_any_worker_runs() -> None:
    async with WorkerPool() as pool:
        with pytest.raises(JobError, match=r"cannot send the arguments of worker_tasks:add") as caught:
            await run(pool, task("add", lambda: 1, 2))
    assert not caught.value.retryable


class OnlyInTheTestProcess:
    """Pickles here, but the worker cannot import the module it claims to come from."""


OnlyInTheTestProcess.__module__ = "module_only_in_the_test_process"
sys.modules["module_only_in_the_test_process"] = types.SimpleNamespace(  # type: ignore[assignment]
    OnlyInTheTestProcess=OnlyInTheTestProcess
)


@pytest.mark.anyio
async def test_arguments_the_worker_cannot_read_fail_the_call_and_the_worker_is_kept() -> None:
    async with WorkerPool(keep_idle=1) as pool:
        worker_pid = await run(pool, task("whoami"))
        with pytest.raises(JobError, match="arguments") as caught:
            await run(pool, task("add", OnlyInTheTestProcess(), 1))
        assert await run(pool, task("whoami")) == worker_pid
    assert not caught.value.retryable


@pytest.mark.anyio
async def test_a_large_result_arrives_whole() -> None:
    size = 5 * 1024 * 1024
    async with WorkerPool() as pool:
        assert await run(pool, task("big_result", size)) == b"x" * size


@pytest.mark.anyio
async def test_an_unpicklable_result_comes_back_as_its_repr() -> None:
    async with WorkerPool(keep_idle=1) as pool:
        lock = await run(pool, task("unpicklable"))
        only_in_worker = await run(pool, task("loads_only_in_worker"))
        assert await run(pool, task("add", 1, 1)) == 2  # the worker is still in step

    assert isinstance(lock, ResultRepr)
    assert repr(lock).startswith("<unlocked _thread.lock object")
    assert isinstance(only_in_worker, ResultRepr)
    assert repr(only_in_worker) == "<LoadsOnlyInWorker>"


# --- crashes --------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_worker_exiting_mid_call_fails_the_call_and_the_pool_goes_on() -> None:
    async with WorkerPool(keep_idle=1) as pool:
        with pytest.raises(JobError) as caught:
            await run(pool, task("exit_hard", 3))
        assert await run(pool, task("add", 1, 2)) == 3
    assert caught.value.message == "worker process died while running the job: exited with status 3"
    assert caught.value.retryable


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (task("kill_self", signal.SIGKILL), "killed by signal 9 (SIGKILL)"),
        (task("segfault"), "killed by signal 11 (SIGSEGV)"),
    ],
    ids=["sigkill", "segfault"],
)
async def test_a_worker_killed_by_a_signal_fails_the_call_naming_the_signal(spec: CallSpec, expected: str) -> None:
    recorder = Recorder()
    async with WorkerPool(keep_idle=1) as pool:
        with pytest.raises(JobError) as caught:
            await run(pool, spec, recorder=recorder)
        assert await run(pool, task("add", 2, 2)) == 4
    assert caught.value.message == f"worker process died while running the job: {expected}"
    if spec.function == "segfault":
        # The crash report written to stderr by the dying worker reaches the job's output.
        assert any(stream == "stderr" and "Segmentation fault" in line for stream, line in recorder.output)


# --- cancel and pause ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_kills_the_worker_and_the_processes_its_job_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    async with WorkerPool(keep_idle=1) as pool:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(run, pool, task("spawn_child_and_wait", str(pid_file)))
            await wait_for(lambda: pid_file.exists() and len(pid_file.read_text().split()) == 2)
            worker_pid, child_pid = map(int, pid_file.read_text().split())
            assert is_running(worker_pid) and is_running(child_pid)
            task_group.cancel_scope.cancel()

        assert not is_running(worker_pid)  # killed and reaped before the cancellation went on
        await wait_for(lambda: not is_running(child_pid), timeout=2)
        replacement_pid = await run(pool, task("whoami"))
        assert replacement_pid != worker_pid


@pytest.mark.anyio
async def test_pause_stops_the_worker_and_resume_lets_it_go_on(tmp_path: Path) -> None:
    growing = tmp_path / "growing"
    pause = PauseControl()
    async with WorkerPool() as pool, anyio.create_task_group() as task_group:
        task_group.start_soon(lambda: run(pool, task("append_forever", str(growing)), pause=pause))
        await wait_for(lambda: growing.exists() and growing.stat().st_size > 0)

        pause.pause()
        await anyio.sleep(0.05)
        size_when_paused = growing.stat().st_size
        await anyio.sleep(0.3)
        assert growing.stat().st_size == size_when_paused

        pause.resume()
        await wait_for(lambda: growing.stat().st_size > size_when_paused, timeout=1)
        task_group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_call_started_while_paused_waits_for_resume() -> None:
    pause = PauseControl()
    pause.pause()
    results: list[int] = []

    async def call() -> None:
        results.append(await run(pool, task("add", 20, 22), pause=pause))

    async with WorkerPool(keep_idle=1) as pool:
        await pool.warm_up(1)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(call)
            await anyio.sleep(0.3)
            assert results == []
            pause.resume()
        assert results == [42]
        assert await run(pool, task("add", 1, 1)) == 2  # the worker went back to the pool running, not stopped


# --- progress and output --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_progress_is_throttled_and_the_last_update_always_arrives() -> None:
    recorder = Recorder()
    async with WorkerPool() as pool:
        assert await run(pool, task("report_progress", 1000), recorder=recorder) == 1000
    updates = [(done, total) for done, total, _ in recorder.progress]
    assert updates[0] == (1.0, 1000.0)
    assert updates[-1] == (1000.0, 1000.0)
    assert len(updates) <= 5


@pytest.mark.anyio
async def test_a_held_back_progress_update_is_sent_without_waiting_for_the_next_one() -> None:
    recorder = Recorder()
    async with WorkerPool() as pool:
        await run(pool, task("report_progress_then_sleep"), recorder=recorder)
        call_ended = time.monotonic()
    updates = [(done, total) for done, total, _ in recorder.progress]
    assert updates == [(1.0, 3.0), (2.0, 3.0)]
    arrived = recorder.progress[1][2]
    assert call_ended - arrived > 0.3  # arrived while the job still slept, not with its result


@pytest.mark.anyio
async def test_printed_and_fd_level_output_reaches_on_output_before_the_call_returns() -> None:
    recorder = Recorder()
    async with WorkerPool() as pool:
        assert await run(pool, task("chatty"), recorder=recorder) == "done"
    assert ("stdout", "hello from the job") in recorder.output
    assert ("stderr", "to stderr") in recorder.output
    assert ("stderr", "written to fd 1") in recorder.output  # fd 1 is redirected so it cannot corrupt the protocol
    assert ("stdout", "no newline at the end") in recorder.output


# --- the pool -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_calls_run_in_different_workers_at_the_same_time() -> None:
    pids: list[int] = []

    async def call() -> None:
        pids.append(await run(pool, task("whoami", 0.3)))

    async with WorkerPool(keep_idle=2) as pool:
        await pool.warm_up(2)
        started = time.monotonic()
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(call)
            task_group.start_soon(call)
        elapsed = time.monotonic() - started
    assert len(set(pids)) == 2
    assert elapsed < 0.55


@pytest.mark.anyio
async def test_idle_workers_beyond_keep_idle_are_stopped() -> None:
    async with WorkerPool(keep_idle=1) as pool:
        first = await run(pool, task("whoami"))
        assert await run(pool, task("whoami")) == first
        pool.keep_idle = 0
        assert await run(pool, task("whoami")) == first
        await wait_for(lambda: not is_running(first), timeout=2)
        assert pool.idle_count == 0


@pytest.mark.anyio
async def test_leaving_the_pool_leaves_no_process_running() -> None:
    async with WorkerPool(keep_idle=2) as pool:
        await pool.warm_up(2)
        assert pool.idle_count == 2
        child_pid = await run(pool, task("spawn_child_and_return"))
        worker_pids = {await run(pool, task("whoami")) for _ in range(2)}
        assert is_running(child_pid)
        assert all(is_running(pid) for pid in worker_pids)
    assert not any(is_running(pid) for pid in worker_pids)
    await wait_for(lambda: not is_running(child_pid), timeout=2)


def write_broken_runner_package(folder: Path) -> None:
    package = folder / "runner"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('broken install')\n")


@pytest.mark.anyio
async def test_a_runner_package_in_the_current_folder_does_not_shadow_the_real_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_broken_runner_package(tmp_path)
    monkeypatch.chdir(tmp_path)
    async with WorkerPool() as pool:
        assert await run(pool, task("add", 1, 1)) == 2


@pytest.mark.anyio
async def test_a_worker_that_cannot_start_fails_the_call_with_its_last_stderr_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_broken_runner_package(tmp_path)
    monkeypatch.setattr(child_environment, "RUNNER_ROOT", str(tmp_path))  # first on the worker's PYTHONPATH

    async with WorkerPool() as pool:
        with pytest.raises(JobError) as caught:
            await run(pool, task("add", 1, 1))
    assert caught.value.message == (
        "could not start a worker process (exited with status 1: ImportError: broken install)"
    )


@dataclass
class SpawnRecorder:
    """Counts the workers a pool starts; while `hold` is not set, a started worker is not handed on yet."""

    attempts: int = 0
    pids: list[int] = field(default_factory=list)
    """Of the workers that started."""
    hold: anyio.Event | None = None


@pytest.fixture
def record_spawns(monkeypatch: pytest.MonkeyPatch) -> Callable[[WorkerPool], SpawnRecorder]:
    def record(pool: WorkerPool) -> SpawnRecorder:
        recorder = SpawnRecorder()
        spawn = pool._spawn

        async def recording_spawn() -> Any:
            recorder.attempts += 1
            worker = await spawn()
            recorder.pids.append(worker.pid)
            if recorder.hold is not None:
                await recorder.hold.wait()
            return worker

        monkeypatch.setattr(pool, "_spawn", recording_spawn)
        return recorder

    return record


@pytest.mark.anyio
@pytest.mark.parametrize("warm_up_first", [True, False], ids=["warm-up-first", "calls-first"])
async def test_warm_up_and_the_first_calls_together_start_only_the_workers_warm_up_asked_for(
    warm_up_first: bool, record_spawns: Callable[[WorkerPool], SpawnRecorder]
) -> None:
    pids: list[int] = []

    async def call() -> None:
        pids.append(await run(pool, task("whoami", 0.2)))

    async with WorkerPool(keep_idle=2) as pool:
        spawns = record_spawns(pool)
        async with anyio.create_task_group() as task_group:
            if warm_up_first:
                task_group.start_soon(pool.warm_up, 2)
            task_group.start_soon(call)
            task_group.start_soon(call)
            if not warm_up_first:
                task_group.start_soon(pool.warm_up, 2)
        assert pool.idle_count == 2
    assert len(spawns.pids) == 2
    assert sorted(pids) == sorted(spawns.pids)  # the two calls ran at the same time, in the two workers


@pytest.mark.anyio
async def test_a_call_cancelled_while_waiting_for_a_starting_worker_leaves_that_worker_to_the_pool(
    record_spawns: Callable[[WorkerPool], SpawnRecorder],
) -> None:
    async with WorkerPool(keep_idle=1) as pool:
        spawns = record_spawns(pool)
        spawns.hold = anyio.Event()
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(pool.warm_up, 1)
            with anyio.CancelScope() as waiting_call:
                task_group.start_soon(run, pool, task("whoami"))
                await wait_for(lambda: len(pool._waiters) == 1)
                waiting_call.cancel()
                await wait_for(lambda: not pool._waiters)
            spawns.hold.set()
        assert pool.idle_count == 1
        assert await run(pool, task("whoami")) == spawns.pids[0]
    assert len(spawns.pids) == 1


@pytest.mark.anyio
async def test_a_worker_handed_to_a_call_as_it_is_cancelled_goes_back_to_the_pool(
    record_spawns: Callable[[WorkerPool], SpawnRecorder],
) -> None:
    async with WorkerPool(keep_idle=2) as pool:
        spawn = pool._spawn
        spawns = record_spawns(pool)
        spawns.hold = anyio.Event()
        given_back = await spawn()
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(pool.warm_up, 1)
            await wait_for(lambda: len(spawns.pids) == 1)
            with anyio.CancelScope() as scope:
                task_group.start_soon(run, pool, task("whoami"))
                await wait_for(lambda: len(pool._waiters) == 1)
                pool._give_back(given_back)  # hands it to the waiting call...
                scope.cancel()  # ...which is cancelled before it could run anything on it
            await wait_for(lambda: pool.idle_count == 1)
            spawns.hold.set()
        assert pool.idle_count == 2
        assert given_back.alive
        assert await run(pool, task("whoami")) in {given_back.pid, spawns.pids[0]}


@pytest.mark.anyio
async def test_a_call_waiting_for_a_worker_that_fails_to_start_starts_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_spawns: Callable[[WorkerPool], SpawnRecorder]
) -> None:
    write_broken_runner_package(tmp_path)
    monkeypatch.setattr(child_environment, "RUNNER_ROOT", str(tmp_path))
    errors: list[JobError] = []

    async def catching(start: Callable[[], Any]) -> None:
        try:
            await start()
        except JobError as error:
            errors.append(error)

    async with WorkerPool() as pool:
        spawns = record_spawns(pool)
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(catching, lambda: pool.warm_up(1))
            task_group.start_soon(catching, lambda: run(pool, task("add", 1, 1)))
    assert spawns.attempts == 2  # the one warm_up started, then the call's own
    expected = "could not start a worker process (exited with status 1: ImportError: broken install)"
    assert [error.message for error in errors] == [expected, expected]


@pytest.mark.anyio
async def test_a_call_waiting_for_a_worker_when_the_pool_closes_fails(
    record_spawns: Callable[[WorkerPool], SpawnRecorder],
) -> None:
    call_errors: list[JobError] = []
    warm_up_errors: list[JobError] = []

    async def call() -> None:
        try:
            await run(pool, task("whoami"))
        except JobError as error:
            call_errors.append(error)

    async def warm_up() -> None:
        try:
            await pool.warm_up(1)
        except JobError as error:
            warm_up_errors.append(error)

    async with anyio.create_task_group() as task_group:
        async with WorkerPool() as pool:
            spawns = record_spawns(pool)
            spawns.hold = anyio.Event()
            task_group.start_soon(warm_up)
            task_group.start_soon(call)
            await wait_for(lambda: len(pool._waiters) == 1)
        spawns.hold.set()
    assert [error.message for error in call_errors] == ["worker process was stopped: the worker pool is shutting down"]
    assert spawns.attempts == 1


@pytest.mark.anyio
async def test_a_closed_pool_refuses_calls() -> None:
    async with WorkerPool() as pool:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await run(pool, task("add", 1, 1))


# --- resolve_callable -----------------------------------------------------------------------------------------


@pytest.fixture
def forget_modules() -> Iterator[list[str]]:
    """Names appended here are dropped from sys.modules after the test."""
    names: list[str] = []
    yield names
    for name in names:
        for loaded in [loaded for loaded in sys.modules if loaded == name or loaded.startswith(name + ".")]:
            del sys.modules[loaded]


def write_module(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_resolve_finds_a_module_beside_the_job_file() -> None:
    assert resolve_callable("worker_tasks", "add", TASKS_DIR)(1, 2, scale=2) == 6


def test_resolve_reports_a_module_that_is_nowhere() -> None:
    with pytest.raises(JobError) as caught:
        resolve_callable("taskz", "run", TASKS_DIR)
    assert caught.value.message == (
        f"cannot import module 'taskz': not found beside the job file ({TASKS_DIR}) or on the Python path"
    )
    assert not caught.value.retryable


def test_resolve_reports_a_missing_function_with_a_suggestion() -> None:
    with pytest.raises(JobError) as caught:
        resolve_callable("worker_tasks", "report_progres", TASKS_DIR)
    assert caught.value.message == (
        "module 'worker_tasks' has no function 'report_progres' (did you mean 'report_progress'?)"
    )
    assert not caught.value.retryable


def test_resolve_reports_a_name_that_is_not_callable(tmp_path: Path, forget_modules: list[str]) -> None:
    forget_modules.append("jobdeck_probe_value")
    write_module(tmp_path, "jobdeck_probe_value", "LIMIT = 3\n")
    with pytest.raises(JobError, match=r"^'jobdeck_probe_value:LIMIT' is not callable \(it is int\)$"):
        resolve_callable("jobdeck_probe_value", "LIMIT", tmp_path)


def test_resolve_reports_a_module_that_raises_on_import(tmp_path: Path, forget_modules: list[str]) -> None:
    forget_modules.append("jobdeck_probe_broken")
    path = write_module(tmp_path, "jobdeck_probe_broken", "import json\nraise RuntimeError('no config')\n")
    with pytest.raises(JobError) as caught:
        resolve_callable("jobdeck_probe_broken", "run", tmp_path)
    assert caught.value.message == "cannot import module 'jobdeck_probe_broken': RuntimeError: no config"
    assert caught.value.traceback is not None
    assert str(path) in caught.value.traceback
    assert not caught.value.retryable


def test_resolve_uses_the_module_of_each_job_file_folder(tmp_path: Path, forget_modules: list[str]) -> None:
    forget_modules.append("jobdeck_probe_tasks")
    for deck in ("deck_a", "deck_b"):
        write_module(tmp_path / deck, "jobdeck_probe_tasks", f"def which():\n    return {deck!r}\n")
    # A package of the same name in a third folder: a dotted lookup must not go through it.
    package = tmp_path / "deck_c" / "jobdeck_probe_tasks"
    write_module(package, "__init__", "")
    write_module(package, "inner", "def which():\n    return 'deck_c.inner'\n")

    assert resolve_callable("jobdeck_probe_tasks", "which", tmp_path / "deck_a")() == "deck_a"
    assert resolve_callable("jobdeck_probe_tasks", "which", tmp_path / "deck_b")() == "deck_b"
    assert resolve_callable("jobdeck_probe_tasks.inner", "which", tmp_path / "deck_c")() == "deck_c.inner"
    assert resolve_callable("jobdeck_probe_tasks", "which", tmp_path / "deck_a")() == "deck_a"


def test_resolve_reads_a_module_again_after_it_was_edited(tmp_path: Path, forget_modules: list[str]) -> None:
    forget_modules.append("jobdeck_probe_edited")
    path = write_module(tmp_path, "jobdeck_probe_edited", "def version():\n    return 1\n")
    assert resolve_callable("jobdeck_probe_edited", "version", tmp_path)() == 1
    assert resolve_callable("jobdeck_probe_edited", "version", tmp_path)() == 1
    write_module(tmp_path, "jobdeck_probe_edited", "def version():\n    return 2\n")
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))
    assert resolve_callable("jobdeck_probe_edited", "version", tmp_path)() == 2


def counting_module_source(counter: Path, version: int) -> str:
    """A module that appends a line to `counter` each time it is executed (imported)."""
    count = f"with open({str(counter)!r}, 'a') as file:\n    file.write('run\\n')\n"
    return f"{count}\n\ndef version():\n    return {version}\n"


def test_resolve_imports_a_module_once_and_again_only_after_it_was_edited(
    tmp_path: Path, forget_modules: list[str]
) -> None:
    forget_modules.append("jobdeck_probe_counted")
    counter = tmp_path / "imports"
    path = write_module(tmp_path, "jobdeck_probe_counted", counting_module_source(counter, 1))

    def imports() -> int:
        return len(counter.read_text().splitlines())

    for _ in range(3):
        assert resolve_callable("jobdeck_probe_counted", "version", tmp_path)() == 1
    assert imports() == 1

    write_module(tmp_path, "jobdeck_probe_counted", counting_module_source(counter, 2))
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))
    for _ in range(3):
        assert resolve_callable("jobdeck_probe_counted", "version", tmp_path)() == 2
    assert imports() == 2


def test_resolve_notices_an_edit_that_keeps_the_modification_time_but_not_the_size(
    tmp_path: Path, forget_modules: list[str]
) -> None:
    forget_modules.append("jobdeck_probe_same_time")
    path = write_module(tmp_path, "jobdeck_probe_same_time", "def version():\n    return 1\n")
    assert resolve_callable("jobdeck_probe_same_time", "version", tmp_path)() == 1
    before = path.stat()
    write_module(tmp_path, "jobdeck_probe_same_time", "def version():\n    return 22\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert resolve_callable("jobdeck_probe_same_time", "version", tmp_path)() == 22


def test_resolve_takes_a_module_that_appears_beside_the_job_file_over_the_one_on_the_path(
    tmp_path: Path, forget_modules: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_modules.append("jobdeck_probe_shadow")
    write_module(tmp_path / "on_path", "jobdeck_probe_shadow", "def where():\n    return 'path'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "on_path"))
    deck = tmp_path / "deck"
    deck.mkdir()
    assert resolve_callable("jobdeck_probe_shadow", "where", deck)() == "path"
    assert resolve_callable("jobdeck_probe_shadow", "where", deck)() == "path"
    write_module(deck, "jobdeck_probe_shadow", "def where():\n    return 'deck'\n")
    assert resolve_callable("jobdeck_probe_shadow", "where", deck)() == "deck"


def test_resolve_sees_a_function_rebound_on_an_already_loaded_module(
    tmp_path: Path, forget_modules: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_modules.append("jobdeck_probe_rebound")
    write_module(tmp_path, "jobdeck_probe_rebound", "def which():\n    return 'original'\n")
    loaded = resolve_callable("jobdeck_probe_rebound", "which", tmp_path).__module__
    monkeypatch.setattr(sys.modules[loaded], "which", lambda: "patched")
    assert resolve_callable("jobdeck_probe_rebound", "which", tmp_path)() == "patched"


def test_resolve_of_a_loaded_module_does_not_wait_for_the_import_lock(
    tmp_path: Path, forget_modules: list[str]
) -> None:
    forget_modules.append("jobdeck_probe_unlocked")
    write_module(tmp_path, "jobdeck_probe_unlocked", "def ok():\n    return 'ok'\n")
    assert resolve_callable("jobdeck_probe_unlocked", "ok", tmp_path)() == "ok"

    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with callables._import_lock:  # as a thread importing some other module would
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(5)
        results: list[str] = []
        resolver = threading.Thread(
            target=lambda: results.append(resolve_callable("jobdeck_probe_unlocked", "ok", tmp_path)())
        )
        resolver.start()
        resolver.join(5)
        assert results == ["ok"]
    finally:
        release.set()
        holder.join()
