"""The wire protocol between the jobdeck server and its clients, and plain-data views of jobs.

Messages are JSON objects in frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
A length prefix lets the reader refuse an oversized message before reading (or buffering) any of it,
and a garbage prefix simply reads as a huge or invalid length, so a hostile peer costs at most one
small read; newline-delimited JSON would have to buffer up to the limit while looking for the newline.

Every connection starts with a `hello` request carrying `protocol` (PROTOCOL_VERSION) and `version`
(jobdeck's version); a server of another protocol answers with a `version` error naming both.
Requests are `{"id", "op", "args"}`; responses are `{"id", "ok": true, "result"}` or
`{"id", "ok": false, "error": {"kind", "message"}}`.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from anyio.abc import ByteSendStream
from anyio.streams.buffered import BufferedByteReceiveStream

from runner.model import Attempt, CallSpec, FetchSpec, Job, JobState, OutputLine, Progress, ShellSpec
from runner.report import json_safe

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 1024 * 1024
"""A frame longer than this is refused with a `too_large` error and the connection is closed."""
HEADER = struct.Struct(">I")
OPS = frozenset({"hello", "load", "command", "snapshot", "output", "status", "stop"})
COMMANDS = frozenset({"pause", "resume", "cancel", "retry", "pause_all", "resume_all", "retry_failed", "cancel_all"})
JOB_COMMANDS = frozenset({"pause", "resume", "cancel", "retry"})
OUTPUT_LINES_PER_REPLY = 2000


def jobdeck_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jobdeck")
    except PackageNotFoundError:
        return "unknown"


class ProtocolError(Exception):
    """A message that breaks the protocol; `fatal` ones close the connection after the error is sent."""

    def __init__(self, kind: str, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.fatal = fatal


def encode(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message too large ({len(payload)} bytes; the limit is {MAX_MESSAGE_BYTES})")
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError) as bad:
        raise ProtocolError("bad_message", f"message is not UTF-8 JSON: {bad}") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", "message is not a JSON object")
    return message


async def send_message(stream: ByteSendStream, message: dict[str, Any]) -> None:
    await stream.send(encode(message))


async def receive_message(stream: BufferedByteReceiveStream) -> dict[str, Any]:
    """The next message; anyio.IncompleteRead/EndOfStream when the peer hangs up; fatal ProtocolError when
    the frame is too large (its payload is never read)."""
    (length,) = HEADER.unpack(await stream.receive_exactly(HEADER.size))
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "too_large", f"message too large ({length} bytes; the limit is {MAX_MESSAGE_BYTES})", fatal=True
        )
    return decode(await stream.receive_exactly(length))


def hello_args() -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "version": jobdeck_version()}


def version_mismatch(client_protocol: Any, client_version: Any) -> str:
    return (
        f"protocol mismatch: this jobdeck server speaks protocol {PROTOCOL_VERSION} (jobdeck {jobdeck_version()}), "
        f"the client speaks protocol {client_protocol} (jobdeck {client_version}); "
        "stop the old server with `jobdeck stop-server` (from the version that started it) and try again"
    )


# --- jobs as plain data ---------------------------------------------------------------------------------


def spec_summary(job: Job) -> dict[str, Any]:
    """What a viewer shows of a job's spec; not enough to rebuild the JobSpec (headers may hold templates)."""
    spec = job.spec
    summary: dict[str, Any] = {
        "after": list(spec.after),
        "retries": spec.retries,
        "backoff": spec.backoff,
        "timeout": spec.timeout,
        "line": spec.line,
        "group": spec.group,
        "item": json_safe(spec.item),
    }
    work = spec.work
    if isinstance(work, FetchSpec):
        summary.update(url=work.url, method=work.method, save=None if work.save is None else str(work.save))
    elif isinstance(work, CallSpec):
        summary.update(target=work.target, on=work.on)
    elif isinstance(work, ShellSpec):
        summary.update(command=work.command, cwd=str(work.cwd))
    return summary


def attempt_to_dict(job: Job) -> list[dict[str, Any]]:
    return [{**attempt.to_dict(), "running_since": attempt.running_since} for attempt in job.attempts]


def job_to_dict(job: Job) -> dict[str, Any]:
    progress = job.progress
    return {
        "id": job.id,
        "deck": job.deck,
        "name": job.name,
        "kind": job.kind.value,
        "state": job.state.value,
        "attempts": attempt_to_dict(job),
        "progress": None
        if progress is None
        else {"done": progress.done, "total": progress.total, "unit": progress.unit},
        "error": job.error,
        "traceback": job.traceback,
        "result": json_safe(job.result),
        "note": job.note,
        "order": job.order,
        "finished_seq": job.finished_seq,
        "revision": job.revision,
        "output_lines": len(job.output),
        "spec": spec_summary(job),
    }


@dataclass
class JobView:
    """A client's mirror of a server job, with the attribute names the TUI reads from a Job.

    `spec` is the summary dict of `spec_summary`, not a JobSpec. `output` holds only the lines fetched
    with the `output` op (`merge_output`), not the server's whole tail.
    """

    id: str
    deck: str
    name: str
    kind: str
    state: JobState
    attempts: list[Attempt] = field(default_factory=list)
    progress: Progress | None = None
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    note: str | None = None
    order: int = 0
    finished_seq: int = 0
    revision: int = 0
    output_lines: int = 0
    spec: dict[str, Any] = field(default_factory=dict)
    output: deque[OutputLine] = field(default_factory=deque)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobView:
        progress = data.get("progress")
        return cls(
            id=data["id"],
            deck=data["deck"],
            name=data["name"],
            kind=data["kind"],
            state=JobState(data["state"]),
            attempts=[
                Attempt(
                    number=a["number"],
                    started_at=a["started_at"],
                    ended_at=a.get("ended_at"),
                    outcome=JobState(a["outcome"]) if a.get("outcome") else None,
                    error=a.get("error"),
                    active_s=a.get("active_s", 0.0),
                    running_since=a.get("running_since"),
                )
                for a in data.get("attempts", [])
            ],
            progress=None if progress is None else Progress(progress["done"], progress["total"], progress["unit"]),
            error=data.get("error"),
            traceback=data.get("traceback"),
            result=data.get("result"),
            note=data.get("note"),
            order=data.get("order", 0),
            finished_seq=data.get("finished_seq", 0),
            revision=data.get("revision", 0),
            output_lines=data.get("output_lines", 0),
            spec=data.get("spec", {}),
        )

    def update(self, data: dict[str, Any]) -> None:
        """Take a newer snapshot of the same job, keeping the output already fetched."""
        fresh = JobView.from_dict(data)
        fresh.output = self.output
        self.__dict__.update(fresh.__dict__)

    def merge_output(self, lines: list[dict[str, str]]) -> None:
        self.output.extend(OutputLine(line["stream"], line["text"]) for line in lines)

    @property
    def current_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def attempt_running(self) -> bool:
        attempt = self.current_attempt
        return attempt is not None and attempt.ended_at is None

    @property
    def duration_s(self) -> float | None:
        attempt = self.current_attempt
        return attempt.active_s if attempt else None


def output_lines(job: Job, start: int, limit: int = OUTPUT_LINES_PER_REPLY) -> list[dict[str, str]]:
    """Lines of the job's output tail from index `start` (an index into the tail as it is now)."""
    lines = list(job.output)[max(0, start) : max(0, start) + limit]
    return [{"stream": line.stream, "text": line.text} for line in lines]
