from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from runner.model import (
    LAST_OUTPUT_CHARS,
    Attempt,
    Job,
    JobSpec,
    JobState,
    Kind,
    OutputLine,
    Progress,
    ShellSpec,
)
from runner.server.framing import HEADER, MAX_MESSAGE_BYTES, ProtocolError, decode, encode, receive_message
from runner.server.messages import PROTOCOL_VERSION, version_mismatch
from runner.server.previews import json_bytes
from runner.server.protocol import job_to_dict, output_since, snapshot_jobs
from runner.server.views import JobView
from runner.server.wire import to_wire


def make_job() -> Job:
    spec = JobSpec(name="build", kind=Kind.SHELL, work=ShellSpec(command="make", cwd=Path("/src")), retries=2)
    job = Job(id="deck/build", deck="deck", spec=spec, state=JobState.RUNNING, order=3, revision=7)
    job.attempts.append(Attempt(number=1, started_at=time.time() - 2, running_since=time.time() - 1, active_s=1.0))
    job.progress = Progress(5, 10, "")
    job.result = {1, 2}  # not JSON: carried as its repr
    job.output.extend([OutputLine("stdout", "one"), OutputLine("stderr", "two"), OutputLine("stdout", "three")])
    return job


def test_a_job_round_trips_into_a_job_view_with_the_attributes_the_tui_reads() -> None:
    job = make_job()
    job.output_total = 3
    data = json.loads(json.dumps(job_to_dict(job)))
    view = JobView.from_dict(data)
    assert (view.id, view.deck, view.name, view.kind, view.state) == ("deck/build", "deck", "build", "shell", "running")
    assert view.kind is Kind.SHELL
    assert (view.order, view.revision, view.finished_seq, view.output_total) == (3, 7, 0, 3)
    assert view.progress == Progress(5, 10, "")
    assert view.result == repr({1, 2}) and view.result_type == "set"
    assert view.spec.target == "make" and view.spec.retries == 2 and view.spec.lines is None
    attempt = view.attempts[0]
    assert attempt.number == 1 and attempt.running_since == job.attempts[0].running_since
    assert view.attempt_running and view.duration_s == 1.0
    view.merge_output(output_since(job, 1))
    assert [line.text for line in view.output] == ["two", "three"] and view.output_seen == 3
    view.spec.lines = [("kind", "shell")]
    job.state = JobState.SUCCEEDED
    view.update(job_to_dict(job))
    assert view.state is JobState.SUCCEEDED and len(view.output) == 2 and view.spec.lines == [("kind", "shell")]


def test_every_job_view_carries_the_start_of_its_last_output_line_for_the_panes() -> None:
    job = make_job()
    job.output.extend([OutputLine("stdout", "x" * 5000), OutputLine("log", "the engine's note")])
    view = JobView.from_dict(json.loads(json.dumps(job_to_dict(job))))
    assert view.last_output == "x" * LAST_OUTPUT_CHARS, "the work's last line, not the note; cut short"
    assert view.output == deque(), "and no other output unless asked for"
    quiet = Job(id="deck/quiet", deck="deck", spec=job.spec)
    assert JobView.from_dict(job_to_dict(quiet)).last_output is None
    assert quiet._extras is None, "asking made no output tail"


def test_output_is_asked_for_by_line_number_and_survives_the_tail_dropping_lines() -> None:
    job = make_job()
    job.output_total = 3
    view = JobView.from_dict(job_to_dict(job))
    view.merge_output(output_since(job, 0))
    assert [line.text for line in view.output] == ["one", "two", "three"]
    assert output_since(job, 3).lines == []
    # Five more lines while the tail keeps only four: the view had seen 3 lines, the tail now starts at line 4.
    job.output = deque(maxlen=4)
    job.output.extend(OutputLine("stdout", f"line {number}") for number in range(4, 8))
    job.output_total = 8
    reply = output_since(job, view.output_seen)
    assert reply.first == 4 and reply.total == 8
    view.merge_output(reply)
    assert [line.text for line in view.output] == ["line 4", "line 5", "line 6", "line 7"]
    assert view.output_seen == 8


def test_snapshots_are_cut_at_a_size_and_continue_from_the_last_revision_sent() -> None:
    jobs = []
    for number in range(1, 6):
        job = make_job()
        job.id, job.revision = f"deck/job{number}", number * 10
        job.traceback = "x" * 300
        jobs.append(job)
    first, more = snapshot_jobs(list(reversed(jobs)), budget=1500)
    assert 1 <= len(first) < 5 and more == first[-1]["revision"]
    assert [data["revision"] for data in first] == sorted(data["revision"] for data in first)
    rest, done = snapshot_jobs([job for job in jobs if job.revision > more], budget=10**6)
    assert done is None
    assert [data["id"] for data in first + rest] == [job.id for job in jobs]


def test_huge_texts_are_cut_from_the_front() -> None:
    job = make_job()
    job.traceback = "start " + "y" * 200_000 + " the end"
    data = job_to_dict(job)
    assert len(data["traceback"]) < 70_000 and data["traceback"].endswith("the end")
    assert "characters cut" in data["traceback"]


def test_frames_round_trip_and_refuse_what_is_not_a_json_object() -> None:
    frame = encode({"id": 1, "op": "hello"})
    assert HEADER.unpack(frame[:4])[0] == len(frame) - 4
    assert decode(frame[4:]) == {"id": 1, "op": "hello"}
    for bad in (b"\xff\xfe", b"[1, 2]", b"{nope"):
        with pytest.raises(ProtocolError) as refused:
            decode(bad)
        assert refused.value.kind == "bad_message"
    with pytest.raises(ProtocolError, match="message too large"):
        encode({"blob": "x" * MAX_MESSAGE_BYTES})


def test_frames_keep_what_the_fast_encoder_refuses_and_count_bytes_as_sent() -> None:
    """Frames are written by orjson, which refuses integers beyond 64 bits and keys that are not strings:
    those still go, through json, unchanged; and a job's size is counted in the bytes actually sent."""
    huge = {"result": 2**100, "by_number": {1: "one"}}
    assert decode(encode(huge)[4:]) == {"result": 2**100, "by_number": {"1": "one"}}
    for edge in (2**64 - 1, -(2**63), -(2**63) - 1, -(10**19) + 1, 10**19):  # orjson would read some as floats
        assert decode(encode({"result": edge})[4:]) == {"result": edge}
    assert decode(encode({"text": "\ud800 alone"})[4:]) == {"text": "\ud800 alone"}, "json's escape, read back"
    text = {"line": "é" * 1000}
    assert len(encode(text)) - 4 == json_bytes(text) == len('{"line":""}') + 2000  # UTF-8, not \u00e9 escapes
    assert decode(encode({"ratio": float("nan")})[4:]) == {"ratio": None}


@pytest.mark.anyio
async def test_an_oversized_frame_is_refused_before_its_payload_is_read() -> None:
    send, receive = anyio.create_memory_object_stream[bytes](10)
    await send.send(HEADER.pack(MAX_MESSAGE_BYTES + 1))
    with pytest.raises(ProtocolError, match="message too large") as refused:
        await receive_message(BufferedByteReceiveStream(receive))
    assert refused.value.fatal
    send.close()
    receive.close()


def test_the_version_mismatch_message_names_both_versions_and_what_to_do() -> None:
    text = version_mismatch(99, "9.9")
    assert f"protocol {PROTOCOL_VERSION}" in text and "protocol 99" in text and "jobdeck 9.9" in text
    assert "stop-server" in text


def test_long_output_lines_come_in_replies_that_fit_a_frame() -> None:
    job = make_job()
    job.output = deque(OutputLine("stdout", "z" * 4000) for _ in range(2000))
    job.output_total = 2000
    seen = 0
    replies = 0
    while seen < job.output_total:
        reply = output_since(job, seen)
        assert len(encode({"id": 1, "ok": True, "result": to_wire(reply)})) < MAX_MESSAGE_BYTES
        seen = reply.total
        replies += 1
    assert replies > 1
