"""The jobdeck protocol, server side: what the server says about the engine's jobs.

The protocol is in three modules the client shares: runner.server.framing (frames on the socket),
runner.server.messages (typed requests and replies, the engine commands) and runner.server.views (a job as
the wire carries it, `JobWire`, and a client's mirror of one, `JobView`). This module turns engine Jobs into
those views, within the size a frame allows; the client never imports it, nor the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.kinds.summary import wire_fields
from runner.model import Job, JobSpec, OutputLine
from runner.server.messages import problem_from_dict, problem_to_dict
from runner.server.previews import (
    JOB_BYTES,
    LINE_BYTES,
    OUTPUT_LINE_BYTES,
    cut_text,
    json_bytes,
    preview_result,
    shrink,
)
from runner.server.views import JobFields, JobView, OutputChunk, SpecView
from runner.server.wire import encode_fields
from runner.values import json_safe

__all__ = [
    "JobView",
    "SpecView",
    "job_to_dict",
    "output_since",
    "problem_from_dict",
    "problem_to_dict",
    "snapshot_jobs",
    "spec_summary",
]

OUTPUT_LINES_PER_REPLY = 2000
SNAPSHOT_BYTES = 512 * 1024
"""A snapshot reply stops adding jobs past this size (and says `more`), well inside the frame limit."""
TEXT_FIELD_BYTES = 64 * 1024
"""Error and traceback texts longer than this (in bytes of JSON) are cut (from the front: their ends say most)."""


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
        "item": preview_result(json_safe(spec.item))[0],
        **{key: _cut_value(value) for key, value in wire_fields(spec).items()},
    }


def job_to_dict(job: Job, *, with_spec: bool = True) -> dict[str, Any]:
    """The job as the wire carries it (a JobWire's JSON), with long texts cut and the result as a preview when
    large (a string that says its full size), so that one job always fits in a reply. Without its spec summary
    when `with_spec` is false: a feed's reader has it already (the reader keeps what it has)."""
    data = encode_fields(JobFields, job)  # read straight from the Job: it has every field of the schema
    data.update(
        error=cut_text(job.error, TEXT_FIELD_BYTES, keep_end=True),
        traceback=cut_text(job.traceback, TEXT_FIELD_BYTES, keep_end=True),
        result=preview_result(json_safe(job.result))[0],
    )
    if with_spec:
        data["spec"] = spec_summary(job)
    return data


def bounded_job(job: Job, *, with_spec: bool = True) -> tuple[dict[str, Any], int]:
    """`job_to_dict(job)` and its size in bytes of JSON, shrunk when its long texts together (errors of many
    attempts, say) would still take more than JOB_BYTES."""
    data = job_to_dict(job, with_spec=with_spec)
    size = json_bytes(data)
    if size > JOB_BYTES:
        data = {**shrink(data), "id": data["id"], "deck": data["deck"]}
        size = json_bytes(data)
    return data, size


def _cut_value(value: Any) -> Any:
    return cut_text(value, LINE_BYTES) if isinstance(value, str) else value


def snapshot_jobs(
    jobs: list[Job], budget: int = SNAPSHOT_BYTES, known_specs: Mapping[str, JobSpec] | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """The changed jobs' wire views (JobWire dicts), oldest change first, within about `budget` bytes of JSON;
    and the revision to continue from when some were left for the next reply (None when all fit). Revisions
    are unique per change, so a client that asks again `since` that revision misses nothing, whatever changed
    meanwhile. A job whose spec is the one in `known_specs` (what a feed sent its reader) goes without it."""
    jobs = sorted(jobs, key=lambda job: job.revision)
    chosen: list[dict[str, Any]] = []
    size = 0
    for job in jobs:
        data, job_size = bounded_job(job, with_spec=known_specs is None or known_specs.get(job.id) is not job.spec)
        size += job_size
        if chosen and size > budget:
            return chosen, chosen[-1]["revision"]
        chosen.append(data)
    return chosen, None


def output_since(job: Job, after: int, limit: int = OUTPUT_LINES_PER_REPLY) -> OutputChunk:
    """The job's output lines from line number `after` on (counting every line it ever wrote), as far as its
    tail still holds them."""
    tail = list(job.output)
    oldest = job.output_total - len(tail)
    first = max(after, oldest)
    lines = tail[first - oldest : first - oldest + limit]
    size = 0
    sent: list[OutputLine] = []
    for line in lines:  # long lines: stop well inside the frame limit; the rest comes next
        text = cut_text(line.text, OUTPUT_LINE_BYTES) or ""
        size += json_bytes(text) + 32
        if size > SNAPSHOT_BYTES and sent:
            break
        sent.append(OutputLine(line.stream, text))
    return OutputChunk(sent, first, first + len(sent))
