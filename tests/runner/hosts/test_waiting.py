"""`status` and `--json` tell a job waiting for its host from one waiting for its turn."""

from __future__ import annotations

from runner.cli.status_text import job_line
from runner.model import FetchSpec, Job, JobSpec, JobState, Kind
from runner.report import job_report


def fetch_job(note: str | None, state: JobState = JobState.QUEUED) -> Job:
    spec = JobSpec(name="get", kind=Kind.FETCH, work=FetchSpec(url="http://127.0.0.1:9/"))
    job = Job(id="d/get", deck="d", spec=spec, state=state)
    job.note = note
    return job


def test_a_queued_job_waiting_for_its_host_says_so() -> None:
    report = job_report(fetch_job("host busy"))
    assert (report["state"], report["waiting"]) == ("queued", "host busy")
    assert "queued (host busy)" in job_line(report)
    assert "queued (pacing)" in job_line(job_report(fetch_job("pacing")))


def test_other_notes_and_states_are_no_waiting() -> None:
    assert "waiting" not in job_report(fetch_job(None))
    assert "waiting" not in job_report(fetch_job("retry 1 of 3 in 2.0 s"))
    assert "waiting" not in job_report(fetch_job("host busy", JobState.PAUSED))
