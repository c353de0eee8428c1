"""A job as the wire carries it (`JobWire`: the one schema the server writes and clients read), and a client's
mirror of a server job (`JobView`), with the attribute names the TUI reads from a Job."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from runner.model import OUTPUT_TAIL_LINES, Attempt, AttemptsMixin, JobState, Kind, OutputLine, Progress
from runner.server.wire import WireError, from_wire, to_wire


@dataclass
class JobFields:
    """What a server says of a job, besides its spec: the fields a JobWire carries and a JobView mirrors."""

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
    last_output: str | None = None
    """The start of the job's last output line (runner.model.Job.last_output): a pane shows it in the row."""
    status: str | None = None
    """What its running attempt says it is doing (runner.model.Job.status)."""


@dataclass
class JobWire(JobFields):
    """A job on the wire: its fields, and `spec`, the summary a viewer shows of its spec (protocol.spec_summary)."""

    spec: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = to_wire(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobWire:
        wire: JobWire = from_wire(cls, data, "job")
        return wire


@dataclass
class SpecView:
    """What a client knows of a server job's spec: enough for the panes, and the redacted lines the detail
    view shows once fetched with the `spec` request (None until then)."""

    retries: int = 0
    after: tuple[str, ...] = ()
    group: str | None = None
    item: Any = None
    target: str = ""
    lines: list[tuple[str, str]] | None = None

    @classmethod
    def __wire_decode__(cls, data: Any, where: str) -> SpecView:
        """A job's spec summary (protocol.spec_summary) read as a SpecView."""
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object, got {type(data).__name__}")
        return cls.from_summary(data)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> SpecView:
        target = summary.get("target") or ""  # every kind's wire fields carry it (runner.kinds.summary)
        return cls(
            retries=int(summary.get("retries", 0)),
            after=tuple(summary.get("after", ())),
            group=summary.get("group"),
            item=summary.get("item"),
            target=str(target),
        )


@dataclass
class OutputChunk:
    """Output lines of a job: `first` is the number of the first line sent (counting every line the job ever
    wrote), `total` the number after the last."""

    lines: list[OutputLine]
    first: int
    total: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputChunk:
        chunk: OutputChunk = from_wire(cls, data, "output")
        return chunk


@dataclass
class JobView(JobFields, AttemptsMixin):
    """A client's mirror of a server job.

    `spec` is a SpecView, not a JobSpec. `output` holds only the lines fetched with the `output` request
    (`merge_output`); `output_seen` counts them, as an index into the server's `output_total`.
    """

    spec: SpecView = field(default_factory=SpecView)
    output: deque[OutputLine] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL_LINES), metadata={"wire": False})
    output_seen: int = field(default=0, metadata={"wire": False})

    @classmethod
    def from_wire(cls, wire: JobWire) -> JobView:
        shared = dict(wire.__dict__)  # every JobFields field, and the spec summary
        shared["spec"] = SpecView.from_summary(wire.spec)
        return cls(**shared)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobView:
        """A job's wire view (a JobWire's JSON), read straight into a view (a mirror of thousands of jobs is
        refreshed this way several times a second)."""
        view: JobView = from_wire(cls, data, "job")
        return view

    def update(self, data: dict[str, Any] | JobWire) -> None:
        """Take a newer snapshot of the same job, keeping the output and spec lines already fetched, and the
        spec when the snapshot comes without one (a feed sends a job's spec summary only when it changed)."""
        fresh = JobView.from_wire(data) if isinstance(data, JobWire) else JobView.from_dict(data)
        fresh.output, fresh.output_seen = self.output, self.output_seen
        fresh.spec.lines = self.spec.lines
        if (isinstance(data, dict) and "spec" not in data) or fresh.spec == self.spec:
            fresh.spec = self.spec  # unchanged: views keyed on it need not redraw
        self.__dict__.update(fresh.__dict__)

    def merge_output(self, reply: dict[str, Any] | OutputChunk) -> None:
        """Add the lines of an `output` reply; when the server's tail already dropped lines this view had not
        seen, the view starts again from the reply (it holds the server's tail from then on)."""
        chunk = reply if isinstance(reply, OutputChunk) else OutputChunk.from_dict(reply)
        if chunk.first > self.output_seen:
            self.output.clear()
        self.output.extend(chunk.lines)
        self.output_seen = chunk.total
