"""`jobdeck run`: the decks run headless in this process, journaled, with progress, until every job has ended;
then the summary (and the `--json` report) and the exit status."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK
from runner.cli.loading import load_all

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from runner.cli.console import ProgressView
    from runner.config.user_config import UserConfig
    from runner.engine.engine import Engine
    from runner.journal.store import Journal
    from runner.model import Deck, Job

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal went away


@dataclass
class RunOutcome:
    """What happened to a `run` besides the jobs' own states."""

    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    """Wall-clock start, to compare with the jobs' attempt times."""
    stop_signal: str | None = None
    """The name of the first SIGINT/SIGTERM received, if any."""
    stopped_at_once: bool = False
    """A second signal came: jobdeck exits without waiting for the cancelled jobs to end."""
    earlier: dict[str, Earlier] = field(default_factory=dict)
    """By deck path: the jobs of a resumed deck that were not run again."""

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def deck_elapsed_s(self, jobs: Sequence[Job]) -> float:
        """Seconds until the deck's last attempt ended, if every job has finished; else the time so far."""
        ends = [attempt.ended_at for job in jobs for attempt in job.attempts if attempt.ended_at is not None]
        if ends and all(job.state.finished for job in jobs):
            return max(0.0, max(ends) - self.started_at)
        return self.elapsed_s


def run_command(
    files: Sequence[Path],
    *,
    as_json: bool,
    grace_period: float,
    resume: bool = False,
    db: Path | None = None,
    no_journal: bool = False,
) -> int:
    decks = load_all(files, sys.stderr)
    if decks is None:
        print("jobdeck: nothing was run; fix the problems above and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    from runner.procs.prestart import prestart_workers

    prestart_workers(decks)  # they start up while the rest of jobdeck is imported
    from runner.procs.early_guardian import start_early_guardian

    start_early_guardian(decks)  # after the workers: they are forks of this process while it has one thread
    from runner.cli.config_file import user_config_or_report

    config = user_config_or_report(sys.stderr)
    if config is None:
        return EXIT_BAD_INPUT
    import anyio

    from runner import paths
    from runner.redaction import quiet_request_loggers

    quiet_request_loggers()

    # Every run is journaled (so that a later --resume has something to resume), unless --no-journal. A
    # journal the user named must work; the default one, when it cannot be opened, only costs a warning.
    explicit = db is not None or paths.chosen_journal_path() is not None
    journal: Journal | None = None
    if not no_journal:
        from runner.journal.store import Journal, JournalError  # sqlite3 and the journal's modules: only here

        path = db if db is not None else paths.journal_path()
        try:
            journal = Journal.open(path, create_parent=not explicit)
        except JournalError as error:
            print(f"jobdeck: {error}", file=sys.stderr)
            if explicit or resume:
                print("jobdeck: nothing was run; give a usable --db PATH (or --no-journal)", file=sys.stderr)
                return EXIT_BAD_INPUT
            print("jobdeck: running without a journal", file=sys.stderr)
    progress_out = sys.stderr if as_json else sys.stdout
    carry_over: dict[str, tuple[str, list[str]]] = {}
    earlier: dict[str, Earlier] = {}
    if resume and journal is not None:
        decks, carry_over, earlier = resumed_decks(decks, journal, progress_out)
    try:
        return anyio.run(run_decks, decks, as_json, grace_period, progress_out, journal, carry_over, earlier, config)
    finally:
        if journal is not None:
            journal.close()


@dataclass
class Earlier:
    """The jobs of a resumed deck that are not run again, having succeeded in the journal's last run of its file."""

    run_id: str
    order: tuple[str, ...]
    """Every job of the deck, in its order."""
    jobs: dict[str, dict[str, Any]]
    """By name, each such job as the JSON report shows it (runner.report.job_report), with `earlier_run`."""


def resumed_decks(
    decks: Sequence[Deck], journal: Journal, out: TextIO
) -> tuple[list[Deck], dict[str, tuple[str, list[str]]], dict[str, Earlier]]:
    """The decks without the jobs that succeeded in the journal's last run of the same file (dropped from the
    others' `after` too: they are satisfied), what the recorder carries over from those runs, and, by deck path,
    those jobs as the report shows them."""
    result: list[Deck] = []
    carry_over: dict[str, tuple[str, list[str]]] = {}
    earlier: dict[str, Earlier] = {}
    for deck in decks:
        previous = journal.latest_run(deck.path)
        done = journal.succeeded_jobs(deck.path) & {spec.name for spec in deck.jobs} if previous else set()
        total = f"{len(deck.jobs)} job{'' if len(deck.jobs) == 1 else 's'}"
        print(f"resuming {deck.name}: {len(done)} of {total} already succeeded", file=out)
        if previous is None or not done:
            result.append(deck)
            continue
        jobs = tuple(
            spec.with_after(tuple(name for name in spec.after if name not in done))
            for spec in deck.jobs
            if spec.name not in done
        )
        result.append(replace(deck, jobs=jobs))
        carry_over[str(deck.path)] = (previous, sorted(done))
        order = tuple(spec.name for spec in deck.jobs)
        earlier[str(deck.path)] = Earlier(previous, order, earlier_job_reports(deck, journal, previous, done))
    return result, carry_over, earlier


def earlier_job_reports(deck: Deck, journal: Journal, run_id: str, done: set[str]) -> dict[str, dict[str, Any]]:
    """The jobs named in `done`, as the journal's run `run_id` recorded them, each as the JSON report shows a job."""
    from runner.journal.recovery import restored_job
    from runner.model import Job, JobState
    from runner.report import job_report

    rows = journal.jobs(run_id)
    reports: dict[str, dict[str, Any]] = {}
    for spec in deck.jobs:
        if spec.name not in done:
            continue
        row = rows.get(spec.name)
        recorded = restored_job(row) if row is not None else None
        job = Job(
            id=f"{deck.name}/{spec.name}",
            deck=deck.name,
            spec=spec,
            state=JobState.SUCCEEDED,
            attempts=recorded.attempts if recorded is not None else [],
            result=recorded.result if recorded is not None else None,
        )
        reports[spec.name] = {**job_report(job), "earlier_run": run_id}
    return reports


async def run_decks(
    decks: Sequence[Deck],
    as_json: bool,
    grace_period: float,
    progress_out: TextIO,
    journal: Journal | None = None,
    carry_over: dict[str, tuple[str, list[str]]] | None = None,
    earlier: Mapping[str, Earlier] | None = None,
    config: UserConfig | None = None,
) -> int:
    """Run the decks to the end (or until SIGINT/SIGTERM), showing progress; then report and return the exit code.
    With a journal, every change is recorded in it as it happens. `earlier`: by deck path, the jobs a resumed
    deck does not run again, for the report. `config`: the user config file's limits."""
    import anyio

    from runner.cli.collector import started
    from runner.cli.console import progress_view
    from runner.config.user_config import NO_CONFIG
    from runner.engine.engine import Engine
    from runner.journal.recorded import recorded_engine
    from runner.stored_results import results_folder

    started(freeze=True)
    outcome = RunOutcome(earlier=dict(earlier or {}))
    engine = Engine(grace_period=grace_period, config=config or NO_CONFIG)
    engine.results_folder = results_folder(journal.path if journal is not None else None)
    if journal is not None:  # its connection closes with this process
        from runner.journal.transfers import JournalBook

        engine.transfers = JournalBook(journal.path)
    async with recorded_engine(engine, journal, carry_over=carry_over):
        with progress_view(engine, progress_out) as view:
            async with anyio.create_task_group() as watchers:
                await watchers.start(cancel_on_signals, engine, view, outcome, as_json, progress_out)
                watchers.start_soon(view.follow)
                for deck in decks:
                    await engine.add_deck(deck)
                await engine.wait_until_settled()
                watchers.cancel_scope.cancel()
        return write_report(engine, outcome, as_json, progress_out)


async def cancel_on_signals(
    engine: Engine,
    view: ProgressView,
    outcome: RunOutcome,
    as_json: bool,
    progress_out: TextIO,
    *,
    task_status: TaskStatus[None],
) -> None:
    """The first SIGINT/SIGTERM cancels every unfinished job; a second one reports and exits at once."""
    import anyio

    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if outcome.stop_signal is None:
                outcome.stop_signal = name
                view.announce(f"jobdeck: {name}: cancelling unfinished jobs ({how_to_repeat(name)} to quit at once)")
                await engine.stop_jobs()
            else:
                stop_at_once(engine, view, outcome, as_json, progress_out)


def how_to_repeat(signal_name: str) -> str:
    return "press Ctrl-C again" if signal_name == "SIGINT" else f"send {signal_name} again"


def stop_at_once(engine: Engine, view: ProgressView, outcome: RunOutcome, as_json: bool, progress_out: TextIO) -> None:
    """Report the jobs as they are and exit without waiting for cancelled jobs that do not stop (a thread job
    without checkpoints cannot be interrupted)."""
    outcome.stopped_at_once = True
    view.announce("jobdeck: quitting without waiting for the jobs still running")
    view.close()
    write_report(engine, outcome, as_json, progress_out)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_JOBS_FAILED)


def write_report(engine: Engine, outcome: RunOutcome, as_json: bool, progress_out: TextIO) -> int:
    """The JSON report (if asked) on stdout, the summary on the progress stream; returns the exit code."""
    from runner.model import JobState
    from runner.report import deck_report, deck_summary_lines

    if as_json:
        for deck, spec in engine.decks.items():
            earlier = outcome.earlier.get(str(spec.path))
            report = deck_report(
                deck,
                engine.jobs_of(deck),
                path=spec.path,
                earlier=earlier.jobs if earlier else None,
                order=earlier.order if earlier else (),
            )
            print(json.dumps(report), flush=True)
    for deck, spec in engine.decks.items():
        jobs = list(engine.jobs_of(deck))
        earlier = outcome.earlier.get(str(spec.path))
        done_before = len(earlier.jobs) if earlier else 0
        for line in deck_summary_lines(deck, jobs, outcome.deck_elapsed_s(jobs), earlier=done_before):
            print(line, file=progress_out)
        for line in [engine.halted.get(deck), *engine.hook_lines(deck)]:
            if line:
                print(f"  {line}", file=progress_out)
    if outcome.stopped_at_once:
        print("jobdeck: stopped at once by a second signal; jobs still running were left unfinished", file=progress_out)
    elif outcome.stop_signal is not None:
        print(f"jobdeck: stopped by {outcome.stop_signal}; unfinished jobs were cancelled", file=progress_out)
    progress_out.flush()
    all_succeeded = all(job.state is JobState.SUCCEEDED for job in engine.jobs.values())
    return EXIT_OK if all_succeeded and outcome.stop_signal is None else EXIT_JOBS_FAILED
