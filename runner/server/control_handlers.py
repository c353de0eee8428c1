"""The server's answers to `add` and `control`: jobs added from a shell, and jobs steered from a shell by name,
glob or deck, every selected job in one request.

An added job is read as a one-job file in the client's folder would be (runner.deck.single_job) and goes to the
engine's `add_jobs` (a deck loaded already) or `add_deck` (a deck it starts). With a journal, it is kept before
the engine has it (runner.journal.added_jobs), and the reply waits for the journal's commit, so a job whose name
was printed survives `kill -9` and runs again after a restart like a submitted deck's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import orjson

from runner.deck.single_job import SOURCE_NAME, NotTomlValue, job_text, read_single_job
from runner.engine.engine import JobEnvironment
from runner.errors import CommandError
from runner.journal.added_jobs import AddedJob, AddedJobs
from runner.journal.environments import SubmittedEnvironment
from runner.journal.recorder import new_run_id
from runner.model import Deck, Job, JobSpec, JobState, Settings
from runner.server.messages import (
    ADDED_DECK,
    Add,
    AddReply,
    Command,
    Control,
    ControlledJob,
    ControlReply,
)
from runner.server.previews import LINE_BYTES, cut_text
from runner.server.selection import Selection, select_jobs
from runner.server.wire import to_wire

if TYPE_CHECKING:
    from runner.server.server import Server

log = logging.getLogger("jobdeck.server")
LISTED_JOBS = 200
"""A control reply lists at most this many jobs by name (it counts them all)."""
LISTED_PATTERNS = 50
KEPT_ALIKE = 256
"""Distinct folders, and client environments, remembered to be shared by the jobs added next."""
CANCEL_SETTLE_EXTRA_S = 5.0
"""How long past the engine's grace period a cancel waits for the jobs it stopped to end before it replies."""
SETTLE_POLL_S = 0.02
NAME_STEM_CHARS = 24
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")
RETRIED_ANYWAY = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED})
"""What a retry by glob, deck or --all queues again; a job named exactly is retried whatever it finished as."""


@dataclass
class _Target:
    """The deck an added job goes to: a loaded one (`deck`), or the name of one to start."""

    name: str
    deck: Deck | None


class ControlHandlers:
    """The handlers of `add` and `control` for one server (registered in Server.handlers)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._folders: dict[str, Path] = {}
        """One Path per folder jobs were added from, shared by those jobs' specs."""
        self._environments: dict[bytes, JobEnvironment] = {}
        """One (environ, umask) per distinct client environment, by digest: the jobs added from one shell share it."""
        self._kept_environments: dict[tuple[str, bytes], str] = {}
        """The file each environment (by digest) is kept in for each deck run (runner.journal.added_jobs)."""
        self._started: set[str] = set()
        """Decks `add` started (without a journal; with one, their path says so)."""
        self._decks_seen: tuple[int, int] | None = None
        self._adding = anyio.Lock()
        """One add at a time: two at once could both start the default deck, or both take one name."""

    @property
    def added(self) -> AddedJobs | None:
        journal = self.server.journal
        return None if journal is None else AddedJobs.for_journal(journal.path)

    # --- add -------------------------------------------------------------------------------------------------

    async def add(self, request: Add) -> Any:
        async with self._adding:
            return await self._add(request)

    async def _add(self, request: Add) -> Any:
        server, engine = self.server, self.server.engine
        self._remove_forgotten()
        target = self._target(request)
        deck = target.deck
        after = self._after(target, request.after)
        settings = deck.settings if deck is not None else Settings(name=target.name)
        name = request.name or self._free_name(deck, _name_stem(request))
        table: dict[str, Any] = {"name": name}
        if request.shell is not None:
            table["shell"] = request.shell
        else:
            table["call"] = request.call
            if request.args:
                table["args"] = request.args
            if request.kwargs:
                table["kwargs"] = request.kwargs
        table["retries"] = settings.retries if request.retries is None else request.retries
        table["timeout"] = settings.timeout if request.timeout is None else request.timeout
        table["backoff"] = settings.backoff
        try:
            text = job_text(table)
        except NotTomlValue as bad:
            raise CommandError(f"cannot add {name!r}: {bad}") from None
        folder = self._folder(request.folder)
        digest, environment = self._environment(request.environ, request.umask)
        spec = await anyio.to_thread.run_sync(read_single_job, text, folder, environment[0])
        if after:
            spec = spec.with_after(tuple(after))
        job = AddedJob(spec.name, text, str(folder), tuple(after))
        if deck is None:
            added = await self._start_deck(target.name, settings, spec, job, environment)
        else:
            added = await self._add_to_deck(deck, spec, job, environment, digest)
        if server.recorder is not None:
            await server.recorder.flush()  # once it is committed, the job survives kill -9
        if server.environments is not None:
            server.environments.sweep(engine, server.committed_revision())  # a finished deck has work again
        log.info("added %s (%s)", added.id, "a new deck" if deck is None else f"to {added.deck}")
        return to_wire(AddReply(added.id, added.deck, added.name, created=deck is None))

    def _remove_forgotten(self) -> None:
        """Remove the added jobs of decks forgotten since the last look (their history stays in the journal)."""
        engine, added, recorder, kept = self.server.engine, self.added, self.server.recorder, self.server.environments
        seen = (engine.decks_loaded, len(engine.decks))
        if added is None or recorder is None or seen == self._decks_seen:
            return
        self._decks_seen = seen
        live: list[str | Path] = [deck.path for deck in engine.decks.values()]
        live += [added.deck_file(run_id) for run_id in map(recorder.run_id_of, engine.decks) if run_id is not None]
        if kept is not None:
            live += [
                path for waiting in kept.waiting.values() for path in (waiting.path, added.deck_file(waiting.run_id))
            ]
        added.remove_stale(live)

    def _target(self, request: Add) -> _Target:
        """The deck named (or the one `--after deck/name` names), as it is loaded; ADDED_DECK by default. A deck
        `add` started and that was since forgotten lives on as its newest `name#N`."""
        engine, kept = self.server.engine, self.server.environments
        decks_named = {entry.rpartition("/")[0] for entry in request.after if "/" in entry}
        if len(decks_named) > 1 or (request.deck is not None and decks_named - {request.deck}):
            raise CommandError(
                f"--after names jobs of {', '.join(sorted(decks_named))}: a job waits only for jobs of its own deck "
                f"({request.deck or 'give it one with --deck'})"
            )
        wanted = request.deck or (decks_named.pop() if decks_named else ADDED_DECK)
        if kept is not None and wanted in kept.waiting:
            raise CommandError(
                f"deck {wanted!r} waits for its environment since a restart: run `jobdeck env {wanted}` first"
            )
        if wanted in engine.decks:
            return _Target(wanted, engine.decks[wanted])
        started = [name for name in engine.decks if name.startswith(f"{wanted}#") and self._started_by_add(name)]
        if started:  # the newest: decks are kept in the order they were loaded
            return _Target(started[-1], engine.decks[started[-1]])
        return _Target(wanted, None)

    def _started_by_add(self, deck: str) -> bool:
        added = self.added
        if added is None:
            return deck in self._started
        return added.is_deck_file(self.server.engine.decks[deck].path)

    def _after(self, target: _Target, entries: list[str]) -> list[str]:
        """The names of the jobs `entries` name in the target deck: `deck/` taken off, a fan-out's name made
        its members'. A name of no job is left for the engine to refuse (it says what was meant)."""
        if not entries:
            return []
        deck = target.deck
        if deck is None:
            raise CommandError(
                f"deck {target.name!r} is not loaded, so its jobs cannot be waited for: {', '.join(map(repr, entries))}"
            )
        names: dict[str, None] = {}
        groups: dict[str, list[str]] | None = None
        for entry in entries:
            name = entry.rpartition("/")[2]
            if f"{deck.name}/{name}" not in self.server.engine.jobs:
                if groups is None:
                    groups = {}
                    for spec in deck.jobs:
                        if spec.group is not None:
                            groups.setdefault(spec.group, []).append(spec.name)
                if name in groups:
                    names.update(dict.fromkeys(groups[name]))
                    continue
            names[name] = None
        return list(names)

    def _free_name(self, deck: Deck | None, stem: str) -> str:
        jobs = self.server.engine.jobs
        number = 1 if deck is None else len(deck.jobs) + 1
        while deck is not None and f"{deck.name}/{stem}-{number}" in jobs:
            number += 1
        return f"{stem}-{number}"

    def _folder(self, folder: str) -> Path:
        path = self._folders.get(folder)
        if path is None:
            if not os.path.isdir(folder):
                raise CommandError(f"{folder} is not a folder this server can see: the job could not run there")
            path = self._folders[folder] = Path(folder)
            _forget_oldest(self._folders)
        return path

    def _environment(self, environ: dict[str, str], umask: int | None) -> tuple[bytes, JobEnvironment]:
        """The client's environment as the jobs added from it share it, and its digest (kept in memory only)."""
        digest = hashlib.sha256(orjson.dumps(environ, option=orjson.OPT_SORT_KEYS) + repr(umask).encode()).digest()
        environment = self._environments.get(digest)
        if environment is None:
            environment = self._environments[digest] = (environ, umask)
            _forget_oldest(self._environments)
        return digest, environment

    async def _start_deck(
        self, name: str, settings: Settings, spec: JobSpec, job: AddedJob, environment: JobEnvironment
    ) -> Job:
        """Start a deck of this one job; with a journal, its file and environment are kept first."""
        server, engine, added = self.server, self.server.engine, self.added
        environ, umask = environment
        kept, recorder = server.environments, server.recorder
        if added is None or kept is None or recorder is None:
            deck = Deck(name, Path(job.folder) / SOURCE_NAME, settings, (spec,))
            loaded = await engine.add_deck(deck, environ=environ, umask=umask)
            self._started.add(loaded.name)
            return engine.jobs[f"{loaded.name}/{spec.name}"]
        run_id = new_run_id()
        path = added.deck_file(run_id)
        submitted = SubmittedEnvironment(dict(environ), umask)
        on_disk = kept.save_new(run_id, submitted)
        try:
            added.append(run_id, job)
            loaded = await engine.add_deck(Deck(name, path.resolve(), settings, (spec,)), environ=environ, umask=umask)
        except BaseException:
            added.take_back(run_id, 0)
            if on_disk:
                kept.files.remove(run_id)
            raise
        recorder.name_run(loaded.name, run_id)  # before the loop moves on: no flush has seen the deck yet
        kept.keep(loaded.name, run_id, submitted, on_disk=on_disk)
        return engine.jobs[f"{loaded.name}/{spec.name}"]

    async def _add_to_deck(
        self, deck: Deck, spec: JobSpec, job: AddedJob, environment: JobEnvironment, digest: bytes
    ) -> Job:
        """Add the job to a loaded deck; with a journal, it is kept (and its environment, when not the deck's)
        first, and taken back if the engine refuses it."""
        server, engine, added = self.server, self.server.engine, self.added
        recorder = server.recorder
        run_id = None if recorder is None else recorder.run_id_of(deck.name)
        if added is None or recorder is None or run_id is None:
            return (await engine.add_jobs(deck.name, [spec], environment=environment))[0]
        saved = None
        if environment != engine.deck_environment(deck.name):
            environment_id = self._kept_environments.get((run_id, digest))
            if environment_id is None:
                saved = environment_id = added.save_environment(
                    SubmittedEnvironment(dict(environment[0]), environment[1])
                )
            job = AddedJob(job.name, job.text, job.folder, job.after, environment_id)
        size = added.append(run_id, job)
        try:
            jobs = await engine.add_jobs(deck.name, [spec], environment=environment)
        except BaseException:
            added.take_back(run_id, size)
            if saved is not None:
                added.environments.remove(saved)
            raise
        if saved is not None:
            self._kept_environments[(run_id, digest)] = saved
            _forget_oldest(self._kept_environments)
        recorder.jobs_added(deck.name, jobs)  # before the loop moves on: written with the jobs' first changes
        return jobs[0]

    # --- control ---------------------------------------------------------------------------------------------

    async def control(self, request: Control) -> Any:
        server, engine = self.server, self.server.engine
        selection = select_jobs(engine, request.jobs, request.decks, failed=request.failed, every=request.every)
        done = await self._act(request.action, selection)
        if request.action is Command.CANCEL:
            await self._wait_until_ended([job for job in selection.jobs if done[job.id]], engine.grace_period)
        if server.recorder is not None:
            await server.recorder.flush()  # what the reply says has ended is in the journal
        if server.environments is not None and request.action is Command.RETRY:
            # A retried job's deck has work again; decks that end are swept by the server's own round.
            server.environments.sweep(engine, server.committed_revision())
        states = Counter(f"{'done' if done[job.id] else 'not_done'}:{job.state.value}" for job in selection.jobs)
        listed = [
            ControlledJob(cut_text(job.id, LINE_BYTES) or "", done[job.id], job.state.value)
            for job in selection.jobs[:LISTED_JOBS]
        ]
        reply = ControlReply(
            action=request.action,
            matched=len(selection.jobs),
            done=sum(done.values()),
            jobs=listed,
            states=dict(states),
            unmatched=[cut_text(pattern, LINE_BYTES) or "" for pattern in selection.unmatched[:LISTED_PATTERNS]],
            unknown_decks=[cut_text(deck, LINE_BYTES) or "" for deck in selection.unknown_decks[:LISTED_PATTERNS]],
        )
        if selection.jobs:
            log.info("%s: %d of %d selected job(s)", request.action.value, reply.done, reply.matched)
        return to_wire(reply)

    async def _act(self, action: Command, selection: Selection) -> dict[str, bool]:
        """Run the engine's command on each selected job; whether it applied, by job id."""
        method = getattr(self.server.engine, action.value)
        before = {job.id: job.state for job in selection.jobs}  # a retry may queue later ones again meanwhile
        done: dict[str, bool] = {}
        for job in selection.jobs:
            was = before[job.id]
            if action is Command.RETRY and was not in RETRIED_ANYWAY and job.id not in selection.exact:
                done[job.id] = False  # a glob, a deck or --all retries what did not succeed, not what did
                continue
            try:
                await method(job)
            except CommandError:
                # Queued again already, by the retry of a job it waited for: retried all the same.
                done[job.id] = action is Command.RETRY and was.finished and not job.state.finished
            else:
                done[job.id] = True
        return done

    async def _wait_until_ended(self, jobs: list[Job], grace_period: float) -> None:
        """Wait (bounded) until the cancelled jobs have ended: a shell job's process group is gone by then."""
        waiting = [job for job in jobs if not job.state.finished]
        with anyio.move_on_after(grace_period + CANCEL_SETTLE_EXTRA_S):
            while waiting:
                await anyio.sleep(SETTLE_POLL_S)
                waiting = [job for job in waiting if not job.state.finished]


def _name_stem(request: Add) -> str:
    """A job's name without its number: the command's program (`make` of `make -j4 all`), or the function."""
    if request.call is not None:
        word = request.call.rpartition(":")[2].rpartition(".")[2]
    else:
        try:
            words = shlex.split(request.shell or "")
        except ValueError:
            words = (request.shell or "").split()
        programs = [word for word in words if "=" not in word and word not in ("exec", "env", "nice", "nohup")]
        word = Path(programs[0]).name if programs else ""
    stem = _NOT_IN_NAME.sub("", word)[:NAME_STEM_CHARS].strip(".-")
    return stem or "job"


def _forget_oldest(remembered: dict[Any, Any]) -> None:
    """Keep at most KEPT_ALIKE entries (the jobs that use one keep it; only its sharing with later jobs ends)."""
    while len(remembered) > KEPT_ALIKE:
        del remembered[next(iter(remembered))]
