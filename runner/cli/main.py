"""The `jobdeck` command line: `main` reads the arguments and hands over to the command's module.

`run` and `check` never import Textual: start-up stays quick and worker processes stay light. Everything
heavier than argparse is imported inside the command that needs it: `runner.cli.arguments` (parsing),
`runner.cli.run` (`run`), `runner.cli.loading` (`check`), `runner.cli.client_commands` (`submit`,
`start-server`, `stop-server`, `env`), `runner.cli.reports` (`wait`, `status`, `history`, `export`, `completion`,
`check --json`), `runner.cli.events` (`events`), `runner.cli.dashboard` (the dashboard, `attach`, `demo`).

Which Dask cluster an `on = "dask"` job uses, most specific first: `--dask ADDRESS` (of `jobdeck run`, or
leading the dashboard's files: `jobdeck --dask ADDRESS FILE...`), then `$JOBDECK_DASK`, then the deck's
`[deck] dask`. The option is passed on as `JOBDECK_DASK` in this process's environment, which decks loaded
from here run in (in this process's engine, or in the server's). A job's own `on = "dask://host:port"` always
uses that cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import Sequence

from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK

DEBUG_VARIABLE = "JOBDECK_DEBUG"
COMPLETE_COMMAND = "__complete"
"""The hidden command the completion scripts run for deck, job and run names (runner.cli.completion_names)."""


_ended_cleanly = False
"""`jobdeck run` leaves nothing behind when run_command returns: its engine, workers, journal and logs are
closed. `entry` then ends the process without Python's own tear-down of every module and object, which took
0.06-0.15 s (0.24 s on a loaded machine) of each run's time after its last job."""


def entry() -> None:
    """The `jobdeck` command: `main`, then the process ends with its exit status."""
    from runner.cli.collector import pause_for_start_up

    pause_for_start_up()
    code = main()
    if not _ended_cleanly:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that went away: nothing more can reach it
            stream.flush()
    atexit._run_exitfuncs()  # what was registered to run at exit still runs (workers started early but unused)
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == [COMPLETE_COMMAND]:  # a shell's Tab: before any parsing, as fast as can be
        from runner.cli.completion_names import complete_command

        return complete_command(arguments[1:])
    from runner.cli.arguments import chosen_socket, dashboard_parser, parse_arguments, use_dask_cluster, wants_dashboard

    dashboard = wants_dashboard(arguments)
    try:
        options = dashboard_parser().parse_args(arguments) if dashboard else parse_arguments(arguments)
    except SystemExit as exit_request:
        return EXIT_BAD_INPUT if exit_request.code else EXIT_OK
    if getattr(options, "dask", None) is not None:
        use_dask_cluster(options.dask)
    if (options.command if not dashboard else "dashboard") != "run":
        from runner.cli.collector import started

        started()  # `run` says so itself, once it has imported the engine
    try:
        command = "dashboard" if dashboard else options.command
        if command in ("dashboard", "attach"):
            from runner.cli.dashboard import dashboard_command

            files = options.files if dashboard else []
            local = dashboard and options.local
            return dashboard_command(files, local=local, socket_path=chosen_socket(options))
        if command == "demo":
            from runner.cli.dashboard import demo_command

            return demo_command(keep=options.keep)
        if command in ("wait", "status", "history", "export", "completion") or (command == "check" and options.json):
            from runner.cli.reports import reports_command

            return reports_command(options)
        if command == "check":
            from runner.cli.loading import check_command

            return check_command(options.files)
        if command == "logs":
            from runner.cli.logs import logs_command

            return logs_command(options)
        if command == "forget":
            from runner.cli.forgetting import forget_command

            return forget_command(options)
        if command in ("add", "pause", "resume", "cancel", "retry"):
            from runner.cli.control import control_main

            return control_main(options)
        if command in ("events",):
            from runner.cli.events import events_command

            return events_command(options)
        if command in ("submit", "start-server", "stop-server", "env"):
            from runner.cli.client_commands import server_command

            return server_command(options)
        from runner.cli.run import run_command

        global _ended_cleanly
        _ended_cleanly = True  # set before the run: a run that raises has nothing half-open either
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
        import traceback

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


if __name__ == "__main__":
    entry()
