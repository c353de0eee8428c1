"""Exceptions that say what went wrong: in a job file, in one attempt of a job, or in a command."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a job file, located as precisely as we can."""

    path: Path
    message: str
    line: int | None = None
    column: int | None = None
    job: str | None = None
    key: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        subject = []
        if self.job is not None:
            subject.append(f"job {self.job!r}")
        if self.key is not None:
            subject.append(f"key {self.key!r}")
        text = f"{where}: "
        if subject:
            text += ", ".join(subject) + ": "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class DeckError(Exception):
    """A job file that cannot be loaded; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class DeckAlreadyLoaded(Exception):
    """A job file whose same jobs are loaded already and not all finished: nothing was loaded. `deck` names the
    earlier deck and `unfinished` counts its unfinished jobs, when known."""

    def __init__(self, message: str, *, deck: str | None = None, unfinished: int | None = None) -> None:
        super().__init__(message)
        self.deck = deck
        self.unfinished = unfinished


class JobError(Exception):
    """One attempt of a job failed.

    `retryable` says whether the job's retries apply; `retry_after` (seconds) overrides the backoff delay
    when the other side asked for one (HTTP Retry-After). `result` is what the failed attempt still has to say
    as its job's result (a shell job's exit code), if anything.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        traceback: str | None = None,
        result: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.traceback = traceback
        self.result = result


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""A write refused for want of space (or quota): it may succeed later, once space is freed."""


def disk_full_error(error: BaseException, path: str | Path | None = None) -> JobError | None:
    """A retryable JobError for a write that found the disk full ("disk full writing PATH: No space left on
    device"); None for any other error. `path`: the file written, when the error does not name it."""
    if not isinstance(error, OSError) or error.errno not in DISK_FULL_ERRNOS:
        return None
    where = path if path is not None else error.filename
    target = f" {where}" if where is not None else ""
    return JobError(f"disk full writing{target}: {error.strerror or error}", retryable=True)


class CommandError(Exception):
    """A command the engine cannot carry out, such as retrying a job that is still running."""


def innermost(error: BaseException) -> BaseException:
    """The exception inside groups of one (task groups wrap what their tasks raise)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def describe_error(error: BaseException) -> str:
    """How jobdeck names an exception in a message: `TypeName: message`, or the type name alone when the
    message is empty. Never raises: an exception whose `str()` fails is still named."""
    try:
        text = str(error)
    except Exception:
        text = "<message could not be shown>"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
