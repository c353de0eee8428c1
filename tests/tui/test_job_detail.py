"""The job detail screen, driven with Pilot over hand-built jobs (no engine), plus snapshots at 80x24."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC
from functools import partial
from pathlib import Path

import anyio
import pytest
from textual.app import App
from textual.pilot import Pilot

from runner.engine.engine import Engine
from runner.engine.interface import SpecLines
from runner.kinds.summary import spec_summary
from runner.model import (
    OUTPUT_TAIL_LINES,
    Attempt,
    CallSpec,
    FetchSpec,
    Job,
    JobSpec,
    JobState,
    Kind,
    OutputLine,
    ShellSpec,
)
from tests.helpers import until
from tui.formatting import format_duration
from tui.screens.job_detail import JobDetailScreen, OutputView

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
"""2023-11-14 22:13:20 UTC."""
NOW = T0 + 12.5
SECRET = "sk_live_0123456789abcdef"

TRACEBACK = """\
Traceback (most recent call last):
  File "/srv/jobs/report.py", line 12, in build
    rows = load(path)
           ^^^^^^^^^^
  File "/srv/jobs/report.py", line 30, in load
    raise ValueError(f"bad row {n}")
ValueError: bad row 17
"""


# --- jobs ------------------------------------------------------------------------------------------------------


def failed_call_job() -> Job:
    spec = JobSpec(
        name="build-report",
        kind=Kind.CALL,
        work=CallSpec(module="report", function="build", args=("2024-01",), kwargs={"limit": 10}),
        retries=2,
        timeout=30,
    )
    job = Job(id="nightly/build-report", deck="nightly", spec=spec, state=JobState.FAILED, revision=5)
    job.attempts = [
        Attempt(1, T0, T0 + 1.25, JobState.FAILED, "ValueError: bad row 17", 1.25),
        Attempt(2, T0 + 3, T0 + 4.5, JobState.FAILED, "ValueError: bad row 17", 1.5),
    ]
    job.error = "ValueError: bad row 17"
    job.traceback = TRACEBACK
    return job


def succeeded_call_job() -> Job:
    spec = JobSpec(name="summarise", kind=Kind.CALL, work=CallSpec(module="stats", function="summarise"))
    job = Job(id="nightly/summarise", deck="nightly", spec=spec, state=JobState.SUCCEEDED, revision=3)
    job.attempts = [Attempt(1, T0, T0 + 2.0, JobState.SUCCEEDED, None, 2.0)]
    job.result = {"rows": 1200, "status": "ok", "columns": ["date", "amount"]}
    return job


def running_shell_job(lines: int = 40) -> Job:
    spec = JobSpec(
        name="compile", kind=Kind.SHELL, work=ShellSpec(command="make -j4 all", cwd=Path("/srv/app")), retries=1
    )
    job = Job(id="build/compile", deck="build", spec=spec, state=JobState.RUNNING, revision=9)
    job.attempts = [Attempt(1, T0, running_since=T0)]
    for number in range(lines):
        if number % 7 == 3:
            job.output.append(OutputLine("stderr", f"src/module_{number:02d}.c:12: warning: unused variable 'x'"))
        else:
            job.output.append(
                OutputLine("stdout", f"cc -O2 -c src/module_{number:02d}.c -o build/module_{number:02d}.o")
            )
    return job


def fetch_with_secret_job() -> Job:
    spec = JobSpec(
        name="home",
        kind=Kind.FETCH,
        work=FetchSpec(
            url=f"https://bob:{SECRET}@api.example.com/v1/home?api_key={SECRET}&page=2",
            headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET, "Accept": "application/json"},
        ),
    )
    job = Job(id="web/home", deck="web", spec=spec, state=JobState.QUEUED, revision=1)
    return job


def thread_call_job() -> Job:
    spec = JobSpec(name="crunch", kind=Kind.CALL, work=CallSpec(module="heavy", function="crunch", on="thread"))
    job = Job(id="lab/crunch", deck="lab", spec=spec, state=JobState.RUNNING, revision=4)
    job.attempts = [Attempt(1, T0, running_since=T0)]
    job.note = "cancelling: thread jobs cannot be interrupted: this takes effect at the job's next checkpoint"
    return job


# --- the app around the screen ---------------------------------------------------------------------------------


class DetailApp(App[None]):
    """Pushes the detail screen over a blank screen and records the commands it asks for."""

    def __init__(self, job: Job, spec_lines: Callable[[], SpecLines] | None = None) -> None:
        super().__init__()
        self.job = job
        self.spec_lines = spec_lines or (lambda: spec_summary(self.job.spec))
        """The spec lines as an in-process engine gives them (by default, of a job whose ${VAR}s are not set)."""
        self.commands: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        screen = JobDetailScreen(self.job, spec_lines=self.spec_lines, clock=lambda: NOW, tz=UTC)
        self.push_screen(screen)

    def on_job_detail_screen_command_requested(self, message: JobDetailScreen.CommandRequested) -> None:
        self.commands.append((message.job_id, message.command))


def screen_text(app: App[object]) -> str:
    """What the terminal shows, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def detail(app: App[object]) -> JobDetailScreen:
    screen = app.screen
    assert isinstance(screen, JobDetailScreen)
    return screen


async def settle(pilot: Pilot[None]) -> None:
    """Let the screen's refresh timer run once."""
    await pilot.pause(0.35)
    await pilot.pause()


# --- what it shows ---------------------------------------------------------------------------------------------


async def test_a_fetch_shows_its_headers_redacted_and_never_the_secret() -> None:
    app = DetailApp(fetch_with_secret_job())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Authorization: Bearer …" in text
        assert "https://bob:***@api.example.com/v1/home?api_key=***&page=2" in text
        assert "Accept: application/json" in text
        assert "sk_l…" in text  # the X-Api-Key literal, cut to four characters
        assert SECRET not in text
        assert SECRET[4:] not in text
        assert SECRET[4:] not in app.export_screenshot()


async def test_a_fetch_shows_the_url_it_requested_with_its_secrets_masked(tmp_path: Path, server_url: str) -> None:
    """Not only the template (`${BASE}/status/404`): the URL the request went to, its secret masked."""
    path = tmp_path / "web.toml"
    path.write_text('[[job]]\nname = "missing"\nfetch = "${BASE}/status/404?for=${TOKEN}"\n')
    environ = {**os.environ, "BASE": server_url, "TOKEN": SECRET}
    async with Engine(environ=environ) as engine:
        await engine.load(path)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    job = engine.job("missing")
    assert job.error == "HTTP 404 Not Found"
    app = DetailApp(job, spec_lines=partial(engine.spec_lines, job.id))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert f"url         {server_url}/status/404?for=***" in text
        assert "as written  ${BASE}/status/404?for=${TOKEN}" in text
        assert SECRET not in text


async def test_a_failed_call_shows_its_error_traceback_and_every_attempt() -> None:
    app = DetailApp(failed_call_job())
    async with app.run_test(size=(80, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "✗ FAILED" in text
        assert "attempt 2 of 3" in text
        assert "TRACEBACK" in text
        assert 'File "/srv/jobs/report.py", line 30, in load' in text
        assert "ValueError: bad row 17" in text
        assert "ATTEMPTS  2 of 3" in text
        rows = [line.split() for line in text.splitlines() if "✗ failed" in line]
        assert [row[:3] for row in rows] == [["1", "22:13:20", "1.2"], ["2", "22:13:23", "1.5"]]
        assert "target   report:build" in text


async def test_an_attempt_a_dead_server_cut_short_does_not_count_against_the_retries() -> None:
    """After a kill -9 of the server the job runs again: its interrupted attempt is listed as such, and the one
    under way is the first of the two its `retries = 1` allows, not the last."""
    spec = JobSpec(name="download", kind=Kind.FETCH, work=FetchSpec(url="https://example.org/big"), retries=1)
    job = Job(id="web/download", deck="web", spec=spec, state=JobState.RUNNING, revision=7)
    cut_short = "interrupted while running: the jobdeck server ended (a signal, a crash, kill -9)"
    job.attempts = [Attempt(1, T0, T0 + 4.0, None, cut_short, 4.0), Attempt(2, T0 + 6, running_since=T0 + 6)]
    app = DetailApp(job)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "attempt 1 of 2 (#2, 1 interrupted)" in text
        assert "ATTEMPTS  1 of 2 (#2, 1 interrupted)" in text
        assert "↯ interrupted" in text
        assert "2 of 2" not in text


async def test_a_succeeded_call_shows_its_result() -> None:
    app = DetailApp(succeeded_call_job())
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "✓ SUCCEEDED" in text
        assert "RESULT  dict" in text
        assert "'rows': 1200" in text
        assert "'columns': ['date', 'amount']" in text
        assert "TRACEBACK" not in text


async def test_a_huge_result_is_cut_short() -> None:
    job = succeeded_call_job()
    job.result = [f"row {number}" for number in range(10_000)]
    app = DetailApp(job)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        output = detail(app).query_one("#result")
        assert "row 29" in str(output.render())
        assert "row 30'" not in str(output.render())


async def test_the_note_of_a_thread_job_is_shown_prominently() -> None:
    app = DetailApp(thread_call_job())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert lines[1].strip().startswith("⚠ note: cancelling: thread jobs cannot be interrupted")
        assert "▶ RUNNING" in lines[0]
        assert "12 s so far" in lines[0]


async def test_the_worker_of_each_attempt_is_shown_for_jobs_that_run_elsewhere() -> None:
    spec = JobSpec(name="crunch", kind=Kind.CALL, work=CallSpec(module="heavy", function="crunch", on="dask"))
    job = Job(id="lab/crunch", deck="lab", spec=spec, state=JobState.RUNNING, revision=4)
    job.attempts = [
        Attempt(
            1, T0 - 5, ended_at=T0 - 4, outcome=JobState.FAILED, error="KilledWorker", worker="tcp://10.0.0.7:4101"
        ),
        Attempt(2, T0, running_since=T0, worker="tcp://10.0.0.8:4102"),
    ]
    app = DetailApp(job)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "on tcp://10.0.0.8:4102" in text.splitlines()[0]
        assert "worker" in text
        assert [line.split()[6] for line in text.splitlines() if line.split()[:1] in (["1"], ["2"])] == [
            "tcp://10.0.0.7:4101",
            "tcp://10.0.0.8:4102",
        ]


# --- keeping up with the job -----------------------------------------------------------------------------------


async def test_new_output_lines_appear_once_the_revision_moves() -> None:
    job = running_shell_job()
    app = DetailApp(job)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        job.output.append(OutputLine("stdout", "linking build/app"))
        await settle(pilot)
        assert "linking build/app" not in screen_text(app), "redrawn although the revision did not move"
        job.revision += 1
        await until(pilot, lambda: "linking build/app" in screen_text(app), what="the new line shown")
        text = screen_text(app)
        assert "41 lines" in text
        job.output.append(OutputLine("stderr", "ld: cannot find -lfoo"))
        job.state = JobState.FAILED
        job.attempts[0].ended_at = T0 + 20
        job.attempts[0].outcome = JobState.FAILED
        job.error = "exit status 1"
        job.revision += 1
        await until(pilot, lambda: "! ld: cannot find -lfoo" in screen_text(app), what="the stderr line shown")
        text = screen_text(app)
        assert "✗ FAILED" in text


async def test_the_output_follows_the_tail_only_until_scrolled_up() -> None:
    job = running_shell_job()
    app = DetailApp(job)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        output = detail(app).query_one(OutputView)
        assert output.has_focus
        assert output.following
        await pilot.press("pageup")
        await pilot.pause()
        assert not output.following
        assert "scrolled up" in screen_text(app)
        top = output.visible_texts[0]
        job.output.append(OutputLine("stdout", "new at the end"))
        job.revision += 1
        await until(pilot, lambda: output.lines[-1].text == "new at the end", what="the new line taken in")
        await pilot.pause()
        assert output.visible_texts[0] == top
        assert "new at the end" not in screen_text(app)
        await pilot.press("G")
        await pilot.pause()
        assert output.following
        assert output.visible_texts[-1] == "new at the end"


async def test_the_output_is_bounded_by_the_jobs_deque_and_keeps_its_place_when_it_wraps() -> None:
    job = running_shell_job(lines=OUTPUT_TAIL_LINES + 100)
    app = DetailApp(job)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        output = detail(app).query_one(OutputView)
        assert output.line_count == OUTPUT_TAIL_LINES
        assert output.lines[0] is job.output[0]
        assert f"last {OUTPUT_TAIL_LINES} lines" in screen_text(app)
        output.scroll_to(y=500, animate=False)
        await pilot.pause()
        top = output.visible_texts[0]
        for number in range(10):
            job.output.append(OutputLine("stdout", f"late line {number}"))
        job.revision += 1
        await until(pilot, lambda: output.lines[-1].text == "late line 9", what="the late lines taken in")
        await pilot.pause()
        assert output.line_count == OUTPUT_TAIL_LINES
        assert output.visible_texts[0] == top


async def test_a_fresh_snapshot_of_the_job_replaces_the_one_shown() -> None:
    app = DetailApp(running_shell_job())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        snapshot = running_shell_job(lines=3)
        snapshot.output.append(OutputLine("stdout", "from the snapshot"))
        detail(app).job = snapshot
        await until(pilot, lambda: "from the snapshot" in screen_text(app), what="the fresh snapshot shown")
        assert detail(app).query_one(OutputView).line_count == 4


# --- search ----------------------------------------------------------------------------------------------------


async def test_search_highlights_matches_moves_with_n_and_filters() -> None:
    app = DetailApp(running_shell_job())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = detail(app)
        output = screen.query_one(OutputView)
        await pilot.press("slash", *"WARNING")
        await pilot.pause()
        assert output.query == "WARNING"
        assert output.match_count == 6
        assert output.current_match == 6, "searching from the tail starts at the latest match"
        assert "6/6" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert output.has_focus
        await pilot.press("n")
        assert output.current_match == 1, "n wraps around to the first match"
        await pilot.press("n")
        assert output.current_match == 2
        current = output.current_line
        assert current is not None
        assert current.text.startswith("src/module_10.c")
        assert current.text in output.visible_texts
        await pilot.press("N", "N")
        assert output.current_match == 6
        await pilot.press("f")
        await pilot.pause()
        assert output.filtering
        assert output.visible_texts
        assert all("warning" in text for text in output.visible_texts)
        assert "only matches" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert output.query == ""
        assert not output.filtering
        assert isinstance(app.screen, JobDetailScreen), "the first escape only closes the search"
        assert not any("warning" in text for text in output.visible_texts[:3])


async def test_escape_while_typing_closes_the_search_and_keeps_the_screen() -> None:
    app = DetailApp(running_shell_job())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"warn", "escape")
        await pilot.pause()
        assert isinstance(app.screen, JobDetailScreen)
        assert detail(app).query_one(OutputView).query == ""
        assert not detail(app).searching
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, JobDetailScreen)


async def test_a_search_without_matches_says_so() -> None:
    app = DetailApp(running_shell_job())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"zebra")
        await pilot.pause()
        assert "no match" in screen_text(app)
        assert detail(app).query_one(OutputView).match_count == 0


# --- keys ------------------------------------------------------------------------------------------------------


async def test_escape_and_q_go_back() -> None:
    for key in ("escape", "q"):
        app = DetailApp(failed_call_job())
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, JobDetailScreen)
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, JobDetailScreen)
            assert len(app.screen_stack) == 1


async def test_command_keys_post_command_requested_for_the_app_to_carry_out() -> None:
    job = running_shell_job()
    app = DetailApp(job)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.press("p")
        await pilot.press("r")  # not finished: nothing to retry
        await pilot.pause()
        assert app.commands == [("build/compile", "cancel"), ("build/compile", "pause")]
        job.state = JobState.PAUSED
        job.revision += 1
        await settle(pilot)
        await pilot.press("p")
        job.state = JobState.CANCELLED
        job.revision += 1
        await settle(pilot)
        await pilot.press("c")  # already finished
        await pilot.press("r")
        await pilot.pause()
        assert app.commands[2:] == [("build/compile", "resume"), ("build/compile", "retry")]


async def test_z_gives_the_whole_body_to_the_output() -> None:
    app = DetailApp(running_shell_job())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        output = detail(app).query_one(OutputView)
        before = output.size.height
        await pilot.press("z")
        await pilot.pause()
        assert output.size.height > before
        assert "SPEC" not in screen_text(app)


async def test_the_details_scroll_with_the_keyboard_at_80x24() -> None:
    app = DetailApp(failed_call_job())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: detail(app).query_one("#details").has_focus, what="the details in focus")
        assert "timeout  30 s" not in screen_text(app)
        await pilot.press("end")
        await until(pilot, lambda: "timeout  30 s" in screen_text(app), what="the details' end on the screen")


async def test_a_theme_change_redraws_the_sections_in_the_new_colours() -> None:
    app = DetailApp(failed_call_job())

    def failed_word_style() -> str:
        for strip in app.screen._compositor.render_strips():
            for segment in strip:
                if segment.text.strip() == "✗ failed":
                    assert segment.style is not None
                    return str(segment.style.color)
        raise AssertionError("no attempt row on screen")

    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        dark = failed_word_style()
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        assert failed_word_style() != dark


def test_format_duration() -> None:
    assert [format_duration(value) for value in (0.25, 12.4, 185, 7500)] == ["0.2 s", "12 s", "3m 05s", "2h 05m"]


# --- snapshots -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_job", "press"),
    [
        pytest.param(failed_call_job, (), id="failed_call"),
        pytest.param(running_shell_job, (), id="running_shell"),
        pytest.param(running_shell_job, ("slash", *"module_3", "enter", "n"), id="running_shell_search"),
        pytest.param(thread_call_job, (), id="thread_call_note"),
    ],
)
def test_snapshot(snap_compare, make_job, press) -> None:
    assert snap_compare(DetailApp(make_job()), press=press, terminal_size=(80, 24))
