"""The jobs added to deck runs from a shell (`jobdeck add`), kept where a restarted server finds them.

A deck loaded by `submit` comes back after a crash from its job file and the journal; an added job has no file,
so the server keeps one: each journaled deck run that has added jobs has `<run id>.jsonl` in a private folder
beside the journal (runner.paths.added_jobs_dir; 0600 in a 0700 folder, like a job file its owner wrote), one
line per added job, written before the engine gets the job and removed when the deck is forgotten. A line
holds the job's `[[job]]` table as TOML (runner.deck.single_job), the folder it runs in, the jobs it waits for,
and the environment it runs with when that is not its deck's. A deck started by `jobdeck add` has no job file
at all: its path is its `.jsonl` file.

Environments: a job added from a shell whose environment (or umask) is not its deck's keeps its own, the way
decks keep theirs (runner.journal.environments): a 0600 file `<id>.env` in the runtime folder, never in the
journal or beside it, and so lost at a reboot (the job then runs with its deck's environment); it goes with the
last deck file that names it. The journal keeps only what it keeps of any job (a redacted summary, states,
attempts).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner import paths
from runner.deck.parser import load_deck
from runner.deck.single_job import read_single_job
from runner.errors import DeckError
from runner.journal.environments import EnvironmentFiles, EnvironmentStoreError, SubmittedEnvironment
from runner.model import Deck, JobSpec, Settings
from runner.private_folder import folder_problem

if TYPE_CHECKING:
    from runner.engine.engine import JobEnvironment

log = logging.getLogger("jobdeck.server")
FILE_SUFFIX = ".jsonl"
FORMAT_VERSION = 1
RUN_ID = re.compile(r"[0-9a-f]{1,64}")
ENVIRONMENT_ID_BYTES = 12
"""Random bytes in the id of a job's environment file (hex in its name)."""


class AddedJobsError(OSError):
    """The folder of added jobs cannot be used safely (a link, a file, someone else's)."""


@dataclass(frozen=True)
class AddedJob:
    """One added job as the server keeps it."""

    name: str
    text: str
    """Its `[[job]]` table as the TOML of a one-job file (runner.deck.single_job.job_text)."""
    folder: str
    """Where it runs: the folder its file would be in."""
    after: tuple[str, ...] = ()
    """The jobs of its deck it waits for."""
    environment: str | None = None
    """The id of its own environment file; None: it runs with its deck's."""

    def to_line(self) -> bytes:
        data = {"v": FORMAT_VERSION, "name": self.name, "text": self.text, "folder": self.folder}
        if self.after:
            data["after"] = list(self.after)
        if self.environment is not None:
            data["env"] = self.environment
        return (json.dumps(data, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_line(cls, line: bytes) -> AddedJob:
        """ValueError (or KeyError, TypeError) when the line is not one of ours."""
        data = json.loads(line)
        after = data.get("after", [])
        if not isinstance(after, list) or not all(isinstance(name, str) for name in after):
            raise ValueError("after is not a list of names")
        environment = data.get("env")
        fields = (data["name"], data["text"], data["folder"])
        if not all(isinstance(value, str) for value in fields) or not isinstance(environment, str | None):
            raise ValueError("a field is not text")
        return cls(*fields, tuple(after), environment)


@dataclass
class RunDeck:
    """A journal run's deck as it was: its file's jobs and those added to it."""

    deck: Deck
    environments: dict[str, JobEnvironment]
    """The added jobs that run with an environment of their own, by name."""
    problems: list[str]
    """A line per added job that could not be read again (and is not restored)."""
    lost_environments: int = 0
    """Added jobs whose own environment was lost (a reboot): they run with their deck's."""


class AddedJobs:
    """The added jobs of every deck run of one journal (`for_journal`), one file per run."""

    def __init__(self, folder: Path, environments: EnvironmentFiles) -> None:
        self.folder = Path(folder)
        self.environments = environments

    @classmethod
    def for_journal(cls, journal: Path) -> AddedJobs:
        return cls(paths.added_jobs_dir(journal), EnvironmentFiles(paths.job_environments_dir(journal)))

    def deck_file(self, run_id: str) -> Path:
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.folder / f"{run_id}{FILE_SUFFIX}"

    def is_deck_file(self, path: str | os.PathLike[str]) -> bool:
        """Whether `path` is the file of a deck started by `jobdeck add` (it has no job file)."""
        path = Path(path)
        return path.suffix == FILE_SUFFIX and path.parent.resolve() == self.folder.resolve()

    # --- writing ---------------------------------------------------------------------------------------------

    def append(self, run_id: str, job: AddedJob) -> int:
        """Add the job to the run's file (made if need be); returns the file's size before, for `take_back`."""
        self._prepare()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.deck_file(run_id), flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            size = os.fstat(fd).st_size
            line = job.to_line()
            written = os.write(fd, line)  # one write of O_APPEND: a killed server leaves a whole line or none
            if written != len(line):
                os.ftruncate(fd, size)
                raise OSError(f"could not write all of {self.deck_file(run_id)} (disk full?)")
        finally:
            os.close(fd)
        return size

    def take_back(self, run_id: str, size: int) -> None:
        """Undo the last `append` (the engine refused the job): the file is cut back to `size`."""
        with contextlib.suppress(OSError):
            if size == 0:
                self.deck_file(run_id).unlink()
            else:
                os.truncate(self.deck_file(run_id), size)

    def save_environment(self, environment: SubmittedEnvironment) -> str | None:
        """Keep a job's own environment; its id, or None (logged) when it cannot be kept."""
        environment_id = secrets.token_hex(ENVIRONMENT_ID_BYTES)
        try:
            self.environments.save(environment_id, environment)
        except (OSError, ValueError, EnvironmentStoreError) as failed:
            log.warning("the environment of an added job is not kept, so it cannot survive a restart: %s", failed)
            return None
        return environment_id

    def remove(self, path: str | os.PathLike[str]) -> None:
        """Forget the added jobs of a deck file (`deck_file`), and the environments only they named."""
        named = {job.environment for job in self.read_file(path)}
        with contextlib.suppress(OSError):
            Path(path).unlink()
        self._remove_environments(named - self._environments_named())

    def remove_stale(self, keep: Iterable[str | os.PathLike[str]]) -> None:
        """Remove every deck file but `keep` (those of runs to restore: the others have finished) and the
        environments no file left names."""
        kept = {Path(path).resolve() for path in keep}
        for path in self.deck_files():
            if path.resolve() not in kept:
                with contextlib.suppress(OSError):
                    path.unlink()
        self._remove_environments(set(self.environments.run_ids()) - self._environments_named())

    def _environments_named(self) -> set[str | None]:
        return {job.environment for path in self.deck_files() for job in self.read_file(path)}

    def _remove_environments(self, environment_ids: Iterable[str | None]) -> None:
        for environment_id in environment_ids:
            if environment_id is not None:
                self.environments.remove(environment_id)

    # --- reading ---------------------------------------------------------------------------------------------

    def deck_files(self) -> list[Path]:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        return [self.folder / name for name in names if name.endswith(FILE_SUFFIX)]

    def read(self, run_id: str) -> list[AddedJob]:
        """The run's added jobs, in the order they were added; none without a file."""
        return self.read_file(self.deck_file(run_id))

    def read_file(self, path: str | os.PathLike[str]) -> list[AddedJob]:
        """The added jobs of a deck file, in order. A line that is not whole (a server killed while writing it:
        it never replied) or not ours is left out, and logged."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return []
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o077 or not stat.S_ISREG(info.st_mode):
                log.warning("ignored %s: not a private file of yours", path)
                return []
            lines = handle.read().split(b"\n")
        jobs = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                jobs.append(AddedJob.from_line(line))
            except (ValueError, KeyError, TypeError) as bad:
                log.warning("ignored line %d of %s: %s", number, path, bad)
        return jobs

    def read_environment(self, environment_id: str) -> SubmittedEnvironment | None:
        return self.environments.read(environment_id)

    def _prepare(self) -> None:
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.folder, 0o700)
        problem = folder_problem(self.folder)
        if problem is not None:
            raise AddedJobsError(f"{problem}: jobs added from a shell cannot be kept there")


def run_deck(
    added: AddedJobs | None,
    run_id: str,
    name: str,
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None,
    umask: int | None = None,
) -> RunDeck:
    """The deck of a journal run, read again: its job file's jobs (none for a deck started by `jobdeck add`),
    then the jobs added to it, each read as it was added (an added job that no longer reads, say its module is
    gone, is left out with a line saying why). DeckError when the job file no longer loads.

    `environ` and `umask`: the deck's own (None: the server's)."""
    if added is not None and added.is_deck_file(path):
        # Read by its path, not the run's id: a journal started afresh (a damaged one set aside) has new run ids.
        jobs = added.read_file(path)
        deck = Deck(name=name, path=Path(path), settings=Settings(name=name), jobs=())
    else:
        jobs = added.read(run_id) if added is not None else []
        deck = load_deck(path, environ=environ)
    deck_environ = os.environ if environ is None else environ
    specs: list[JobSpec] = list(deck.jobs)
    taken = {spec.name for spec in specs}
    environments: dict[str, JobEnvironment] = {}
    own: dict[str, JobEnvironment | None] = {}
    folders: dict[str, Path] = {}
    problems: list[str] = []
    lost = 0
    for job in jobs:
        environment: JobEnvironment | None = None
        if job.environment is not None and added is not None:
            if job.environment not in own:
                kept = added.read_environment(job.environment)
                own[job.environment] = None if kept is None else (kept.environ, kept.umask)
            environment = own[job.environment]
            lost += environment is None
        folder = folders.setdefault(job.folder, Path(job.folder))
        try:
            spec = read_single_job(job.text, folder, deck_environ if environment is None else environment[0])
        except DeckError as bad:
            problems.append(f"added job {job.name!r} of {name} not restored: {bad.problems[0].message}")
            continue
        if spec.name in taken:  # a line written twice (never: names are checked first); the first one counts
            continue
        missing = [dependency for dependency in job.after if dependency not in taken]
        if missing:
            problems.append(f"added job {job.name!r} of {name} not restored: it waits for {', '.join(missing)}")
            continue
        taken.add(spec.name)
        specs.append(_with_after(spec, job.after))
        if environment is not None and environment != (deck_environ, umask):
            environments[spec.name] = environment
    restored = Deck(name=deck.name, path=deck.path, settings=deck.settings, jobs=tuple(specs))
    return RunDeck(restored, environments, problems, lost)


def _with_after(spec: JobSpec, after: tuple[str, ...]) -> JobSpec:
    return spec.with_after(after) if after else spec
