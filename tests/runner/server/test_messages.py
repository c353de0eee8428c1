"""Typed messages: every request round-trips through its wire form, bad args are refused with a reason, and each
request type, reply and command has exactly one definition that the server, the engine and clients follow."""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from runner.engine.engine import Engine
from runner.errors import Problem
from runner.model import Attempt, JobState, Progress
from runner.server.framing import ProtocolError
from runner.server.messages import (
    REQUESTS,
    Add,
    Command,
    Control,
    DeckStatus,
    Failure,
    Forget,
    Hello,
    History,
    HistoryReply,
    Load,
    Logs,
    Names,
    Output,
    Request,
    RunCommand,
    ServerInfo,
    Snapshot,
    Spec,
    Status,
    StatusJobs,
    StatusReply,
    StatusRows,
    Stop,
    Subscribe,
    SupplyEnvironment,
    Wait,
    parse_request,
    problem_from_dict,
    problem_to_dict,
    read_result,
    request_message,
)
from runner.server.remote import RemoteEngine
from runner.server.server import Server
from runner.server.views import JobView, JobWire
from runner.server.wire import WireError, from_wire, to_wire

EXAMPLES: list[Request[Any]] = [
    Hello.ours(),
    Load("/decks/a.toml", environ={"HOME": "/home/me"}),
    RunCommand(Command.PAUSE, "deck/job"),
    RunCommand(Command.RETRY_FAILED),
    Snapshot(since=12),
    Output("deck/job", after=3),
    Spec("deck/job"),
    History(),
    History(run="run-1"),
    Status(),
    Status(start=3),
    StatusJobs("deck", start=500),
    Stop(),
    Load("/decks/a.toml", environ={"HOME": "/home/me"}, umask=0o022),
    SupplyEnvironment("deck", environ={"MY_TOKEN": "t"}, umask=0o027),
    Forget(deck="deck"),
    Forget(finished=True),
    Add("/work", {"HOME": "/home/me"}, umask=0o022, shell="make all", after=["build"], retries=2, timeout=1.5),
    Add("/work", {}, deck="nightly", name="sum", call="tasks:add", args=[1, [2.5]], kwargs={"scale": 10}),
    Control(Command.CANCEL, ["page[*]", "nightly/build"], decks=["nightly"], failed=True),
    Control(Command.RETRY, every=True),
    StatusJobs("deck", states=["failed", "cancelled"]),
    Wait(["deck", "deck/job"], within_s=5.0),
    Names("jobs", prefix="pa", limit=50),
    Logs("deck/job"),
    Logs("job", seen=[1, "running", 1, 20], wait_s=30),
    Subscribe(views=True),
    Subscribe(events=True, deck="deck"),
]


@pytest.mark.parametrize("request_", EXAMPLES, ids=lambda request: type(request).__name__)
def test_every_request_round_trips_through_json(request_: Request[Any]) -> None:
    message = json.loads(json.dumps(request_message(7, request_)))
    assert message["id"] == 7 and message["op"] == request_.op
    assert parse_request(message) == request_


@pytest.mark.anyio
async def test_every_request_type_is_listed_once_and_has_a_handler_in_the_server() -> None:
    assert {type(example) for example in EXAMPLES} == set(REQUESTS.values())
    assert all(op == kind.op for op, kind in REQUESTS.items())
    server = Server(engine=Engine(), socket_path=Path("/s"), expected_uid=0)
    assert set(server.handlers) == set(REQUESTS.values())


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"op": "explode"}, "unknown op 'explode'"),
        ({"op": "load", "args": []}, "args must be an object"),
        ({"op": "load", "args": {"path": "relative.toml"}}, "absolute path"),
        ({"op": "load", "args": {"path": "/a.toml", "environ": {"X": 1}}}, "load.environ.X: expected a string"),
        ({"op": "command", "args": {"command": "explode"}}, "known: pause, resume"),
        ({"op": "command", "args": {"command": "pause"}}, "pause needs a job id"),
        ({"op": "output", "args": {}}, "job is missing"),
        ({"op": "snapshot", "args": {"since": True}}, "since: expected an integer"),
        ({"op": "history", "args": {"run": 5}}, "history.run: expected a string"),
        ({"op": "load", "args": {"path": "/a.toml", "umask": 0o1777}}, "a umask is a number from 0 to 0o777"),
        ({"op": "environment", "args": {"deck": "d"}}, "environ is missing"),
        ({"op": "add", "args": {"folder": "/w", "environ": {}}}, "either shell or call"),
        ({"op": "add", "args": {"folder": "w", "environ": {}, "shell": "x"}}, "absolute folder"),
        ({"op": "add", "args": {"folder": "/w", "environ": {}, "shell": "x", "retries": -1}}, "retries must be 0"),
        ({"op": "control", "args": {"action": "pause"}}, "control needs jobs, decks, failed or every"),
        ({"op": "control", "args": {"action": "retry_failed", "every": True}}, "is not a job command"),
        ({"op": "subscribe", "args": {}}, "subscribe to views, events or both"),
    ],
)
def test_requests_that_do_not_fit_their_type_are_refused_with_the_reason(message: dict[str, Any], reason: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_request(message)
    assert refused.value.kind == "bad_request" and not refused.value.fatal
    assert reason in refused.value.message


def test_a_hello_of_any_shape_is_read_so_that_the_version_check_can_answer_it() -> None:
    assert parse_request({"op": "hello", "args": {"protocol": "two", "version": None}}) == Hello("two", None)


def test_replies_are_read_as_their_request_says() -> None:
    info = ServerInfo(pid=1, version="1.0", protocol=1, socket="/s", journal=None, restored=["x"])
    deck = DeckStatus("d", "/d.toml", 3, {"queued": 3})
    status = read_result(Status(), json.loads(json.dumps(to_wire(StatusReply(info, [deck], next=1)))))
    assert status.server == info and status.decks == [deck] and status.next == 1
    rows = read_result(StatusJobs("d"), json.loads(json.dumps(to_wire(StatusRows([{"name": "a"}], next=None)))))
    assert rows == StatusRows([{"name": "a"}], None)
    assert read_result(RunCommand(Command.RETRY_FAILED), 2) == 2
    assert read_result(History(), {"runs": [], "journal": None}) == HistoryReply()
    with pytest.raises(WireError, match="status reply: server is missing"):
        read_result(Status(), {"decks": []})


def test_the_commands_are_the_engines_and_the_remote_engines_methods() -> None:
    """One vocabulary: the server calls the engine's method of each command's name."""
    for command in Command:
        for engine in (Engine, RemoteEngine):
            method = getattr(engine, command.value)
            assert inspect.iscoroutinefunction(method), (engine, command)
            takes_job = len(inspect.signature(method).parameters) == 2  # self and the job
            assert takes_job == command.takes_job, (engine, command)


def test_a_job_view_mirrors_every_field_of_the_job_wire_schema() -> None:
    assert [field.name for field in fields(JobWire)] == [
        *(field.name for field in fields(JobView) if field.name not in ("spec", "output", "output_seen")),
        "spec",
    ]
    wire = JobWire(
        id="d/j",
        deck="d",
        name="j",
        kind="shell",  # type: ignore[arg-type]
        state=JobState.FAILED,
        attempts=[Attempt(number=1, started_at=1.0, ended_at=2.0, outcome=JobState.FAILED, error="boom")],
        progress=Progress(1, 2, "bytes"),
        spec={"command": "false", "target": "false", "retries": 1},  # as the shell kind sends it
    )
    data = json.loads(json.dumps(wire.to_dict()))
    assert data["state"] == "failed" and data["attempts"][0]["outcome"] == "failed"
    view = JobView.from_dict(data)
    assert view.state is JobState.FAILED and view.attempts == wire.attempts and view.progress == wire.progress
    assert view.spec.target == "false" and view.spec.retries == 1


def test_problems_and_failures_keep_their_wire_shape() -> None:
    problem = Problem(Path("/d.toml"), "bad key", line=3, column=1, job="j", key="retires", hint="retries")
    data = problem_to_dict(problem)
    assert data["path"] == "/d.toml" and problem_from_dict(json.loads(json.dumps(data))) == problem
    assert Failure("command", "no").to_dict() == {"kind": "command", "message": "no"}
    assert Failure("deck", "bad", [problem]).to_dict()["problems"] == [data]


class Colour(StrEnum):
    RED = "red"


def test_the_codec_checks_types_and_says_where_the_data_does_not_fit() -> None:
    assert from_wire(list[tuple[str, int]], [["a", 1]]) == [("a", 1)]
    assert from_wire(tuple[str, ...], ["a", "b"]) == ("a", "b")
    assert from_wire(dict[str, Colour], {"x": "red"}) == {"x": Colour.RED}
    assert from_wire(float, 3) == 3.0 and from_wire(Path, "/x") == Path("/x")
    for hint, data, where in [
        (list[int], [1, "2"], "[1]: expected an integer"),
        (int, 1.5, "expected an integer"),
        (bool, 1, "expected true or false"),
        (Colour, "blue", "unknown 'blue'; known: red"),
        (tuple[str, str], ["a"], "expected a list of 2"),
        (str | None, 3, "expected a string"),
    ]:
        with pytest.raises(WireError, match=re.escape(where)):
            from_wire(hint, data)
