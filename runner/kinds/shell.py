"""Shell jobs: a command run by /bin/sh in its own process group, its output kept line by line.

A shell job's result, whether it succeeded or failed, says how its command ended: `{"exit_code": 0, "signal":
None, "last_line": "done"}` (`exit_code` None and `signal` "SIGKILL" when a signal ended it; `last_line` the last
line it wrote that is not blank, on either stream, or None; and `status`, the last JOBDECK_STATUS text it gave,
only when it gave one: runner.kinds.shell_meta).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import ByteReceiveStream

from runner.deck.job_environment import UnsetVariable, expanded_env
from runner.errors import JobError
from runner.kinds.base import AttemptContext, JobKind
from runner.kinds.shell_meta import PREFIX, ShellMeta
from runner.model import LAST_OUTPUT_CHARS, OUTPUT_LINE_CHARS, Deck, JobSpec, Settings, ShellSpec
from runner.procs.early_guardian import take_early_guardian
from runner.procs.group_process import GroupProcess
from runner.procs.guardian import GroupGuardian
from runner.procs.lines import LineSplitter
from runner.procs.process_groups import describe_exit, end_group, group_exists, signal_group

STARTS_AT_ONCE = 8
LEFTOVER_GRACE_S = 0.5
"""How long processes a finished shell left behind in its group get between SIGTERM and SIGKILL."""


class ShellKind(JobKind):
    def __init__(self) -> None:
        self.guardian = take_early_guardian() or GroupGuardian()
        """Ends the jobs' groups should this process be killed before it can (see runner.procs.guardian); the
        one `jobdeck run` started while starting up, if any (runner.procs.early_guardian)."""
        self._guardian_starting = anyio.Lock()
        self._starting = anyio.CapacityLimiter(STARTS_AT_ONCE)
        """Worker threads starting shell jobs at once: their own, so that thread calls never hold up a start."""

    async def __aexit__(self, *exc_info: Any) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.guardian.close)

    def slot(self, spec: JobSpec, settings: Settings) -> tuple[str, int]:
        return "shell", settings.shell_limit

    async def deck_loaded(self, deck: Deck) -> None:
        await self._start_guardian()

    async def _start_guardian(self) -> None:
        if self.guardian.running:
            return
        async with self._guardian_starting:
            await anyio.to_thread.run_sync(self.guardian.start)

    async def run(self, attempt: AttemptContext) -> Any:
        spec = attempt.job.spec.work
        assert isinstance(spec, ShellSpec)
        await self._start_guardian()
        environment = _job_environment(attempt, spec)
        last_line = _LastLine(attempt.report_output, ShellMeta(attempt.report_progress, attempt.report_status))
        # Not cancellable: a cancel that comes meanwhile reaches the job at its next await, where the group is ended.
        process = await GroupProcess.start(
            ["/bin/sh", "-c", spec.command],
            cwd=spec.cwd,
            env=environment,
            umask=attempt.umask,
            on_line=last_line.report,
            line_chars=OUTPUT_LINE_CHARS,
            limiter=self._starting,
            on_start=self.guardian.track,  # thread-safe
        )
        group = process.pid
        attempt.pause.watch_end(lambda: has_exited(group))
        detach = attempt.pause.attach(
            suspend=lambda: signal_group(group, signal.SIGSTOP),
            resume=lambda: signal_group(group, signal.SIGCONT),
        )
        try:
            returncode = await _wait_with_output(process)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await end_group(process, attempt.grace_period)
            raise
        finally:
            process.close()
            detach()
            self.guardian.untrack(group)
        result = shell_result(returncode, last_line.text, last_line.meta.status)
        if returncode != 0:
            raise JobError(describe_exit(returncode), retryable=True, result=result)
        return result


def shell_result(returncode: int, last_line: str | None, status: str | None = None) -> dict[str, Any]:
    """How the command ended, as its job's result (see the module's docstring)."""
    signal_name = None
    if returncode < 0:
        try:
            signal_name = signal.Signals(-returncode).name
        except ValueError:
            signal_name = f"signal {-returncode}"
    result = {"exit_code": returncode if returncode >= 0 else None, "signal": signal_name, "last_line": last_line}
    if status is not None:
        result["status"] = status
    return result


class _LastLine:
    """Passes output lines on, remembering the start of the last one that is not blank; progress and status
    lines (runner.kinds.shell_meta) go to `meta` instead."""

    def __init__(self, report_output: Callable[[str, str], None], meta: ShellMeta) -> None:
        self.report_output = report_output
        self.meta = meta
        self.text: str | None = None

    def report(self, stream: str, line: str) -> None:
        if line.startswith(PREFIX) and self.meta.take(line):
            return
        if line.strip():
            self.text = line[:LAST_OUTPUT_CHARS]
        self.report_output(stream, line)


async def _wait_with_output(process: GroupProcess) -> int:
    returncode = await process.exited()
    # Background children the command left running still hold the pipes open; end them so the
    # job finishes and nothing outlives it.
    if group_exists(process.pid):
        await end_group(process, LEFTOVER_GRACE_S)
    await process.output_closed()
    return returncode


def has_exited(pid: int) -> bool:
    """Whether our child `pid` has ended, without reaping it (the event loop's watcher does that)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True


def _job_environment(attempt: AttemptContext, spec: ShellSpec) -> dict[str, str]:
    environment = dict(attempt.environ)
    if spec.env:
        try:
            environment.update(expanded_env(spec.env, attempt.environ))
        except UnsetVariable as unset:
            raise JobError(f"{unset}: export it and run jobdeck env for the deck") from None
    environment["JOBDECK_JOB"] = attempt.job.name
    environment["JOBDECK_DECK"] = attempt.job.deck
    if attempt.job.spec.group is not None:
        environment["JOBDECK_ITEM"] = str(attempt.job.spec.item)
    return environment


async def pump_lines(stream: ByteReceiveStream, name: str, report_output: Callable[[str, str], None]) -> None:
    """Forward a byte stream as text lines."""
    splitter = LineSplitter(OUTPUT_LINE_CHARS)
    async for chunk in stream:
        for line in splitter.feed_bytes(chunk):
            report_output(name, line)
    for line in splitter.finish():
        report_output(name, line)
