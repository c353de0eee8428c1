"""The commands that talk to the per-user server: `submit`, `status` and `stop-server`."""

from __future__ import annotations

import argparse
import json
import sys

from runner.cli.arguments import chosen_socket
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK


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
    for line in server.get("journal_problems") or []:
        print(f"warning: {line}")
    for line in server.get("restored") or []:
        print(f"note: {line}")
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
