"""Jobs added to a loaded deck (`Engine.add_jobs`, behind `jobdeck add`): queued after the deck's others, waiting
for its jobs, refused whole when wrong, and run with an environment of their own when they bring one."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from runner.deck.single_job import job_text, read_single_job
from runner.engine.engine import Engine
from runner.engine.events import JobsAdded
from runner.errors import CommandError
from runner.model import JobSpec, JobState
from tests.helpers import wait_state

pytestmark = pytest.mark.anyio


def shell_job(folder: Path, name: str, command: str, after: tuple[str, ...] = ()) -> JobSpec:
    spec = read_single_job(job_text({"name": name, "shell": command}), folder, os.environ)
    return spec.with_after(after) if after else spec


def write_deck(folder: Path) -> Path:
    deck = folder / "base.toml"
    deck.write_text(
        '[deck]\nname = "base"\n\n[[job]]\nname = "ok"\nshell = "true"\n\n[[job]]\nname = "bad"\nshell = "exit 3"\n'
    )
    return deck


async def test_added_jobs_run_after_the_decks_own_and_wait_for_the_jobs_they_name(tmp_path: Path) -> None:
    async with Engine() as engine:
        await engine.load(write_deck(tmp_path))
        events = engine.subscribe()
        await wait_state(engine, "base/bad", JobState.FAILED)
        gate = shell_job(tmp_path, "gate", "while [ ! -e go ]; do sleep 0.02; done")
        (gate_job,) = await engine.add_jobs("base", [gate])
        waiting, skipped, _plain = await engine.add_jobs(
            "base",
            [
                shell_job(tmp_path, "after-gate", "pwd > where.txt", ("gate",)),
                shell_job(tmp_path, "after-bad", "true", ("bad",)),
                shell_job(tmp_path, "plain", "true"),
            ],
        )
        assert [spec.name for spec in engine.decks["base"].jobs] == [
            "ok",
            "bad",
            "gate",
            "after-gate",
            "after-bad",
            "plain",
        ]
        assert skipped.state is JobState.SKIPPED and skipped.error == "not run: bad failed"
        await wait_state(engine, "base/plain", JobState.SUCCEEDED)
        assert waiting.state is JobState.QUEUED and gate_job.state is JobState.RUNNING
        (tmp_path / "go").touch()
        await wait_state(engine, "base/after-gate", JobState.SUCCEEDED)
        assert (tmp_path / "where.txt").read_text().strip() == str(tmp_path)
        added = [event for event in _pending(events) if isinstance(event, JobsAdded)]
        assert [event.job_ids for event in added] == [
            ("base/gate",),
            ("base/after-gate", "base/after-bad", "base/plain"),
        ]
        # A retry of the job an added one waited for queues that one again, as for the deck's own.
        await engine.retry("base/bad")
        assert skipped.state is JobState.QUEUED


async def test_a_wrong_addition_is_refused_whole_and_says_what_was_meant(tmp_path: Path) -> None:
    async with Engine() as engine:
        await engine.load(write_deck(tmp_path))
        with pytest.raises(CommandError, match="no job named 'bda' to wait for; did you mean 'bad'"):
            await engine.add_jobs(
                "base", [shell_job(tmp_path, "fine", "true"), shell_job(tmp_path, "x", "true", ("bda",))]
            )
        with pytest.raises(CommandError, match="has a job named 'ok' already"):
            await engine.add_jobs("base", [shell_job(tmp_path, "ok", "true")])
        with pytest.raises(CommandError, match="no deck named 'nope'"):
            await engine.add_jobs("nope", [shell_job(tmp_path, "y", "true")])
        assert sorted(engine.jobs) == ["base/bad", "base/ok"]
        assert len(engine.decks["base"].jobs) == 2
        await engine.wait_until_settled()


async def test_an_added_job_runs_with_its_own_environment_and_its_secrets_are_masked(tmp_path: Path) -> None:
    deck_environ = {**os.environ, "WHO": "deck"}
    own = {**os.environ, "WHO": "added", "API_TOKEN": "tok-123456789"}
    async with Engine() as engine:
        await engine.load(write_deck(tmp_path), environ=deck_environ, umask=0o022)
        spec = shell_job(tmp_path, "mine", 'echo "$WHO ${API_TOKEN}"; umask')
        same = shell_job(tmp_path, "deck-like", 'echo "$WHO"')
        await engine.add_jobs("base", [spec], environment=(own, 0o027))
        await engine.add_jobs("base", [same], environment=(deck_environ, 0o022))
        mine = await wait_state(engine, "base/mine", JobState.SUCCEEDED)
        like = await wait_state(engine, "base/deck-like", JobState.SUCCEEDED)
        assert [line.text for line in mine.output] == ["added ***", "0027"]
        assert [line.text for line in like.output] == ["deck"]
        assert engine._job_environments == {"base/mine": (own, 0o027)}  # the deck's own costs nothing per job
        with anyio.fail_after(10):
            await engine.wait_until_settled()


def _pending(events: object) -> list[object]:
    from runner.cli.console import pending_events

    return list(pending_events(events))  # type: ignore[arg-type]
