"""`jobdeck status [DECK...] [--state STATE] [--summary | --jobs] [--json]`: the server's decks and jobs.

Text: a line per deck (states, throughput, ETA), the server, then the jobs, listed when asked for (`--jobs`, or
`--state`) or when the decks shown have at most LISTED_AT_MOST jobs in all. JSON: one object, `{"server",
"decks"}`, written as the server's pages arrive, so its size is bounded by nothing but the jobs. With no server
running, it says so (`{"server": null, "decks": []}`) and exits 0: it starts none.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runner import paths
from runner.cli.arguments import chosen_socket
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK
from runner.cli.status_text import deck_line, hook_lines, job_line, server_lines

if TYPE_CHECKING:
    from runner.server.client import Client
    from runner.server.messages import DeckStatus, StatusReply

LISTED_AT_MOST = 20
"""Without --jobs, the jobs are listed when the decks shown have at most this many in all."""


class UnknownDecks(Exception):
    """Deck names the server has not loaded: exit 2, with a sentence each."""


def status_command(options: argparse.Namespace) -> int:
    out = sys.stdout
    import anyio

    from runner.server.client import ServerError

    socket_path = chosen_socket(options)
    note = paths.socket_folder_note() if socket_path is None else None
    if note is not None:
        print(f"jobdeck: {note}", file=sys.stderr)
    states = chosen_states(options.state)
    try:
        anyio.run(show_status, options, socket_path, states, out)
    except UnknownDecks as unknown:
        for line in unknown.args:
            print(f"jobdeck status: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ServerError as error:
        print(f"jobdeck: {error}", file=sys.stderr)
        return EXIT_JOBS_FAILED
    return EXIT_OK


def chosen_states(given: Sequence[str] | None) -> list[str] | None:
    """--state values (each may list several, comma-separated), checked by argparse already."""
    if not given:
        return None
    return list(dict.fromkeys(state for value in given for state in value.split(",") if state))


async def show_status(
    options: argparse.Namespace, socket_path: Path | None, states: list[str] | None, out: TextIO
) -> None:
    from runner.server.client import Client

    path = Path(socket_path or paths.socket_path())
    try:
        client = await Client.connect(path)
    except OSError:
        if options.json:
            out.write(json.dumps({"server": None, "decks": []}) + "\n")
        else:
            out.write(
                f"no jobdeck server runs (at {path}), so no decks are loaded; `jobdeck start-server` starts one "
                "(which runs again the decks a stopped server left unfinished), as does `jobdeck submit FILE`\n"
            )
        return
    async with client:
        first, decks = await read_decks(client)
        waiting = [deck for deck in first.waiting]
        decks, waiting = chosen_decks(decks, waiting, options.decks)
        if options.json:
            await write_json(client, first, decks, waiting, states, summary=options.summary, out=out)
        else:
            await write_text(client, first, decks, waiting, states, options, out)


async def read_decks(client: Client) -> tuple[StatusReply, list[DeckStatus]]:
    """The first status page (the server, the decks waiting for their environment) and every loaded deck."""
    from runner.server.messages import Status

    reply = first = await client.call(Status())
    decks = list(reply.decks)
    while reply.next is not None:
        reply = await client.call(Status(start=reply.next))
        decks += reply.decks
    return first, decks


def chosen_decks(
    decks: list[DeckStatus], waiting: list[dict[str, Any]], names: Sequence[str]
) -> tuple[list[DeckStatus], list[dict[str, Any]]]:
    """The decks named (all when none is), in the server's order; UnknownDecks for names of no deck."""
    if not names:
        return decks, waiting
    from runner.spelling import did_you_mean

    known = [deck.deck for deck in decks] + [deck["deck"] for deck in waiting]
    unknown = []
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known)
            listed = ", ".join(known[:10]) + (", …" if len(known) > 10 else "") or "none"
            unknown.append(f"no deck named {name!r} is loaded{'; ' + hint if hint else ''} (decks: {listed})")
    if unknown:
        raise UnknownDecks(*unknown)
    wanted = set(names)
    return [deck for deck in decks if deck.deck in wanted], [deck for deck in waiting if deck["deck"] in wanted]


async def job_rows(client: Client, deck: str, states: list[str] | None) -> AsyncIterator[list[dict[str, Any]]]:
    """The deck's job rows a page at a time (in the states asked for); none when it was forgotten meanwhile."""
    from runner.server.client import ServerError
    from runner.server.messages import StatusJobs

    start: int | None = 0
    while start is not None:
        try:  # read as plain JSON: the rows are plain JSON values, and many
            page = await client.request(StatusJobs.op, deck=deck, start=start, states=states)
        except ServerError as gone:
            if gone.kind != "command":
                raise
            return
        yield page["rows"]
        start = page["next"]


def deck_head(deck: DeckStatus) -> dict[str, Any]:
    """The deck object of `status --json` without its jobs (runner.report.deck_object)."""
    from runner.report import deck_object

    more: dict[str, Any] = {"note": deck.note} if deck.note else {}
    if deck.halted:
        more["halted"] = deck.halted
    if deck.hooks:
        more["hooks"] = deck.hooks
    if deck.eta_s is not None or any(state not in FINISHED_STATES for state in deck.counts):
        more["eta_s"] = deck.eta_s
    head = deck_object(deck.deck, deck.path, deck.counts, (deck.started_at, deck.ended_at), [], **more)
    del head["jobs"]
    return head


FINISHED_STATES = frozenset({"succeeded", "failed", "cancelled", "skipped"})


def waiting_object(waiting: dict[str, Any]) -> dict[str, Any]:
    from runner.report import deck_object

    more = {key: value for key, value in waiting.items() if key not in ("deck", "path")}
    return deck_object(waiting["deck"], waiting["path"], {}, (None, None), [], **more)


async def write_json(
    client: Client,
    first: StatusReply,
    decks: list[DeckStatus],
    waiting: list[dict[str, Any]],
    states: list[str] | None,
    *,
    summary: bool,
    out: TextIO,
) -> None:
    """`{"server": ..., "decks": [...]}` written as it is read: one page of jobs in memory at a time."""
    from runner.server.wire import to_wire

    out.write('{"server": ' + json.dumps(to_wire(first.server)) + ', "decks": [')
    separator = ""
    for deck in decks:
        head = json.dumps(deck_head(deck))
        out.write(separator + head[:-1])
        separator = ", "
        if not summary:
            out.write(', "jobs": [')
            comma = ""
            async for rows in job_rows(client, deck.deck, states):
                for row in rows:
                    out.write(comma + json.dumps(row))
                    comma = ", "
            out.write("]")
        out.write("}")
    for deck in waiting:
        entry = waiting_object(deck)
        if summary:
            del entry["jobs"]
        out.write(separator + json.dumps(entry))
        separator = ", "
    out.write("]}\n")


async def write_text(
    client: Client,
    first: StatusReply,
    decks: list[DeckStatus],
    waiting: list[dict[str, Any]],
    states: list[str] | None,
    options: argparse.Namespace,
    out: TextIO,
) -> None:
    from runner.server.wire import to_wire

    now = time.time()
    lines = [line for deck in decks for line in [deck_line(deck_head(deck), now=now), *hook_lines(deck.hooks)]]
    lines += [deck_line(waiting_object(deck), now=now) for deck in waiting]
    if not lines:
        lines = ["no decks loaded; jobdeck submit FILE loads one"]
    out.write("\n".join([*lines, "", *server_lines(to_wire(first.server))]) + "\n")
    jobs = sum(deck.jobs for deck in decks)
    listing = not options.summary and (options.jobs or states is not None or jobs <= LISTED_AT_MOST)
    if not listing:
        if not options.summary and jobs:
            out.write(
                f"({jobs} jobs not listed: --jobs lists them, --state failed only the failed ones, "
                "--json all of them as JSON)\n"
            )
        return
    for deck in decks:
        out.write(f"{deck.deck}:\n")
        if deck.note:
            out.write(f"  {deck.note}\n")
        async for rows in job_rows(client, deck.deck, states):
            out.write("".join(job_line(row) + "\n" for row in rows))
