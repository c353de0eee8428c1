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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from anyio.abc import ByteSendStream
from anyio.streams.buffered import BufferedByteReceiveStream

from runner.errors import Problem
from runner.kinds.summary import wire_fields
from runner.model import (
    OUTPUT_TAIL_LINES,
    Attempt,
    AttemptsMixin,
    Job,
    JobState,
    Kind,
    OutputLine,
    Progress,
)
from runner.report import json_safe

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 1024 * 1024
"""A frame longer than this is refused with a `too_large` error and the connection is closed."""
HEADER = struct.Struct(">I")
OPS = frozenset({"hello", "load", "command", "snapshot", "output", "spec", "history", "status", "stop"})
COMMANDS = frozenset({"pause", "resume", "cancel", "retry", "pause_all", "resume_all", "retry_failed", "cancel_all"})
JOB_COMMANDS = frozenset({"pause", "resume", "cancel", "retry"})
OUTPUT_LINES_PER_REPLY = 2000
SNAPSHOT_BYTES = 512 * 1024
"""A snapshot reply stops adding jobs past this size (and says `more`), well inside MAX_MESSAGE_BYTES."""
TEXT_FIELD_CHARS = 64 * 1024
"""Error, traceback and result texts longer than this are cut (from the front: their ends say most)."""


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


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    return {**asdict(problem), "path": str(problem.path)}


def problem_from_dict(data: dict[str, Any]) -> Problem:
    fields = {key: data.get(key) for key in ("line", "column", "job", "key", "hint")}
    return Problem(Path(str(data.get("path", ""))), str(data.get("message", "")), **fields)


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
    return {
        "after": list(spec.after),
        "retries": spec.retries,
        "backoff": spec.backoff,
        "timeout": spec.timeout,
        "line": spec.line,
        "group": spec.group,
        "item": json_safe(spec.item),
        **wire_fields(spec),
    }


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
        "error": _cut(job.error),
        "traceback": _cut(job.traceback),
        "result": _cut_result(json_safe(job.result)),
        "result_type": job.result_type,
        "note": job.note,
        "order": job.order,
        "finished_seq": job.finished_seq,
        "revision": job.revision,
        "output_total": job.output_total,
        "spec": spec_summary(job),
    }


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= TEXT_FIELD_CHARS:
        return text
    return f"… ({len(text) - TEXT_FIELD_CHARS} characters cut)\n" + text[-TEXT_FIELD_CHARS:]


def _cut_result(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    encoded = json.dumps(value)
    return value if len(encoded) <= TEXT_FIELD_CHARS else _cut(encoded)


def snapshot_jobs(jobs: list[Job], budget: int = SNAPSHOT_BYTES) -> tuple[list[dict[str, Any]], int | None]:
    """The changed jobs' dicts, oldest change first, within about `budget` bytes of JSON; and the revision
    to continue from when some were left for the next reply (None when all fit). Revisions are unique per
    change, so a client that asks again `since` that revision misses nothing, whatever changed meanwhile."""
    jobs = sorted(jobs, key=lambda job: job.revision)
    chosen: list[dict[str, Any]] = []
    size = 0
    for job in jobs:
        data = job_to_dict(job)
        size += len(json.dumps(data, separators=(",", ":")))
        if chosen and size > budget:
            return chosen, chosen[-1]["revision"]
        chosen.append(data)
    return chosen, None


@dataclass
class SpecView:
    """What a client knows of a server job's spec: enough for the panes, and the redacted lines the detail
    view shows once fetched with the `spec` op (None until then)."""

    retries: int = 0
    after: tuple[str, ...] = ()
    group: str | None = None
    item: Any = None
    target: str = ""
    lines: list[tuple[str, str]] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpecView:
        target = data.get("url") or data.get("target") or data.get("command") or ""
        return cls(
            retries=int(data.get("retries", 0)),
            after=tuple(data.get("after", ())),
            group=data.get("group"),
            item=data.get("item"),
            target=str(target),
        )


@dataclass
class JobView(AttemptsMixin):
    """A client's mirror of a server job, with the attribute names the TUI reads from a Job.

    `spec` is a SpecView, not a JobSpec. `output` holds only the lines fetched with the `output` op
    (`merge_output`); `output_seen` counts them, as an index into the server's `output_total`.
    """

    id: str
    deck: str
    name: str
    kind: Kind
    state: JobState
    attempts: list[Attempt] = field(default_factory=list)
    progress: Progress | None = None
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    result_type: str = "NoneType"
    note: str | None = None
    order: int = 0
    finished_seq: int = 0
    revision: int = 0
    output_total: int = 0
    spec: SpecView = field(default_factory=SpecView)
    output: deque[OutputLine] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL_LINES))
    output_seen: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobView:
        progress = data.get("progress")
        return cls(
            id=data["id"],
            deck=data["deck"],
            name=data["name"],
            kind=Kind(data["kind"]),
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
                    worker=a.get("worker"),
                )
                for a in data.get("attempts", [])
            ],
            progress=None if progress is None else Progress(progress["done"], progress["total"], progress["unit"]),
            error=data.get("error"),
            traceback=data.get("traceback"),
            result=data.get("result"),
            result_type=data.get("result_type", "NoneType"),
            note=data.get("note"),
            order=data.get("order", 0),
            finished_seq=data.get("finished_seq", 0),
            revision=data.get("revision", 0),
            output_total=data.get("output_total", 0),
            spec=SpecView.from_dict(data.get("spec", {})),
        )

    def update(self, data: dict[str, Any]) -> None:
        """Take a newer snapshot of the same job, keeping the output and spec lines already fetched."""
        fresh = JobView.from_dict(data)
        fresh.output, fresh.output_seen = self.output, self.output_seen
        fresh.spec.lines = self.spec.lines
        if fresh.spec == self.spec:
            fresh.spec = self.spec  # unchanged: views keyed on it need not redraw
        self.__dict__.update(fresh.__dict__)

    def merge_output(self, reply: dict[str, Any]) -> None:
        """Add the lines of an `output` reply; when the server's tail already dropped lines this view had not
        seen, the view starts again from the reply (it holds the server's tail from then on)."""
        if reply.get("first", self.output_seen) > self.output_seen:
            self.output.clear()
        self.output.extend(OutputLine(line["stream"], line["text"]) for line in reply["lines"])
        self.output_seen = reply.get("total", self.output_seen + len(reply["lines"]))


def output_since(job: Job, after: int, limit: int = OUTPUT_LINES_PER_REPLY) -> dict[str, Any]:
    """The job's output lines from line number `after` on (counting every line it ever wrote), as far as its
    tail still holds them: `{"lines", "first": number of the first line sent, "total": number after the last}`."""
    tail = list(job.output)
    oldest = job.output_total - len(tail)
    first = max(after, oldest)
    lines = tail[first - oldest : first - oldest + limit]
    size = 0
    for count, line in enumerate(lines):  # long lines: stop well inside the frame limit; the rest comes next
        size += len(line.text) + 32
        if size > SNAPSHOT_BYTES and count:
            lines = lines[:count]
            break
    return {
        "lines": [{"stream": line.stream, "text": line.text} for line in lines],
        "first": first,
        "total": first + len(lines),
    }
