"""The `jobdeck` command line's arguments: the main parser with its subcommands, and the dashboard's own parser.

Only argparse is imported here, so that `jobdeck --help` stays quick; what an option needs to check its value
(the Dask address) is imported when the option is used.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from runner import paths
from runner.cli.command_subset import only_command
from runner.spelling import closest

SUBCOMMANDS = (
    "run",
    "check",
    "demo",
    "submit",
    "status",
    "start-server",
    "stop-server",
    "attach",
    "env",
    "forget",
    "add",
    "pause",
    "resume",
    "cancel",
    "retry",
    "wait",
    "history",
    "export",
    "completion",
    "logs",
    "events",
)
DASHBOARD_OPTIONS = ("--local", "--socket", "--dask")
MAIN_OPTIONS = ("-h", "--help", "--version")
SOCKET_HELP = f"the server's socket (default: ${paths.SOCKET_VARIABLE}, else one in the user's runtime directory)"
DEFAULT_GRACE_S = 5.0


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


class VersionAction(argparse.Action):
    """`--version`, looked up only when asked: importlib.metadata would cost every start-up (--help too) tens of ms."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **_: object) -> None:
        super().__init__(
            option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help="show the version and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from runner.version import installed_version

        print(f"{parser.prog} {installed_version()}")
        parser.exit()


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each subcommand's parser (to report an error against the right usage). With
    `only`, a command's name, the other commands' parsers are not built (runner.cli.command_subset): what is
    added to them is dropped, and they are in the dict only as stand-ins."""
    parser = argparse.ArgumentParser(
        prog="jobdeck",
        formatter_class=CommandListFormatter,
        description="Run decks of jobs (fetch URLs, call Python functions, run shell commands) with pause, "
        "cancel and retry. `jobdeck [FILE...]` opens the dashboard, attached to your jobdeck server (started in "
        "the background if none runs), and loads those job files into it; the jobs go on when you detach (d). "
        "`jobdeck --local [FILE...]` runs them in the dashboard's own process instead. "
        "See `jobdeck --local --help`.",
        epilog="`jobdeck COMMAND --help` says more of a command, and its exit status. The dashboard and `run` "
        "exit 0 when every job succeeded, 1 when any did not (or jobdeck was interrupted), 2 for a bad job file "
        'or bad usage. Shell completion: eval "$(jobdeck completion bash)" (or zsh).',
    )
    parser.add_argument("--version", action=VersionAction)
    commands = only_command(parser.add_subparsers(dest="command", metavar="COMMAND", title="commands"), only)
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
        help=f"the journal (SQLite) this run is recorded in; default: ${paths.DB_VARIABLE}, else journal.db in the "
        "user's state directory",
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
        help="load job files into your server and return at once",
        description="Load job files into the per-user jobdeck server, which runs them after this command ends. "
        "A file whose same jobs are loaded and not finished is refused (nothing runs twice) unless --again.",
        epilog="Exit status: 0 when every file was loaded, 2 when one was refused (bad, or loaded already) "
        "and 1 when the server failed or was lost (the output says whether each file was loaded).",
    )
    submit.add_argument("files", nargs="+", metavar="FILE", type=Path, help="job files (TOML)")
    submit.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    submit.add_argument(
        "--again",
        action="store_true",
        help="load a file even when the same file's same jobs are loaded and unfinished (as a new deck, name#2)",
    )
    status = commands.add_parser(
        "status",
        help="print each deck's progress and ETA, and its jobs",
        description="Print the server's jobs and states.",
    )
    status.add_argument("--json", action="store_true", help="print the report as JSON, with a server object")
    status.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    start = commands.add_parser(
        "start-server",
        help="start your server if none runs (it resumes what was left)",
        description="Start the per-user jobdeck server in the background, unless one runs; return once it answers. "
        "A new server runs again the decks the journal shows unfinished (after a crash or a reboot). `status` "
        "never starts one; `submit`, `env` and the dashboard do.",
    )
    start.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    stop = commands.add_parser(
        "stop-server",
        help="cancel the server's jobs cleanly and stop it",
        description="Cancel every job of the per-user server cleanly, then stop the server.",
    )
    stop.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    attach = commands.add_parser(
        "attach",
        help="open the dashboard on the server's jobs, loading nothing",
        description="Open the dashboard attached to the per-user jobdeck server.",
    )
    attach.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    demo = commands.add_parser(
        "demo",
        help="open the dashboard on a demo deck (works offline)",
        description="Open the dashboard on the demo deck: downloads, retries, CPU jobs on processes and threads, "
        "shell jobs, a fan-out, a dependency chain, and a slow download and a simulation that run for about a "
        "minute and a half. Its files go to a temporary folder, removed when the demo ends.",
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo's folder (its deck and downloads) afterwards")
    environment = commands.add_parser(
        "env",
        help="give a deck this shell's environment variables",
        description="Give a deck of the per-user server this shell's environment variables and umask. A deck "
        "restored after a reboot whose file uses ${VAR}s waits for them until this is run from a shell that has "
        "them; a running deck starts its next attempts with the new environment.",
    )
    environment.add_argument("deck", metavar="DECK", help="the deck's name, as `jobdeck status` shows it")
    environment.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    forget = commands.add_parser(
        "forget",
        help="drop finished decks from the server (history keeps them)",
        description="Drop decks whose jobs have all finished from the server's memory: they leave `status` and "
        "the dashboard, and stay in the history. A deck with unfinished jobs is refused: cancel them or let them "
        "end first. The server also forgets decks finished more than 7 days ago by itself "
        "($JOBDECK_FORGET_AFTER changes that).",
    )
    forget.add_argument("decks", nargs="*", metavar="DECK", help="deck names, as `status` shows them")
    forget.add_argument("--finished", action="store_true", help="every deck whose jobs have all finished")
    forget.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    control = add_control_commands(commands)
    reports = add_reports_commands(commands)
    logs = add_logs_commands(commands)
    events = add_events_commands(commands)
    return parser, {
        **control,
        **reports,
        "logs": logs,
        **events,
        "env": environment,
        "forget": forget,
        "run": run,
        "check": check,
        "submit": submit,
        "status": status,
        "start-server": start,
        "stop-server": stop,
        "attach": attach,
        "demo": demo,
    }


class CommandListFormatter(argparse.HelpFormatter):
    """`jobdeck --help` with one line per command under "commands:", without argparse's lone `COMMAND` line
    above them (which also pushed the longest names' help onto a line of its own)."""

    def _format_action(self, action: argparse.Action) -> str:
        if isinstance(action, argparse._SubParsersAction):
            return "".join(self._format_action(command) for command in action._get_subactions())
        return super()._format_action(action)


JOB_STATES = ("queued", "running", "paused", "retrying", "succeeded", "failed", "cancelled", "skipped")
"""runner.model.JobState's values (not imported: the model would slow every start; a test keeps them equal)."""
EXIT_TIMED_OUT = 124


class JobStates:
    """An argparse type: a job state, or several separated by commas (`failed,cancelled`). Its `words` are what
    shell completion offers for it (runner.cli.completion)."""

    words = JOB_STATES

    def __call__(self, text: str) -> str:
        for state in text.split(","):
            if state not in JOB_STATES:
                near = closest(state, JOB_STATES)
                hint = f"did you mean {near!r}? " if near else ""
                known = ", ".join(JOB_STATES)
                raise argparse.ArgumentTypeError(f"{state!r} is not a job state ({hint}states: {known})")
        return text

    def __repr__(self) -> str:
        return "job state"  # argparse names the type in an error with it


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number, `minimum` or more."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be {minimum} or more")
        return value

    return parse


def add_reports_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> dict[str, argparse.ArgumentParser]:
    """wait, history, export and completion; the filters of status and check's --json."""
    status = commands.choices["status"]
    status.description = (
        "Print a line per deck (its jobs' states, throughput and ETA), the server, then the decks' jobs: when "
        "asked (--jobs, --state) or when they are 20 or fewer. Starts no server."
    )
    status.epilog = "Exit status: 0 (also when no server runs: it says so), 2 for a deck that is not loaded."
    status.add_argument("decks", nargs="*", metavar="DECK", help="only these decks (default: every loaded deck)")
    status.add_argument(
        "--state",
        action="append",
        type=JobStates(),
        metavar="STATE",
        help=f"list only the jobs in this state; repeat it, or give several as a,b ({', '.join(JOB_STATES)})",
    )
    shown = status.add_mutually_exclusive_group()
    shown.add_argument("--summary", action="store_true", help="only the line of each deck, never its jobs")
    shown.add_argument("--jobs", action="store_true", help="list the jobs however many there are")
    commands.choices["check"].add_argument(
        "--json", action="store_true", help="print one JSON object with every problem's file, line, job and hint"
    )
    commands.choices["check"].epilog = "Exit status: 0 when every file is good, 2 when any is not."
    wait = commands.add_parser(
        "wait",
        help="wait until decks or jobs have finished",
        description="Wait until every job of the given decks (or the given jobs) has finished, then print a line "
        "such as `3 succeeded, 1 failed: nightly/get`. No DECK or JOB: every loaded deck. The server does the "
        "waiting. If it goes away meanwhile, wait reads how the jobs ended in the journal, or waits up to a "
        "minute for a new server (which runs again what was left) and goes on there. Starts no server.",
        epilog=f"Exit status: 0 when every job succeeded, 1 when any failed or was cancelled or skipped (or no server "
        f"could tell), 2 for a name that is no loaded deck or job, {EXIT_TIMED_OUT} when --timeout ran out.",
    )
    wait.add_argument(
        "targets", nargs="*", metavar="DECK|JOB", help="deck names, job ids (deck/name), or job names one deck has"
    )
    wait.add_argument(
        "--timeout", type=seconds, metavar="S", help="give up after S seconds of wall-clock time (exit 124)"
    )
    wait.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    wait.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    journal_help = f"the journal to read (default: ${paths.DB_VARIABLE}, else journal.db in the user's state directory)"
    history = commands.add_parser(
        "history",
        help="list earlier runs from the journal, with their ids",
        description="List the journal's runs, newest first: id, when loaded, deck, jobs, outcome, file. Reads "
        "the journal only; needs no server.",
        epilog="Exit status: 0, 1 when the journal cannot be read.",
    )
    history.add_argument("--limit", type=whole_number(1), default=50, metavar="N", help="the last N runs (default 50)")
    history.add_argument("--json", action="store_true", help="print a JSON array of runs")
    history.add_argument("--db", type=Path, metavar="PATH", help=journal_help)
    export = commands.add_parser(
        "export",
        help="print a run's jobs as CSV or JSON lines (a joblog)",
        description="Print one run's jobs from the journal, like GNU parallel's joblog: name, kind, state, "
        "attempts, started_at, ended_at, duration_s, bytes, exit_code, signal, error, result (a preview). Reads "
        "the journal only; needs no server.",
        epilog="Exit status: 0, 1 when the journal cannot be read, 2 when it has no such run.",
    )
    export.add_argument(
        "run", metavar="RUN", help="a run id (or its start) from `jobdeck history`, or a deck name: its latest run"
    )
    form = export.add_mutually_exclusive_group()
    form.add_argument("--csv", action="store_true", help="CSV with a header line (the default)")
    form.add_argument("--json", action="store_true", help="JSON lines: one object per job")
    export.add_argument("--db", type=Path, metavar="PATH", help=journal_help)
    completion = commands.add_parser(
        "completion",
        help="print a bash or zsh completion script",
        description='Print a completion script: add eval "$(jobdeck completion bash)" to ~/.bashrc, or '
        'eval "$(jobdeck completion zsh)" to ~/.zshrc (after compinit). It completes commands and options, '
        "and the names of your server's decks and jobs.",
    )
    completion.add_argument("shell", choices=("bash", "zsh"), help="the shell")
    return {"wait": wait, "history": history, "export": export, "completion": completion}


def add_logs_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """`jobdeck logs`."""
    logs = commands.add_parser(
        "logs",
        help="print a job's whole output, or follow it while it runs",
        description="Print a job's output from its log files, stdout and stderr in the order they came (each "
        "attempt keeps up to its deck's log_limit_mb, 10 MiB by default: past that, its start and its end, with "
        "a line saying how much was left out). JOB is a job's name, or deck/name. A job no loaded deck has is "
        "looked for in the journal's history (the newest run with a job of that name); a forgotten deck's files "
        "are gone, and then the last lines the journal keeps are printed. With no server running, the journal "
        "is read directly; no server is started.",
        epilog="Exit status: 0 when the log was printed (with --follow: when the job succeeded), 1 when the job "
        "did not succeed (with --follow) or the server could not be asked, 2 for an unknown job, an attempt it "
        "did not make, or bad usage, 130 when Ctrl-C ended --follow.",
    )
    logs.add_argument("job", metavar="JOB", help="the job: its name, or deck/name as `jobdeck status` shows it")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="go on printing lines as the job writes them (and its next attempts), until it finishes",
    )
    streams = logs.add_mutually_exclusive_group()
    streams.add_argument("--stdout", action="store_true", help="only what the job wrote to stdout")
    streams.add_argument("--stderr", action="store_true", help="only what the job wrote to stderr")
    logs.add_argument(
        "--attempt", type=whole_number(1), metavar="N", help="that attempt's output (default: the latest)"
    )
    logs.add_argument("--tail", type=whole_number(1), metavar="N", help="only the last N lines (then the new ones)")
    logs.add_argument(
        "--json", action="store_true", help='one JSON object per line: {"stream": "stdout", "line": "..."}'
    )
    logs.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    return logs


def add_events_commands(commands: Any) -> dict[str, argparse.ArgumentParser]:
    """The `events` subcommand's parser, added to the main parser's `commands`."""
    events = commands.add_parser(
        "events",
        help="print each change of state, output line and deck as it happens",
        description="Follow the per-user server: print a line per event as it happens (a job's change of state, "
        "its progress, each line it writes, a deck loaded or forgotten, dispatching paused or resumed), from now "
        "until the server stops. Events are grouped every 50 ms or so; a reader too slow to keep up is told what "
        "it missed. No server is started for this.",
        epilog="Exit status: 0 when the server stops, on Ctrl-C and when the reader of the output goes away; 1 when "
        "no server runs or the connection to it is lost; 2 for bad usage.",
    )
    events.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: type, time, deck, job, id, state, previous, ... (see the README)",
    )
    events.add_argument("--deck", metavar="NAME", help="only this deck's events (it may be loaded later)")
    events.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    return {"events": events}


def parse_arguments(arguments: list[str]) -> argparse.Namespace:
    """Parsed options; raises SystemExit (with argparse's message printed) for usage errors, --help, --version."""
    # The command's own parser is all that a command line starting with a command name needs: building the
    # twenty others cost every start-up ~10 ms.
    parser, subparsers = build_parser(arguments[0] if arguments and arguments[0] in SUBCOMMANDS else None)
    mistake = leading_mistake(arguments)
    if mistake is not None:  # an option before any command can only have been meant for the dashboard
        (dashboard_parser() if arguments[0].startswith("-") else parser).error(mistake)
    options, unknown = parser.parse_known_args(arguments)
    if unknown:
        used = subparsers.get(options.command, parser)
        hints = [hint for hint in map(partial(option_hint, used), unknown) if hint]
        used.error(f"unrecognized arguments: {' '.join(unknown)}{''.join(f' ({hint})' for hint in hints)}")
    if options.command is None:
        parser.error("give a COMMAND (run, check, demo), or job files to open the dashboard")
    return options


def wants_dashboard(arguments: Sequence[str]) -> bool:
    """`jobdeck` alone, `jobdeck FILE...` or `jobdeck --local FILE...` (any dashboard option first, or a prefix of
    one, as argparse takes it): what will open the dashboard. A subcommand, `--help`, `--version`, or a mistake
    that `leading_mistake` explains goes to the main parser."""
    if not arguments:
        return True
    first = arguments[0]
    if first.startswith("-"):
        return _dashboard_option(first.partition("=")[0]) is not None
    return first not in SUBCOMMANDS and leading_mistake(arguments) is None


def _dashboard_option(option: str) -> str | None:
    """The dashboard option `option` names: itself, or the one option it is the start of (`--loc`)."""
    matches = [known for known in DASHBOARD_OPTIONS if known.startswith(option)] if option.startswith("--") else []
    return option if option in DASHBOARD_OPTIONS else matches[0] if len(matches) == 1 else None


def leading_mistake(arguments: Sequence[str]) -> str | None:
    """What is wrong with the first argument when it is neither a command, a job file nor a known option, and is
    near enough to one to say which was meant: `jobdeck stauts`, `jobdeck --locl x.toml`."""
    if not arguments:
        return None
    first = arguments[0]
    if first.startswith("-") and len(first) > 1:
        option = first.partition("=")[0]
        if option in MAIN_OPTIONS or _dashboard_option(option) is not None:
            return None
        near = closest(option, DASHBOARD_OPTIONS + MAIN_OPTIONS)
        listing = ", ".join(DASHBOARD_OPTIONS + MAIN_OPTIONS[1:])
        return f"unknown option {option}" + (f"; did you mean {near}?" if near else f" (options: {listing})")
    if first in SUBCOMMANDS or "/" in first or "." in first or Path(first).exists():
        return None  # a command, or a path: a missing job file is said so when it is loaded
    near = closest(first, SUBCOMMANDS)
    return f"unknown command {first!r}; did you mean {near!r}?" if near else None


def option_hint(parser: argparse.ArgumentParser, argument: str) -> str | None:
    """`did you mean --json?` for an unknown option near one of the parser's."""
    if not argument.startswith("--"):
        return None
    option = argument.partition("=")[0]
    near = closest(option, [known for known in parser._option_string_actions if known.startswith("--")])
    return f"did you mean {near}?" if near else None


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


def chosen_socket(options: argparse.Namespace) -> Path | None:
    """--socket, else $JOBDECK_SOCKET, else None (the default path in the user's runtime directory)."""
    return options.socket or paths.chosen_socket_path()


def add_control_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> dict[str, argparse.ArgumentParser]:
    """`add`, and `pause`, `resume`, `cancel`, `retry` (runner.cli.control)."""
    from runner.cli.control import CONTROL_COMMANDS, keyword_value

    add = commands.add_parser(
        "add",
        help="add one shell command (or --call) as a job, without a file",
        description="Add one job to the per-user server (started if none runs), as if it were a [[job]] of a job "
        "file in this folder: it runs here, with this shell's environment and umask, and survives a restart of "
        "the server like a submitted deck's jobs. Without --deck it goes to the deck 'adhoc' (started on first "
        "use). One COMMAND word is a command line as written (quote it: 'make && make test'); several are a "
        "program and its arguments. With --call, the ARGs are the function's arguments: an ARG that reads as "
        'JSON is that value (5, 2.5, true, [1, 2], {"a": 1}, \'"007"\' for a string), any other is a string. '
        "Options go before the COMMAND or ARGs: whatever follows them is part of them.",
        epilog="Prints the job's name as deck/name (with --json, an object). Exit status: 0 when the job was "
        "added, 2 when it was refused (a bad command or call, an unknown --after job, a name taken), 1 when the "
        "server could not be reached.",
        usage="jobdeck add [options] -- COMMAND...\n       jobdeck add [options] --call MODULE:FUNCTION [ARG...]",
    )
    add.add_argument("--deck", metavar="NAME", help="the deck to add to: a loaded deck, or a new one (default: adhoc)")
    add.add_argument("--name", metavar="NAME", help="the job's name (default: the program's, numbered: make-3)")
    add.add_argument(
        "--after",
        metavar="JOB",
        nargs="+",
        action="extend",
        help="run only once these jobs of the deck succeeded (name, fan-out name, or deck/name: "
        "without --deck, the job goes to that deck); put -- before the command",
    )
    add.add_argument("--retries", type=whole_number(0), metavar="N", help="retries on failure (default: the deck's)")
    add.add_argument(
        "--timeout", type=seconds, metavar="S", help="seconds per attempt, 0 for none (default: the deck's)"
    )
    add.add_argument("--call", metavar="MODULE:FUNCTION", help="call this function instead (on a worker process)")
    add.add_argument(
        "--kwarg",
        metavar="NAME=VALUE",
        type=keyword_value,
        action="append",
        help="a keyword argument of --call (VALUE read as the ARGs are); may be repeated",
    )
    add.add_argument("--json", action="store_true", help='print {"job", "deck", "name", "created"}')
    add.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
    add.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND | ARG", help=argparse.SUPPRESS)
    parsers = {"add": add}
    helps = {
        "pause": "pause jobs (queued: held back; running: really suspended)",
        "resume": "resume paused jobs",
        "cancel": "cancel jobs (a running one is ended, its processes too)",
        "retry": "run failed, cancelled or skipped jobs again",
    }
    for action in CONTROL_COMMANDS:
        parser = commands.add_parser(
            action,
            help=helps[action],
            description=f"{helps[action][0].upper()}{helps[action][1:]}, selected by the server in one request. "
            "A JOB is a name, deck/name, or a glob where * is any characters and ? one ('page[*]' is every item "
            "of the fan-out page, 'build-?', 'nightly/*'; quote it; brackets are literal): a job named exactly as "
            "written wins over the glob. --deck and --failed narrow the JOBs (alone, they select every "
            "job of the deck, or every failed job); --all selects every job. A selected job the command does not "
            "apply to is reported as such. Never asks: to be careful, look with `jobdeck status` first.",
            epilog="Prints a line per job, or counts when more than 20 are selected. Exit status: 0 when every JOB "
            "and --deck matched, 1 when nothing matched, a JOB or --deck matched nothing, or no server runs (none "
            "is started), 2 for bad usage (no selection, --all with JOBs, a name in several decks).",
        )
        parser.add_argument("jobs", nargs="*", metavar="JOB", help="job names, deck/name, or globs")
        parser.add_argument("--deck", action="append", metavar="NAME", help="only jobs of this deck (may repeat)")
        parser.add_argument("--failed", action="store_true", help="only failed jobs")
        parser.add_argument("--all", action="store_true", help="every job of the server")
        parser.add_argument("--json", action="store_true", help="print what was done as one JSON object")
        parser.add_argument("--socket", type=Path, metavar="PATH", help=SOCKET_HELP)
        parsers[action] = parser
    return parsers
