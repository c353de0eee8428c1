"""What thread call jobs print is their own output, as a process job's is: each job's lines go to that job,
also while two print turn by turn, while it runs, and never onto jobdeck's own output (`run --json`)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState
from tests.helpers import jobdeck, wait_for

PLACE_TASKS = Path(__file__).parents[1] / "place_tasks.py"


def deck_file(folder: Path, jobs: str) -> Path:
    shutil.copy(PLACE_TASKS, folder / "places.py")
    (folder / "marker.txt").write_text(folder.name)
    deck = folder / "deck.toml"
    deck.write_text(jobs)
    return deck


def lines_of(engine: Engine, name: str) -> list[tuple[str, str]]:
    return [(line.stream, line.text) for line in engine.job(name).output]


@pytest.mark.anyio
async def test_two_thread_jobs_printing_turn_by_turn_each_get_only_their_own_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    deck = deck_file(
        tmp_path,
        f"""
        [[job]]
        name = "one"
        call = "places:talk"
        args = ["{meeting}", "one", "two", true]
        on = "thread"

        [[job]]
        name = "two"
        call = "places:talk"
        args = ["{meeting}", "two", "one", false]
        on = "thread"
        """,
    )
    async with Engine() as engine:
        await engine.load(deck)
        await anyio.sleep(0)
        print("jobdeck's own line")  # this thread runs no job: not part of any job's output
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    for me in ("one", "two"):
        assert engine.job(me).state is JobState.SUCCEEDED
        said = [
            line for turn in range(3) for line in (("stdout", f"{me} says {turn}"), ("stderr", f"{me} warns {turn}"))
        ]
        assert lines_of(engine, me) == [*said, ("stdout", f"{me} done")]
    printed = capsys.readouterr().out.splitlines()
    # Threads the job started print where jobdeck's other threads do.
    assert sorted(printed) == ["a thread one started", "a thread two started", "jobdeck's own line"]


@pytest.mark.anyio
async def test_a_thread_jobs_lines_arrive_while_it_runs(tmp_path: Path) -> None:
    go = tmp_path / "go"
    deck = deck_file(
        tmp_path,
        f'[[job]]\nname = "waits"\ncall = "places:say_then_wait"\nargs = ["{go}"]\non = "thread"\n',
    )
    async with Engine() as engine:
        await engine.load(deck)
        job = engine.job("waits")
        await wait_for(
            lambda: lines_of(engine, "waits") == [("stdout", "waiting for go")], timeout=30, what="the printed line"
        )
        assert job.state is JobState.RUNNING
        go.touch()
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    assert (job.state, job.result) == (JobState.SUCCEEDED, "went")


def test_jobdeck_run_json_prints_only_json_and_keeps_what_thread_jobs_print(tmp_path: Path) -> None:
    deck = deck_file(
        tmp_path,
        '[[job]]\nname = "where"\ncall = "places:where"\nkwargs = { say = true }\non = "thread"\n\n'
        '[[job]]\nname = "loud"\ncall = "builtins:print"\nargs = ["from a thread job"]\non = "thread"\n',
    )
    result = jobdeck("run", "--json", deck, cwd=tmp_path)  # its folder: what is tested here is the output
    assert result.returncode == 0, result.stderr
    (report,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert [job["state"] for job in report["jobs"]] == ["succeeded", "succeeded"]
    assert "from a thread job" not in result.stderr and "working in" not in result.stderr


@pytest.mark.anyio
async def test_the_output_streams_jobdeck_replaced_still_work_for_everyone_else(tmp_path: Path) -> None:
    deck = deck_file(tmp_path, '[[job]]\nname = "quiet"\ncall = "builtins:len"\nargs = ["abc"]\non = "thread"\n')
    async with Engine() as engine:
        await engine.load(deck)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    assert engine.job("quiet").result == 3
    # The stand-ins answer as the streams they replaced, for every thread that runs no job.
    assert sys.stdout.writable() and sys.stdout.isatty() == sys.stdout.fallback.isatty()  # type: ignore[union-attr]
    assert sys.stderr.encoding == sys.stderr.fallback.encoding  # type: ignore[union-attr]
