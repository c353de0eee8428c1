"""The small object a call job's function can ask for to report progress and honour pause and cancel.

```python
from runner import job_context

def count_primes(limit):
    ctx = job_context()
    for n in range(limit):
        if n % 10_000 == 0:
            ctx.progress(n, limit)
            ctx.checkpoint()   # thread jobs pause and cancel here
        ...
```

Outside a job (a plain call from a test or a REPL) `job_context()` returns a context that does nothing,
so job functions stay ordinary functions.
"""

from __future__ import annotations

from contextvars import ContextVar


class JobContext:
    """What a running call job can do. This base class is the do-nothing context used outside jobs."""

    job_name: str = ""

    def progress(self, done: float, total: float | None = None) -> None:
        """Report how far the job is: `done` out of `total` (None when unknown)."""

    def checkpoint(self) -> None:
        """A safe point to stop at.

        In a thread job this blocks while the job is paused and raises when it was cancelled; a thread
        cannot be stopped any other way. In a process job it does nothing: the process itself is
        suspended or killed.
        """

    @property
    def cancelled(self) -> bool:
        """True once the job was asked to stop; for code that prefers to clean up by itself."""
        return False


_current: ContextVar[JobContext | None] = ContextVar("jobdeck_job_context", default=None)
_NO_JOB = JobContext()


def job_context() -> JobContext:
    """The context of the call job this code runs in (a no-op context outside any job)."""
    return _current.get() or _NO_JOB


def set_job_context(context: JobContext | None) -> object:
    """Install `context` for the current thread of execution; returns a token for `reset_job_context`."""
    return _current.set(context)


def reset_job_context(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
