"""`jobdeck events [--json] [--deck NAME]`: the server's stream of what happens, a line per event, as it happens.

Each line is written and flushed as its update arrives, so a pipe (`| jq`, `| grep --line-buffered`) sees it at
once. The stream ends when the server stops (status 0), when the output's reader goes away or on Ctrl-C or
SIGTERM (status 0, quietly), or when the connection is lost without the server saying it stops (status 1). No
server is started for it: with none running it says so (status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any, TextIO

import anyio

from runner.cli.arguments import chosen_socket
from runner.cli.event_text import event_line
from runner.cli.exits import EXIT_JOBS_FAILED, EXIT_OK
from runner.server.client import ServerError
from runner.server.messages import StreamEvent, Subscribe
from runner.server.subscriber import SubscribedClient
from runner.server.wire import from_wire
from runner.spelling import closest


class Ended(Exception):
    """The stream is over: `status` is the exit status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def events_command(options: argparse.Namespace) -> int:
    try:
        return anyio.run(follow_events, chosen_socket(options), options.json, options.deck, sys.stdout)
    except KeyboardInterrupt:  # a Ctrl-C that came before the signal receiver was in place
        return EXIT_OK


async def follow_events(socket_path: Path | None, as_json: bool, deck: str | None, out: TextIO) -> int:
    try:
        client = await SubscribedClient.connect(socket_path)
    except OSError:
        print(
            "jobdeck: no jobdeck server runs: no events to follow (`jobdeck submit FILE` or `jobdeck start-server` "
            "starts one)",
            file=sys.stderr,
        )
        return EXIT_JOBS_FAILED
    except ServerError as error:
        print(f"jobdeck: {error}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    printer = EventPrinter(out, as_json, deck)
    async with client, anyio.create_task_group() as group:
        group.start_soon(_end_on_signals, group.cancel_scope)
        if _is_pipe(out):
            group.start_soon(_end_when_reader_leaves, out, group.cancel_scope)
        group.start_soon(_follow, client, printer, Subscribe(events=True, deck=deck), group.cancel_scope)
    return printer.status


async def _follow(
    client: SubscribedClient, printer: EventPrinter, subscription: Subscribe, scope: anyio.CancelScope
) -> None:
    """Print the updates until the server says it stops (or the connection ends), then end the command."""
    try:
        await client.follow(subscription, printer.take)
    except Ended as ended:
        printer.status = ended.status
    except ServerError as refused:
        print(f"jobdeck: {refused}", file=sys.stderr)
        printer.status = EXIT_JOBS_FAILED
    else:
        why = client.ended.message if client.ended is not None else "it was closed"
        print(f"jobdeck: the connection to the jobdeck server was lost: {why}", file=sys.stderr)
        printer.status = EXIT_JOBS_FAILED
    scope.cancel()


class EventPrinter:
    """Prints each event of each update; raises Ended (from the update that says so) when the server stops."""

    def __init__(self, out: TextIO, as_json: bool, deck: str | None) -> None:
        self.out = out
        self.as_json = as_json
        self.deck = deck
        self.status = EXIT_OK
        self.first = True

    def take(self, update: dict[str, Any]) -> None:
        if self.first:
            self.first = False
            self._say_if_no_such_deck(update["decks"])
        try:
            for data in update["events"]:
                if self.as_json:
                    self.out.write(json.dumps(data, ensure_ascii=False) + "\n")
                else:
                    self.out.write(event_line(from_wire(StreamEvent, data, "event")) + "\n")
            self.out.flush()
        except BrokenPipeError:
            _silence(self.out)
            raise Ended(EXIT_OK) from None
        if update.get("stopping"):
            raise Ended(EXIT_OK)

    def _say_if_no_such_deck(self, decks: dict[str, str]) -> None:
        if self.deck is None or self.deck in decks:
            return
        near = closest(self.deck, list(decks))
        hint = f"; did you mean {near!r}?" if near else f" (loaded: {', '.join(decks) or 'none'})"
        print(f"jobdeck: no deck named {self.deck!r} is loaded{hint}; its events follow once one is", file=sys.stderr)


async def _end_on_signals(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _end_when_reader_leaves(out: TextIO, scope: anyio.CancelScope) -> None:
    """The pipe's reader went away while no event came (`jobdeck events | head -3`): end now, not at the next
    event. A pipe's writing end only ever polls readable once its reader has closed it."""
    await anyio.wait_readable(out.fileno())
    _silence(out)
    scope.cancel()


def _is_pipe(out: TextIO) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(out.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


def _silence(out: TextIO) -> None:
    """Point the output at /dev/null so that Python's final flush does not complain about the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
