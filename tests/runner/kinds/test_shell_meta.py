"""A shell job's JOBDECK_PROGRESS and JOBDECK_STATUS lines become its progress and status, not its output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.kinds.shell_meta import ProgressLine, read_progress
from runner.model import JobState
from runner.server.protocol import job_to_dict
from runner.server.views import JobView
from tests.helpers import wait_for, wait_state

WriteDeck = Callable[..., Path]


@pytest.mark.parametrize(
    ("text", "progress"),
    [
        ("42/100", ProgressLine(42, 100, "")),
        ("42%", ProgressLine(42, 100, "")),
        ("7", ProgressLine(7, None, "")),
        ("12MB/100MB", ProgressLine(12e6, 100e6, "bytes")),
        ("1.5 KiB / 3 KiB", ProgressLine(1536, 3072, "bytes")),
        ("12MB/100", None),
        ("3/4 files", None),
        ("5/0", None),
        ("lots", None),
        ("", None),
    ],
)
def test_progress_is_read_as_a_count_a_percentage_or_bytes(text: str, progress: ProgressLine | None) -> None:
    assert read_progress(text) == progress


@pytest.mark.anyio
async def test_progress_and_status_lines_report_and_stay_out_of_the_output(
    write_deck: WriteDeck, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    deck = write_deck(f"""
        [[job]]
        name = "steps"
        shell = '''
        echo starting
        echo "JOBDECK_PROGRESS 3/4"
        echo "JOBDECK_STATUS copying ${{API_TOKEN}} part 3" >&2
        echo "JOBDECK_PROGRESS lots"
        echo "JOBDECK_SOMETHING else"
        while [ ! -e {go} ]; do sleep 0.02; done
        echo "JOBDECK_PROGRESS 2MB/8MB" >&2
        echo "JOBDECK_STATUS all copied"
        '''
    """)
    environ = {"API_TOKEN": "s3cret-token", "PATH": "/usr/bin:/bin"}
    async with Engine(environ=environ) as engine:
        await engine.load(deck, environ=environ)
        job = engine.job("steps")
        await wait_for(lambda: job.status is not None and job.progress is not None, what="progress and status")
        assert job.progress is not None and (job.progress.done, job.progress.total, job.progress.unit) == (3, 4, "")
        assert job.status == "copying *** part 3", "a status is masked like output"
        go.touch()
        with anyio.fail_after(30):
            await wait_state(engine, "steps", JobState.SUCCEEDED)
    assert [(line.stream, line.text) for line in job.output] == [
        ("stdout", "starting"),
        ("stdout", "JOBDECK_PROGRESS lots"),
        ("stdout", "JOBDECK_SOMETHING else"),
    ], "malformed and unknown JOBDECK_ lines are output"
    assert job.progress is not None and (job.progress.done, job.progress.total, job.progress.unit) == (
        2e6,
        8e6,
        "bytes",
    )
    assert job.status == "all copied"
    assert job.result == {"exit_code": 0, "signal": None, "last_line": "JOBDECK_SOMETHING else", "status": "all copied"}
    assert JobView.from_dict(job_to_dict(job)).status == "all copied", "a server sends the status to its clients"
