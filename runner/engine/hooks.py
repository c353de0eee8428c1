"""Hooks: a deck's `on_success`, `on_failure`, `on_finish` and a job's `on_failure`, run by /bin/sh.

A hook runs in its deck file's folder with the deck's environment, what it is told in `JOBDECK_*` variables
and the same as a JSON object on its stdin. It has its own process group, as a shell job has, which is ended
(SIGTERM, then SIGKILL after the grace period) when it runs past HOOK_TIMEOUT_S or jobdeck stops: nothing it
starts outlives it. How it ends is reported, and never changes how its deck or job ended.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

from runner.kinds.shell import pump_lines
from runner.model import Deck, Job, JobState
from runner.private_folder import make_private_folder
from runner.procs.guardian import GroupGuardian
from runner.procs.process_groups import describe_exit, end_group, group_exists

HOOK_TIMEOUT_S = 60.0
HOOK_LINES_KEPT = 200
"""The last lines of a hook's output kept with its deck (every line also goes to the server's log)."""

log = logging.getLogger("jobdeck.hooks")


@dataclass
class HookRun:
    """One run of a hook: what it was, how it ended, the last of its output (secrets masked)."""

    deck: str
    hook: str
    """`on_finish`, or `get[3] on_failure` for a job's."""
    command: str
    started_at: float
    ended_at: float | None = None
    outcome: str = "running"
    """`exited with status 0`, `timed out after 60 s`, `could not start: ...`."""
    ok: bool = False
    output: list[str] = field(default_factory=list)
    log: Path | None = None
    """The file its output was added to (the deck's `hooks.log`), once it was."""

    def line(self) -> str:
        """`on_finish hook exited with status 0 (output in PATH)`, as status shows it."""
        kept = f" (output in {self.log})" if self.log is not None and self.output else ""
        return f"{self.hook} hook {self.outcome}{kept}"


@dataclass(frozen=True)
class HookCall:
    """Where and how a hook runs."""

    command: str
    folder: Path
    environ: Mapping[str, str]
    umask: int | None
    variables: Mapping[str, str]
    facts: Mapping[str, Any]
    """What its stdin says, as JSON."""


def deck_facts(deck: Deck, hook: str, jobs: Iterable[Job], halted: str | None) -> dict[str, Any]:
    """The deck's summary a deck hook is given: its name and file, its jobs' states, how long it took."""
    counts = dict.fromkeys((state.value for state in JobState if state.finished), 0)
    started: float | None = None
    ended: float | None = None
    unsuccessful: list[str] = []
    total = 0
    for job in jobs:
        total += 1
        counts[job.state.value] = counts.get(job.state.value, 0) + 1
        if job.state is not JobState.SUCCEEDED and len(unsuccessful) < 100:
            unsuccessful.append(job.name)
        if job.attempts:
            first, last = job.attempts[0].started_at, job.attempts[-1].ended_at
            started = first if started is None else min(started, first)
            if last is not None:
                ended = last if ended is None else max(ended, last)
    duration = 0.0 if started is None or ended is None else max(0.0, ended - started)
    outcome = "succeeded" if counts[JobState.SUCCEEDED.value] == total else "failed"
    return {
        "hook": hook,
        "deck": deck.name,
        "file": str(deck.path),
        "outcome": outcome,
        "jobs": total,
        "counts": counts,
        "duration_s": round(duration, 3),
        "halted": halted,
        "unsuccessful": unsuccessful,
    }


def deck_variables(facts: Mapping[str, Any]) -> dict[str, str]:
    variables = {
        "JOBDECK_HOOK": facts["hook"],
        "JOBDECK_DECK": facts["deck"],
        "JOBDECK_DECK_FILE": facts["file"],
        "JOBDECK_OUTCOME": facts["outcome"],
        "JOBDECK_JOBS": str(facts["jobs"]),
        "JOBDECK_DURATION_S": f"{facts['duration_s']:g}",
        "JOBDECK_HALTED": facts["halted"] or "",
    }
    for state, count in facts["counts"].items():
        variables[f"JOBDECK_{state.upper()}"] = str(count)
    return variables


def job_facts(job: Job, deck: Deck) -> dict[str, Any]:
    """What a job's `on_failure` hook is given: the job, its attempt, its error."""
    result = job.result if isinstance(job.result, dict) else {}
    return {
        "hook": "on_failure",
        "deck": deck.name,
        "file": str(deck.path),
        "job": job.name,
        "item": job.spec.item if job.spec.group is not None else None,
        "attempt": len(job.attempts),
        "error": job.error or "",
        "exit_code": result.get("exit_code"),
    }


def job_variables(facts: Mapping[str, Any]) -> dict[str, str]:
    variables = {
        "JOBDECK_HOOK": "on_failure",
        "JOBDECK_DECK": facts["deck"],
        "JOBDECK_DECK_FILE": facts["file"],
        "JOBDECK_JOB": facts["job"],
        "JOBDECK_ATTEMPT": str(facts["attempt"]),
        "JOBDECK_ERROR": facts["error"],
    }
    if facts["item"] is not None:
        variables["JOBDECK_ITEM"] = str(facts["item"])
    if facts["exit_code"] is not None:
        variables["JOBDECK_EXIT_CODE"] = str(facts["exit_code"])
    return variables


async def run_hook(
    call: HookCall,
    record: HookRun,
    *,
    mask: Callable[[str], str],
    grace_period: float,
    timeout: float = HOOK_TIMEOUT_S,
    guardian: GroupGuardian | None = None,
) -> None:
    """Run the hook to its end (or its timeout), filling in `record`; never raises but for cancellation.
    `guardian` (the shell jobs' own) ends its group should jobdeck be killed while it runs."""

    def keep(stream: str, text: str) -> None:
        text = mask(text)
        record.output.append(text)
        del record.output[:-HOOK_LINES_KEPT]
        log.info("%s %s %s: %s", record.deck, record.hook, stream, text)

    try:
        with anyio.CancelScope(shield=True):  # a cancel during the start would leave the hook running unseen
            process = await anyio.open_process(
                ["/bin/sh", "-c", call.command],
                cwd=call.folder,
                env={**call.environ, **call.variables},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=-1 if call.umask is None else call.umask,
            )
    except OSError as failure:
        _ended(record, f"could not start: {failure.strerror or failure}", ok=False)
        return
    if guardian is not None:
        guardian.track(process.pid)
    try:
        returncode = await _feed_and_wait(process, json.dumps(call.facts).encode() + b"\n", keep, timeout)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await end_group(process, grace_period)
        _ended(record, "stopped: jobdeck stopped", ok=False)
        raise
    finally:
        if guardian is not None:
            guardian.untrack(process.pid)
    if returncode is None:
        with anyio.CancelScope(shield=True):
            await end_group(process, grace_period)
        _ended(record, f"timed out after {timeout:g} s", ok=False)
    else:
        _ended(record, describe_exit(returncode), ok=returncode == 0)


async def _feed_and_wait(
    process: Process, stdin: bytes, keep: Callable[[str, str], None], timeout: float
) -> int | None:
    """The hook's exit status, or None when it ran past `timeout`."""
    assert process.stdin is not None and process.stdout is not None
    with anyio.move_on_after(timeout):
        async with anyio.create_task_group() as pumps:
            pumps.start_soon(pump_lines, process.stdout, "output", keep)
            try:
                await process.stdin.send(stdin)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass  # a hook that does not read its stdin
            finally:
                await process.stdin.aclose()
            returncode = await process.wait()
            if group_exists(process.pid):  # children left behind hold the pipe open: end them
                await end_group(process, 0.5)
        return returncode
    return None


HOOK_LOG_NAME = "hooks.log"


def add_to_hook_log(folder: Path, record: HookRun) -> None:
    """Append the hook's run to `hooks.log` in `folder` (the deck run's log folder: 0700, the file 0600), which
    goes with the deck's job logs. Blocking: call it on a worker thread."""
    make_private_folder(folder)
    path = folder / HOOK_LOG_NAME
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started_at))
    lines = [f"[jobdeck] {started} {record.hook}: {record.command}", *record.output, f"[jobdeck] {record.line()}"]
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with open(descriptor, "a", encoding="utf-8", errors="replace") as file:
        file.write("\n".join(lines) + "\n")
    record.log = path


def _ended(record: HookRun, outcome: str, *, ok: bool) -> None:
    record.ended_at = time.time()
    record.outcome = outcome
    record.ok = ok
    # INFO even when it failed: a log at WARNING would reach the terminal of `jobdeck run`, which says it itself.
    log.info("%s %s", record.deck, record.line())
