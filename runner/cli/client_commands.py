"""The commands that talk to the per-user server: `submit`, `start-server`, `stop-server` and `env` (`status` is
runner.cli.status_command)."""

from __future__ import annotations

import argparse
import sys

from runner import paths
from runner.cli.arguments import chosen_socket
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK


def server_command(options: argparse.Namespace) -> int:
    """submit, start-server, stop-server and env: talk to the per-user server (which submit, env and
    start-server start when none runs)."""
    from runner.server import client

    socket_path = chosen_socket(options)
    note = paths.socket_folder_note() if socket_path is None else None
    if note is not None:
        print(f"jobdeck: {note}", file=sys.stderr)
    try:
        if options.command == "submit":
            return report_submitted(client.submit(options.files, socket_path, again=options.again))
        if options.command == "start-server":
            return report_started(*client.start_server(socket_path))
        if options.command == "env":
            print(f"jobdeck: {client.supply_environment(options.deck, socket_path)['message']}")
            return EXIT_OK
        stopped = client.stop_server(socket_path)
    except client.ServerError as error:
        nothing = "; nothing was loaded" if options.command == "submit" else ""
        print(f"jobdeck: {error}{nothing}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    if stopped is None:
        print("jobdeck: no server runs")
    elif stopped["cancelled"] is None:
        print(
            f"jobdeck: server {stopped['pid']} was started by another version of jobdeck (its protocol differs): "
            "stopped it with SIGTERM; its unfinished jobs run again when a server next starts"
        )
    else:
        cancelled = stopped["cancelled"]
        print(f"jobdeck: server {stopped['pid']} stopped; {cancelled} job{'' if cancelled == 1 else 's'} cancelled")
    return EXIT_OK


def report_started(server: dict[str, object], started: bool) -> int:
    """Which server runs where, whether it was started now, and what it brought back or has to warn of."""
    print(f"jobdeck: server {server['pid']} {'started' if started else 'already runs'} at {server['socket']}")
    for line in _lines(server.get("journal_problems")):
        print(f"warning: {line}")
    for line in _lines(server.get("restored")):
        print(f"note: {line}")
    return EXIT_OK


def _lines(value: object) -> list[str]:
    return [str(line) for line in value] if isinstance(value, list) else []


def report_submitted(results: list[dict[str, object]]) -> int:
    """One line per file saying whether it was loaded (and as which deck), or why not; the exit status."""
    refused = failed = False
    for result in results:
        path = result["path"]
        if result["loaded"] is True:
            jobs = result["jobs"]
            print(f"submitted {path}: deck {result['deck']!r}, {jobs} job{'' if jobs == 1 else 's'}")
            if result.get("repeats"):
                print(f"  loaded again: deck {result['repeats']!r} came from the same file with the same jobs")
            continue
        problems = result.get("problems")
        if result["loaded"] is False and isinstance(problems, list):
            print(f"not loaded: {path}", file=sys.stderr)
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            refused = True
        elif result["loaded"] is False:
            print(f"not loaded: {path}: {result['error']}", file=sys.stderr)
            failed = True
        else:
            print(
                f"unknown whether {path} was loaded: {result['error']}; `jobdeck status` lists the loaded decks",
                file=sys.stderr,
            )
            failed = True
    return EXIT_JOBS_FAILED if failed else EXIT_BAD_INPUT if refused else EXIT_OK
