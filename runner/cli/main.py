"""The `jobdeck` command line.

`run` and `check` never import Textual: start-up stays quick and process workers stay light. Everything
heavier than argparse is imported inside the command that needs it.

Which Dask cluster an `on = "dask"` job uses, most specific first: `--dask ADDRESS` (of `jobdeck run`, or
leading the dashboard's files: `jobdeck --dask ADDRESS FILE...`), then `$JOBDECK_DASK`, then the deck's
`[deck] dask`. The option is passed on as `JOBDECK_DASK` in this process's environment, which decks loaded
from here run in (in this process's engine, or in the server's). A job's own `on = "dask://host:port"` always
uses that cluster.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from runner.cli.console import ProgressView
    from runner.engine.engine import Engine
    from runner.errors import Problem
    from runner.journal.store import Journal
    from runner.model import Deck, Job

EXIT_OK = 0
EXIT_JOBS_FAILED = 1
EXIT_BAD_INPUT = 2

SUBCOMMANDS = ("run", "check", "demo", "submit", "status", "stop-server", "attach")
DASHBOARD_OPTIONS = ("--local", "--socket", "--dask")
SOCKET_VARIABLE = "JOBDECK_SOCKET"
SOCKET_HELP = f"the server's socket (default: ${SOCKET_VARIABLE}, else one in the user's runtime directory)"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal went away
DEFAULT_GRACE_S = 5.0
DEBUG_VARIABLE = "JOBDECK_DEBUG"
DASHBOARD_USAGE = "usage: jobdeck [FILE...]  (the dashboard), or jobdeck {run,check,demo} ...; see jobdeck --help"


# --- arguments ----------------------------------------------------------------------------------------------


def seconds(text: str) -> float:
    """An argparse type: a finite, non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds, 0 or more")
    return value


def dask_address(text: str) -> str:
    """An argparse type: "local" or a Dask scheduler address, as "tcp://host:port"."""
    from runner.kinds.dask import normalized_address

    try:
        return normalized_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def use_dask_cluster(address: str) -> None:
    from runner.kinds.dask import DASK_VARIABLE

    os.environ[DASK_VARIABLE] = address


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jobdeck")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's parser (to report an error against the right usage)."""
    parser = argparse.ArgumentParser(
        prog="jobdeck",
        description="Run decks of jobs (fetch URLs, call Python functions, run shell commands) with pause, "
        "cancel and retry. `jobdeck [FILE...]` opens the dashboard, attached to your jobdeck server (started in "
        "the background if none runs), and loads those job files into it; the jobs go on when you detach (d). "
        "`jobdeck --local [FILE...]` runs them in the dashboard's own process instead. "
        "See `jobdeck --local --help`.",
        epilog="Exit status: 0 when every job succeeded, 1 when any did not (or jobdeck was interrupted), "
        "2 for a bad job file or bad usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run job files headless until every job has finished",
        description="Run every job of the given files to the end, showing progress; Ctrl-C cancels the jobs "
        "still running and reports. Files are all checked first: if any is bad, nothing runs.",
    )
    run.add_argument("files", nargs="+", metavar="FILE", type=Path, help="job files (TOML)")
    run.add_argument(
        "--json",
        action="store_true",
        help="at the end, print one JSON object per deck on stdout (progress then goes to stderr)",
    )
    run.add_argument(
        "--grace",
        type=seconds,
        default=DEFAULT_GRACE_S,
        metavar="S",
        help=f"on cancel, seconds a shell job gets between SIGTERM and SIGKILL (default {DEFAULT_GRACE_S:g})",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="skip the jobs that already succeeded in the journal's last run of the same file",
    )
    run.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="the journal (SQLite) this run is recorded in; default: $JOBDECK_DB, else journal.db in the user's "
        "state directory",
    )
    run.add_argument("--no-journal", action="store_true", help="record nothing (--resume has nothing to resume)")
    run.add_argument(
        "--dask",
        type=dask_address,
        metavar="ADDRESS",
        help='the Dask cluster of on = "dask" jobs: "tcp://host:8786", or "local" for one on this machine; '
        "overrides $JOBDECK_DASK and the deck's dask setting",
    )
    check = commands.add_parser(
        "check", help="validate job files without running anything", description="Check job files; run nothing."
    )
    check.add_argument("files", nargs="+", metavar="FILE", type=Path, help="job files (TOML)")
    submit = commands.add_parser(
        "submit",
        help="load job files into the per-user server (started if none runs) and return at once",
        description="Load job files into the per-user jobdeck server, which runs them after this command ends.",
    )
    submit.add_argument("files", nargs="+", metavar="FILE", type=Path, help="job files (TOML)")
    submit.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    status = commands.add_parser(
        "status", help="print the server's jobs and their states", description="Print the server's jobs and states."
    )
    status.add_argument("--json", action="store_true", help="print the report as JSON, with a server object")
    status.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    stop = commands.add_parser(
        "stop-server",
        help="cancel the server's jobs cleanly and stop it",
        description="Cancel every job of the per-user server cleanly, then stop the server.",
    )
    stop.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    attach = commands.add_parser(
        "attach",
        help="open the dashboard on the server's jobs, loading nothing (the server is started if none runs)",
        description="Open the dashboard attached to the per-user jobdeck server.",
    )
    attach.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    commands.add_parser(
        "demo",
        help="open the dashboard on a demo deck, against a small HTTP server on 127.0.0.1 (works offline)",
        description="Open the dashboard on sample_jobs/demo.toml: downloads, retries, CPU jobs on processes "
        "and threads, shell jobs, a fan-out and a dependency chain. Its files go to a temporary folder.",
    )
    return parser, {
        "run": run,
        "check": check,
        "submit": submit,
        "status": status,
        "stop-server": stop,
        "attach": attach,
    }


def parse_arguments(arguments: list[str]) -> argparse.Namespace:
    """Parsed options; raises SystemExit (with argparse's message printed) for usage errors, --help, --version."""
    parser, subparsers = build_parser()
    options, unknown = parser.parse_known_args(arguments)
    if unknown:
        subparsers.get(options.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if options.command is None:
        parser.error("give a COMMAND (run, check, demo), or job files to open the dashboard")
    return options


def wants_dashboard(arguments: Sequence[str]) -> bool:
    """`jobdeck` alone, `jobdeck FILE...` or `jobdeck --local FILE...` (any dashboard option first): what will
    open the dashboard. A subcommand, `--help` or `--version` goes to the main parser."""
    if not arguments:
        return True
    first = arguments[0]
    if first.startswith("-"):
        return first.partition("=")[0] in DASHBOARD_OPTIONS
    return first not in SUBCOMMANDS


def dashboard_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobdeck",
        usage="jobdeck [--local] [--socket PATH] [--dask ADDRESS] [FILE ...]",
        description="Open the dashboard, attached to your jobdeck server (started if none runs), and load FILEs.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", type=Path, help="job files (TOML) to load")
    parser.add_argument(
        "--local", action="store_true", help="run the jobs in this process instead: they end when it quits"
    )
    parser.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    parser.add_argument(
        "--dask", type=dask_address, metavar="ADDRESS", help='the Dask cluster of on = "dask" jobs, or "local"'
    )
    return parser


# --- entry point ------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    dashboard = wants_dashboard(arguments)
    try:
        options = dashboard_parser().parse_args(arguments) if dashboard else parse_arguments(arguments)
    except SystemExit as exit_request:
        return EXIT_BAD_INPUT if exit_request.code else EXIT_OK
    if getattr(options, "dask", None) is not None:
        use_dask_cluster(options.dask)
    try:
        if dashboard:
            return dashboard_command(options.files, local=options.local, socket_path=chosen_socket(options))
        if options.command == "attach":
            return dashboard_command([], local=False, socket_path=chosen_socket(options))
        if options.command == "check":
            return check_command(options.files)
        if options.command in ("submit", "status", "stop-server"):
            return server_command(options)
        if options.command == "demo":
            from tui.demo import run_demo

            return run_demo()
        return run_command(
            options.files,
            as_json=options.json,
            grace_period=options.grace,
            resume=options.resume,
            db=options.db,
            no_journal=options.no_journal,
        )
    except KeyboardInterrupt:
        print("jobdeck: interrupted", file=sys.stderr)
        return EXIT_JOBS_FAILED
    except Exception as error:
        return report_unexpected_error(error)


def report_unexpected_error(error: BaseException) -> int:
    """A bug or a closed output: one clear line instead of a traceback (the traceback on request)."""
    if is_broken_pipe(error):
        silence_stdout()
        return EXIT_JOBS_FAILED
    from runner.errors import describe_error, innermost

    print(f"jobdeck: internal error: {describe_error(innermost(error))}", file=sys.stderr)
    if os.environ.get(DEBUG_VARIABLE):
        traceback.print_exception(error, file=sys.stderr)
    else:
        print(
            f"jobdeck: this is a bug; set {DEBUG_VARIABLE}=1 to see the traceback and please report it", file=sys.stderr
        )
    return EXIT_JOBS_FAILED


def is_broken_pipe(error: BaseException) -> bool:
    """True when the error is, or only consists of, the reader of our output going away (`jobdeck run x | head`)."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_broken_pipe(inner) for inner in error.exceptions)
    return isinstance(error, BrokenPipeError)


def silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not complain about the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# --- loading ----------------------------------------------------------------------------------------------------


def load_all(files: Sequence[Path], err: TextIO) -> list[Deck] | None:
    """Parse every file; print every problem of every file and return None if any file is bad."""
    from runner.deck.parser import load_deck
    from runner.errors import DeckError

    decks: list[Deck] = []
    bad_files = 0
    for path in files:
        try:
            decks.append(load_deck(path))
        except DeckError as error:
            bad_files += 1
            for problem in error.problems:
                print(f"error: {as_given(problem, path)}", file=err)
    if bad_files and len(files) > 1:
        verb = "has" if bad_files == 1 else "have"
        print(f"jobdeck: {bad_files} of {len(files)} job files {verb} problems", file=err)
    return None if bad_files else decks


def as_given(problem: Problem, given: Path) -> Problem:
    """The problem located by the path as the user typed it (`deck.toml:3:5`), not the resolved one."""
    try:
        if problem.path == given.expanduser().resolve():
            return replace(problem, path=given)
    except (OSError, RuntimeError, ValueError):
        pass
    return problem


# --- the dashboard ----------------------------------------------------------------------------------------------


def dashboard_command(files: Sequence[Path], *, local: bool, socket_path: Path | None) -> int:
    """Open the dashboard with these job files loaded; bad files are refused before it opens.

    Attached (the default), the server loads the files and runs the jobs; they go on after a detach.
    With `local`, the engine runs in this process and its jobs end with it."""
    decks = load_all(files, sys.stderr)
    if decks is None:
        print(
            "jobdeck: the dashboard was not opened; fix the problems above, or open files from it with o",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    from tui.app import JobdeckApp

    if local:
        from runner.journal.store import default_path

        # In-process jobs are not journaled, but `h` still shows the runs the journal holds.
        JobdeckApp(decks, journal_path=default_path()).run()
        return EXIT_OK
    from runner.server.remote import RemoteEngine

    app = JobdeckApp(files=[Path(file).resolve() for file in files], engine_factory=lambda: RemoteEngine(socket_path))
    app.run()
    if app.detached:
        unfinished = app.unfinished_count()
        jobs = {0: "nothing is running", 1: "1 job goes on"}.get(unfinished, f"{unfinished} jobs go on")
        print(f"jobdeck: detached; {jobs} in the server. `jobdeck attach` comes back.")
    return app.return_code or EXIT_OK


# --- the server -------------------------------------------------------------------------------------------------


def chosen_socket(options: argparse.Namespace) -> Path | None:
    """--socket, else $JOBDECK_SOCKET, else None (the default path in the user's runtime directory)."""
    return options.socket or (Path(os.environ[SOCKET_VARIABLE]) if os.environ.get(SOCKET_VARIABLE) else None)


def server_command(options: argparse.Namespace) -> int:
    """submit, status and stop-server: talk to the per-user server (which every command but stop starts)."""
    from runner.server import client

    socket_path = chosen_socket(options)
    try:
        if options.command == "submit":
            return report_submitted(client.submit(options.files, socket_path))
        if options.command == "status":
            return report_status(client.status(socket_path), as_json=options.json)
        stopped = client.stop_server(socket_path)
    except client.ServerError as error:
        print(f"jobdeck: {error}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    if stopped is None:
        print("jobdeck: no server runs")
    else:
        cancelled = stopped["cancelled"]
        print(f"jobdeck: server {stopped['pid']} stopped; {cancelled} job{'' if cancelled == 1 else 's'} cancelled")
    return EXIT_OK


def report_submitted(results: list[dict[str, object]]) -> int:
    bad = False
    for result in results:
        problems = result.get("problems")
        if isinstance(problems, list):
            bad = True
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
        else:
            jobs = result["jobs"]
            count = len(jobs) if isinstance(jobs, list) else jobs
            print(f"submitted {result['path']}: deck {result['deck']!r}, {count} jobs")
    return EXIT_BAD_INPUT if bad else EXIT_OK


def report_status(report: dict[str, object], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report))
        return EXIT_OK
    server = report["server"]
    assert isinstance(server, dict)
    print(f"server {server['pid']} (jobdeck {server['version']}) at {server['socket']}")
    decks = report["decks"]
    assert isinstance(decks, list)
    for deck in decks:
        print(f"{deck['deck']}:")
        for job in deck["jobs"]:
            error = f"  {job['error']}" if job.get("error") else ""
            print(f"  {job['name']:<30} {job['kind']:<6} {job['state']:<10} #{job['attempts']}{error}")
    if not decks:
        print("no decks loaded; jobdeck submit FILE loads one")
    return EXIT_OK


# --- check ------------------------------------------------------------------------------------------------------


def check_command(files: Sequence[Path]) -> int:
    decks = load_all(files, sys.stderr)
    if decks is None:
        return EXIT_BAD_INPUT
    for given, deck in zip(files, decks, strict=True):
        kinds = sorted({job.kind.value for job in deck.jobs})
        jobs = f"{len(deck.jobs)} job{'' if len(deck.jobs) == 1 else 's'}"
        print(f"ok: {given}: deck {deck.name!r}, {jobs} ({', '.join(kinds) or 'nothing to run'})")
    return EXIT_OK


# --- run --------------------------------------------------------------------------------------------------------


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
    import anyio

    from runner.journal.store import DB_VARIABLE, Journal, JournalError, default_path

    # Every run is journaled (so that a later --resume has something to resume), unless --no-journal. A
    # journal the user named must work; the default one, when it cannot be opened, only costs a warning.
    explicit = db is not None or bool(os.environ.get(DB_VARIABLE))
    journal: Journal | None = None
    if not no_journal:
        path = db if db is not None else default_path()
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
    if resume and journal is not None:
        decks, carry_over = resumed_decks(decks, journal, progress_out)
    try:
        return anyio.run(run_decks, decks, as_json, grace_period, progress_out, journal, carry_over)
    finally:
        if journal is not None:
            journal.close()


def resumed_decks(
    decks: Sequence[Deck], journal: Journal, out: TextIO
) -> tuple[list[Deck], dict[str, tuple[str, list[str]]]]:
    """The decks without the jobs that succeeded in the journal's last run of the same file (dropped from the
    others' `after` too: they are satisfied), and what the recorder carries over from those runs."""
    result: list[Deck] = []
    carry_over: dict[str, tuple[str, list[str]]] = {}
    for deck in decks:
        previous = journal.latest_run(deck.path)
        done = journal.succeeded_jobs(deck.path) & {spec.name for spec in deck.jobs} if previous else set()
        print(f"resuming {deck.name}: {len(done)} of {len(deck.jobs)} jobs already succeeded", file=out)
        if previous is None or not done:
            result.append(deck)
            continue
        jobs = tuple(
            replace(spec, after=tuple(name for name in spec.after if name not in done))
            for spec in deck.jobs
            if spec.name not in done
        )
        result.append(replace(deck, jobs=jobs))
        carry_over[str(deck.path)] = (previous, sorted(done))
    return result, carry_over


async def run_decks(
    decks: Sequence[Deck],
    as_json: bool,
    grace_period: float,
    progress_out: TextIO,
    journal: Journal | None = None,
    carry_over: dict[str, tuple[str, list[str]]] | None = None,
) -> int:
    """Run the decks to the end (or until SIGINT/SIGTERM), showing progress; then report and return the exit code.
    With a journal, every change is recorded in it as it happens."""
    import anyio

    from runner.cli.console import progress_view
    from runner.engine.engine import Engine
    from runner.journal.recorded import recorded_engine

    outcome = RunOutcome()
    engine = Engine(grace_period=grace_period)
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
                await engine.cancel_all()
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
        for deck in engine.decks:
            print(json.dumps(deck_report(deck, engine.jobs_of(deck))), flush=True)
    for deck in engine.decks:
        jobs = list(engine.jobs_of(deck))
        for line in deck_summary_lines(deck, jobs, outcome.deck_elapsed_s(jobs)):
            print(line, file=progress_out)
    if outcome.stopped_at_once:
        print("jobdeck: stopped at once by a second signal; jobs still running were left unfinished", file=progress_out)
    elif outcome.stop_signal is not None:
        print(f"jobdeck: stopped by {outcome.stop_signal}; unfinished jobs were cancelled", file=progress_out)
    progress_out.flush()
    all_succeeded = all(job.state is JobState.SUCCEEDED for job in engine.jobs.values())
    return EXIT_OK if all_succeeded and outcome.stop_signal is None else EXIT_JOBS_FAILED


if __name__ == "__main__":
    sys.exit(main())
