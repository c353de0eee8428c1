"""`jobdeck forget DECK...` and `jobdeck forget --finished`: drop finished decks from the server's memory."""

from __future__ import annotations

import argparse
import sys

from runner.cli.arguments import chosen_socket
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK


def forget_command(options: argparse.Namespace) -> int:
    from runner.server import client

    if bool(options.decks) == options.finished:
        print("jobdeck forget: give deck names, or --finished (not both)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        results = client.forget(options.decks, finished=options.finished, socket_path=chosen_socket(options))
    except client.ServerError as error:
        print(f"jobdeck: {error}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    refused = False
    for result in results:
        if "error" in result:
            refused = True
            print(f"jobdeck: {result['error']}", file=sys.stderr)
            continue
        decks, jobs = result["decks"], result["jobs"]
        if decks:
            names = ", ".join(decks)
            print(f"forgot {names} ({jobs} job{'' if jobs == 1 else 's'}); the journal keeps their history")
        else:
            print("no deck has finished: nothing forgotten")
    return EXIT_JOBS_FAILED if refused else EXIT_OK
