"""What runs on a Dask worker for a call job: find the function, give it a job context, send back an outcome.

Dask sends these functions by reference, so jobdeck (this package) must be importable on the workers, and
so must the job's own module: it is looked up in the job file's folder first (which exists on the workers of
a `dask = "local"` cluster, or on a shared filesystem), then on the worker's Python path. The task runs in
that folder too when the worker has it (runner.procs.job_folder: the executor thread takes a folder of its
own for the task, so tasks of other decks on the same worker keep theirs, and goes back afterwards), else in
the worker's own folder, and the job's output says so.

A worker reports to the jobdeck that submitted the task through Dask's structured events (`log_event` on
the `TOPIC` topic; the client subscribes), one small dict per event: where a task started, its progress,
and notes for the job's output. It hears about cancel through a Dask `Event` named after the task, which the
job context polls. Nothing here raises to Dask: every outcome is a plain tuple, so a job's exception never
needs to be unpickled on the client, and its traceback arrives as text.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runner.context import JobContext, reset_job_context, set_job_context
from runner.errors import JobError, describe_error
from runner.procs.callables import resolve_callable
from runner.procs.job_folder import FolderError, job_folder

TOPIC = "jobdeck"
CANCEL_CHECK_INTERVAL_S = 0.1
"""How often `checkpoint()` and `cancelled` ask the scheduler; each ask is a round trip."""
PROGRESS_INTERVAL_S = 0.05

Outcome = tuple[Any, ...]
"""("ok", value) | ("repr", text) | ("error", message, traceback, retryable) | ("cancelled",)"""


def cancel_event_name(key: str) -> str:
    return f"{key}-cancel"


class JobCancelled(BaseException):
    """Raised by `checkpoint()` in a cancelled Dask job. A BaseException, so `except Exception` in the job's
    own code does not swallow it."""


class DaskJobContext(JobContext):
    """The job context of a call running on a Dask worker: progress goes out as worker events, cancel comes
    in through a Dask Event polled at most every CANCEL_CHECK_INTERVAL_S. Pause does not apply: a task
    cannot be suspended, so jobdeck only holds back jobs that have not been submitted yet."""

    def __init__(self, key: str, job_name: str) -> None:
        from distributed import Event, get_worker

        self.job_name = job_name
        self._key = key
        self._worker = get_worker()
        self._cancel = Event(cancel_event_name(key))
        self._cancelled = False
        # The first ask waits an interval too: a short task then costs no round trip at all, and one cancelled
        # before it started is cancelled in Dask by the client.
        self._last_check = time.monotonic()
        self._last_progress = 0.0

    @property
    def worker_address(self) -> str:
        return str(self._worker.address)

    @property
    def alone(self) -> bool:
        """This worker runs one task at a time."""
        return bool(getattr(self._worker, "nthreads", 0) == 1)

    def note(self, text: str) -> None:
        """A line of jobdeck's own about this job, for its output."""
        self._send({"note": text})

    def announce_start(self) -> None:
        self._send({"started": self.worker_address})

    def progress(self, done: float, total: float | None = None) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S and (total is None or done < total):
            return
        self._last_progress = now
        self._send({"done": done, "total": total})

    def checkpoint(self) -> None:
        if self.cancelled:
            raise JobCancelled

    @property
    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_check >= CANCEL_CHECK_INTERVAL_S:
            self._last_check = now
            self._cancelled = bool(self._cancel.is_set())
        return self._cancelled

    def _send(self, message: dict[str, Any]) -> None:
        self._worker.log_event(TOPIC, {"key": self._key, **message})


def run_call(request: tuple[str, str, str, str, tuple[Any, ...], dict[str, Any], str]) -> Outcome:
    """Run one attempt of a call job on this worker; `request` is (key, job name, module, function, args,
    kwargs, job file's folder)."""
    key, job_name, module, function, args, kwargs, base_dir = request
    context = DaskJobContext(key, job_name)
    context.announce_start()
    token = set_job_context(context)
    try:
        with _in_job_folder(context, base_dir):
            target = resolve_callable(module, function, base_dir)
            value = target(*args, **kwargs)
    except JobCancelled:
        return ("cancelled",)
    except JobError as error:  # the function could not be found: retrying will not help
        message = f"{error.message} (on Dask worker {context.worker_address})"
        return ("error", message, error.traceback, False)
    except Exception as error:
        trace = error.__traceback__
        frames = trace.tb_next if trace is not None else None  # from the job's function on, without run_call
        text = "".join(traceback.format_exception(type(error), error, frames))
        return ("error", describe_error(error), text, True)
    finally:
        reset_job_context(token)
    return _portable(value)


@contextmanager
def _in_job_folder(context: DaskJobContext, folder: str) -> Iterator[None]:
    """The job file's folder if this worker has it, else the worker's own; the job's output says which."""
    try:
        with job_folder(folder, alone=context.alone) as note:
            if note is not None:
                context.note(note)
            yield
            return
    except FolderError as error:
        missing = error.reason
    context.note(
        f"runs in the Dask worker's folder {_worker_folder()}, not in the job file's folder {folder}: "
        f"{missing} on this worker"
    )
    yield


def _worker_folder() -> str:
    try:
        return os.getcwd()
    except OSError:
        return "(a removed folder)"


def _portable(value: Any) -> Outcome:
    """The result, or its repr when it cannot be pickled back to the client (a lambda, an open file)."""
    if value is None or type(value) in _PLAIN_TYPES:
        return ("ok", value)
    import cloudpickle

    try:
        cloudpickle.dumps(value)
    except Exception:
        try:
            text = repr(value)
        except Exception as error:
            text = f"<unrepresentable {type(value).__name__}: {describe_error(error)}>"
        return ("repr", text)
    return ("ok", value)


_PLAIN_TYPES = frozenset({bool, int, float, str, bytes})


def check_callable(module: str, function: str, base_dir: str) -> str | None:
    """Run on every worker before the first job of a module: None when the function is found there, else
    what is wrong."""
    try:
        resolve_callable(module, function, base_dir)
    except JobError as error:
        return error.message
    return None
