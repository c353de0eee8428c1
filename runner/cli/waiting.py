"""`jobdeck wait [DECK|JOB...] [--timeout S]`: block until the selected jobs have all finished, then say how.

The server does the waiting (runner.server.reports_handlers): each request is answered when the selection
settles, or after WAIT_ANSWER_S at most, and the client asks again. `--timeout` counts wall-clock time (not the
active time of a job's timeout).

If the server goes away meanwhile (`kill -9`, a crash, `stop-server`), wait first reads the journal: when it
shows every selected job finished (a `stop-server` cancels them), that is the answer. Otherwise it waits up to
RECONNECT_WINDOW_S (or its --timeout) for a new server, which runs again what the old one left, and goes on
waiting there: for the same decks and jobs, and for those the new server does not hold (they had finished),
reads how they ended in the journal. If no server comes, it says so and exits 1. It never starts a server.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runner.cli.arguments import chosen_socket
from runner.cli.exits import EXIT_BAD_INPUT, EXIT_JOBS_FAILED, EXIT_OK

if TYPE_CHECKING:
    from runner.server.client import Client
    from runner.server.messages import WaitReply, WaitTarget

EXIT_TIMED_OUT = 124
"""As timeout(1) exits when its command ran out of time."""
WAIT_ANSWER_S = 30.0
"""The longest the server takes to answer one wait request: a client that went away holds nothing longer."""
RECONNECT_WINDOW_S = 60.0
"""How long wait waits for a new server after its server went away with selected jobs unfinished."""
RECONNECT_POLL_S = 0.2
UNANSWERED_GRACE_S = 1.0
"""How long past --timeout a server that does not answer at all (stopped, stuck) is given before wait gives up."""
LISTED = 10
"""The summary names at most this many jobs that did not succeed."""
SUCCEEDED = "succeeded"
UNFINISHED = frozenset({"queued", "running", "paused", "retrying", "interrupted"})
"""States of jobs still to end, the journal's `interrupted` among them."""


@dataclass
class Outcome:
    """Where the selected jobs stand at the end of the wait."""

    settled: bool
    counts: dict[str, int]
    unsuccessful: list[str]
    jobs: int
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)
    """Said on stderr before the summary (the server went away, a deck read from the journal)."""
    failure: str | None = None
    """Why wait could not tell (no server came back): exit 1 with this."""


class BadSelection(Exception):
    """Names that select nothing: exit 2, with the server's sentences."""


def wait_command(options: argparse.Namespace) -> int:
    import anyio

    from runner.server.client import ServerError

    out, err = sys.stdout, sys.stderr
    deadline = None if options.timeout is None else time.monotonic() + options.timeout
    try:
        outcome = anyio.run(wait, list(options.targets), chosen_socket(options), deadline, err)
    except BadSelection as bad:
        for line in bad.args:
            print(f"jobdeck wait: {line}", file=err)
        return EXIT_BAD_INPUT
    except ServerError as error:
        print(f"jobdeck wait: {error}", file=err)
        return EXIT_JOBS_FAILED
    for note in outcome.notes:
        print(f"jobdeck wait: {note}", file=err)
    code = exit_status(outcome)
    if options.json:
        json.dump(
            {
                "settled": outcome.settled,
                "timed_out": outcome.timed_out,
                "jobs": outcome.jobs,
                "counts": outcome.counts,
                "unsuccessful": outcome.unsuccessful,
                "error": outcome.failure,
                "exit": code,
            },
            out,
        )
        out.write("\n")
    elif outcome.failure is None:
        timed = f"timed out after {options.timeout:g} s: " if outcome.timed_out else ""
        out.write(timed + summary(outcome) + "\n")
    if outcome.failure is not None:
        print(f"jobdeck wait: {outcome.failure}", file=err)
    return code


def exit_status(outcome: Outcome) -> int:
    if outcome.timed_out:
        return EXIT_TIMED_OUT
    if outcome.failure is not None:
        return EXIT_JOBS_FAILED
    return EXIT_OK if set(outcome.counts) <= {SUCCEEDED} else EXIT_JOBS_FAILED


def summary(outcome: Outcome) -> str:
    """`3 succeeded, 1 failed: nightly/get` (the first LISTED that did not succeed, and how many more)."""
    if not outcome.jobs:
        return "nothing to wait for: no jobs selected"
    text = ", ".join(f"{count} {state}" for state, count in outcome.counts.items())
    ended = {state: count for state, count in outcome.counts.items() if state not in UNFINISHED}
    unsuccessful = sum(count for state, count in ended.items() if state != SUCCEEDED)
    if outcome.unsuccessful:
        listed = outcome.unsuccessful[:LISTED]
        more = unsuccessful - len(listed)
        text += ": " + ", ".join(listed) + (f" and {more} more" if more > 0 else "")
    return text


async def wait(names: list[str], socket_path: Path | None, deadline: float | None, err: TextIO) -> Outcome:
    """Wait for the jobs `names` select (every loaded deck when none) on the server at `socket_path`, and no
    longer than `deadline` (time.monotonic()), even for a server that does not answer (stopped, say)."""
    import anyio

    if deadline is None:
        return await _wait(names, socket_path, None, err)
    with anyio.move_on_after(max(0.0, deadline - time.monotonic()) + UNANSWERED_GRACE_S):
        return await _wait(names, socket_path, deadline, err)
    return Outcome(False, {}, [], 0, timed_out=True, failure="timed out: the jobdeck server did not answer in time")


async def _wait(names: list[str], socket_path: Path | None, deadline: float | None, err: TextIO) -> Outcome:
    from runner import paths
    from runner.server.client import Client, ServerError

    path = Path(socket_path or paths.socket_path())
    try:
        client: Client | None = await Client.connect(path)
    except OSError:
        raise ServerError(
            "absent", f"no jobdeck server runs (at {path}), so nothing is loaded to wait for; `jobdeck status` tells"
        ) from None
    except ServerError as lost:
        if lost.kind != "disconnected":
            raise
        client = None  # it went away while saying hello
    waiting = Waiting(names)
    pid: int | None = None
    journal: str | None = None
    while True:
        if client is not None:
            async with client:
                outcome = await waiting.on(client, deadline)
                if outcome is not None:
                    return outcome
                pid, journal = client.server.pid, client.server.journal
        settled = waiting.from_journal(journal)
        server = "the jobdeck server" + ("" if pid is None else f" (pid {pid})")
        if settled is not None:
            settled.notes.insert(
                0, f"{server} ended while waiting; how the jobs ended is read from the journal {journal}"
            )
            return settled
        window = RECONNECT_WINDOW_S
        print(
            f"jobdeck wait: {server} ended while waiting; waiting up to {window:g} s for a new one, which runs "
            "again what it left unfinished (`jobdeck start-server` starts one)",
            file=err,
        )
        client = await _reconnect(path, window, deadline)
        if client is None:
            timed_out = deadline is not None and time.monotonic() >= deadline
            return waiting.lost(server, journal, window, timed_out=timed_out)
        waiting.restarted = True
        print(f"jobdeck wait: a new jobdeck server (pid {client.server.pid}) answers: waiting on", file=err)


async def _reconnect(path: Path, window: float, deadline: float | None) -> Client | None:
    import anyio

    from runner.server.client import Client, ServerError

    give_up = time.monotonic() + window
    if deadline is not None:
        give_up = min(give_up, deadline)
    while time.monotonic() < give_up:
        try:
            return await Client.connect(path)
        except OSError:
            pass  # none listens yet
        except ServerError as dying:
            if dying.kind != "disconnected":
                raise  # a server that answers, and refuses (of another version, say): said, and the wait ends
        await anyio.sleep(RECONNECT_POLL_S)  # for a socket to appear: there is nothing to be told by
    return None


class Waiting:
    """One wait across requests, and across servers: what was asked, and what the answers said."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.targets: list[WaitTarget] = []
        """What the names selected, as the first server answered (with their journal runs once known)."""
        self.restarted = False
        self.warned: set[str] = set()

    async def on(self, client: Client, deadline: float | None) -> Outcome | None:
        """Wait on this server until the jobs settle, or time runs out (an Outcome), or it goes away (None). The
        first request only looks, so the targets and their journal runs are known at once."""
        from runner.server.messages import Wait

        within, last = 0.0, None
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 and last is not None:
                    return self._outcome(last, client, timed_out=True)
                within = min(within, max(left, 0.0))
            reply = await self._ask(client, Wait(self.ask(), within_s=within, missing_ok=self.restarted))
            if reply is None or reply.ending:
                return None
            for line in reply.waiting:
                if line not in self.warned:
                    self.warned.add(line)
                    print(f"jobdeck wait: {line}", file=sys.stderr)
            outcome = self._outcome(reply, client)
            if outcome.settled or outcome.failure is not None:
                return outcome
            within, last = min(WAIT_ANSWER_S, client.timeout / 2), reply

    async def _ask(self, client: Client, request: Any) -> WaitReply | None:
        from runner.server.client import ServerError

        try:
            reply: WaitReply = await client.call(request)
        except ServerError as error:
            if error.kind == "disconnected":
                return None
            raise
        if reply.unknown and not self.restarted:
            raise BadSelection(*reply.unknown)
        if not self.restarted:
            self.targets = reply.targets
        elif reply.targets:
            runs = {target.deck: target.run for target in reply.targets if target.run}
            for target in self.targets:
                target.run = runs.get(target.deck, target.run)
        return reply

    def ask(self) -> list[str]:
        """The names to ask about: as given, and after a restart the decks and jobs they selected then."""
        if not self.restarted or not self.targets:
            return self.names
        return [target.name for target in self.targets]

    def _outcome(self, reply: WaitReply, client: Client, *, timed_out: bool = False) -> Outcome:
        """The reply, with how the targets the server no longer holds ended in the journal (after a restart)."""
        counts = Counter(reply.counts)
        unsuccessful = list(reply.unsuccessful)
        settled = reply.settled
        jobs = reply.jobs
        notes: list[str] = []
        held = {target.name for target in reply.targets}
        for target in self.targets if self.restarted else []:
            if target.name in held:
                continue
            ended = _read_target(client.server.journal, target)
            if ended is None or any(state in UNFINISHED for state in ended[0]):
                failure = (
                    f"{target.name!r} is not loaded in the new jobdeck server, and the journal does not show it "
                    "finished; `jobdeck status` shows what the server restored"
                )
                return Outcome(False, dict(counts), unsuccessful, jobs, failure=failure)
            counts.update(ended[0])
            unsuccessful += ended[1]
            jobs += sum(ended[0].values())
            note = f"{target.name} had finished before the server ended: read from the journal"
            if note not in self.warned:
                self.warned.add(note)
                notes.append(note)
        return Outcome(settled, _ordered(counts), unsuccessful, jobs, timed_out=timed_out and not settled, notes=notes)

    def from_journal(self, journal: str | None) -> Outcome | None:
        """How every target ended, read from the journal, if it shows them all finished; else None. When the
        server went away before it answered (so neither the targets nor its journal are known), the names are
        looked up as decks (their latest runs) in the journal $JOBDECK_DB names, or the default one."""
        if not self.targets:
            from runner import paths

            journal = journal or str(paths.journal_path())
            self.targets = _targets_in_journal(journal, self.names)
            if not self.targets:
                return None
        counts: Counter[str] = Counter()
        unsuccessful: list[str] = []
        for target in self.targets:
            ended = _read_target(journal, target)
            if ended is None or any(state in UNFINISHED for state in ended[0]):
                return None
            counts.update(ended[0])
            unsuccessful += ended[1]
        return Outcome(True, _ordered(counts), unsuccessful, sum(counts.values()))

    def lost(self, server: str, journal: str | None, window: float, *, timed_out: bool) -> Outcome:
        if timed_out:
            return Outcome(False, {}, [], 0, timed_out=True, failure="timed out while no jobdeck server ran")
        return Outcome(
            False,
            {},
            [],
            0,
            failure=f"{server} ended and no new one answered within {window:g} s; its "
            f"unfinished jobs are kept in its journal ({journal or 'none: it kept none'}); `jobdeck start-server` "
            "runs them again, and `jobdeck wait` waits on",
        )


def _targets_in_journal(journal: str, names: list[str]) -> list[WaitTarget]:
    """The latest runs of the decks `names` name (or of the decks of the jobs, as deck/name) in the journal;
    none unless every name is found there."""
    from runner.journal.faults import JournalError
    from runner.journal.reading import open_read_only
    from runner.server.messages import WaitTarget

    targets = []
    try:
        with open_read_only(Path(journal)) as reader:

            def latest(deck: str) -> str | None:
                rows = reader.connection.execute(
                    "SELECT id FROM decks WHERE name = ? ORDER BY loaded_at DESC, rowid DESC LIMIT 1", (deck,)
                ).fetchall()
                return str(rows[0][0]) if rows else None

            for name in names:
                deck, job, run = name, "", latest(name)
                if run is None and "/" in name:
                    deck, _, job = name.partition("/")
                    run = latest(deck)
                if run is None:
                    return []
                targets.append(WaitTarget(name, deck, job or None, run))
    except (JournalError, OSError):
        return []
    return targets


def _read_target(journal: str | None, target: WaitTarget) -> tuple[Counter[str], list[str]] | None:
    """The states of the target's jobs in its journal run, and the first of those that did not succeed; None
    when the journal cannot tell (no journal, no run id, cannot be read)."""
    if journal is None or target.run is None:
        return None
    from runner.journal.faults import JournalError
    from runner.journal.reading import open_read_only

    try:
        with open_read_only(Path(journal)) as reader:
            run = reader.run(target.run)
            if run is None:
                return None
            if target.job is None:
                counts = Counter(run.counts)
                rows = reader.connection.execute(
                    "SELECT name FROM jobs WHERE deck_id = ? AND state IN ('failed', 'cancelled', 'skipped') LIMIT ?",
                    (run.id, LISTED),
                ).fetchall()
                return counts, [f"{target.deck}/{name}" for (name,) in rows]
            row = reader.connection.execute(
                "SELECT state FROM jobs WHERE deck_id = ? AND name = ?", (run.id, target.job)
            ).fetchone()
    except (JournalError, OSError):
        return None
    state = "queued" if row is None else str(row[0])
    listed = [] if state == SUCCEEDED else [f"{target.deck}/{target.job}"]
    return Counter({state: 1}), listed


def _ordered(counts: Counter[str]) -> dict[str, int]:
    from runner.model import JobState

    order = [state.value for state in JobState]
    known = sorted(counts, key=lambda state: order.index(state) if state in order else len(order))
    return {state: counts[state] for state in known if counts[state]}
