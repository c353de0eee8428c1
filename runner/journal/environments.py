"""The environment each deck was submitted with, kept where a restarted server finds it and nobody else can.

A server runs each client's decks with that client's environment (its variables and its umask): `${VAR}`s
are expanded from it and shell jobs run in it. The journal never holds it, as its variables may be secrets;
instead each journaled deck run has one file, mode 0600, in a 0700 folder of the user's runtime directory
(runner.paths.environments_dir). A file there survives the server's death (`kill -9`, a crash) but not a
reboot, as the runtime directory is a tmpfs the system empties at boot. The file is written (atomically)
before the journal records the run, and removed once the deck has finished or is no longer loaded.

A restarted server whose deck's file is gone (after a reboot) cannot know the values again:
- a deck whose file uses `${NAME}` waits, and says so, until a client supplies an environment
  (`jobdeck env DECK`): it is never dropped;
- any other deck runs, with the server's environment, and its status says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.umask import valid_umask

log = logging.getLogger("jobdeck.server")
FILE_SUFFIX = ".env"
FORMAT_VERSION = 1
RUN_ID = re.compile(r"[0-9a-f]{1,64}")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""`${NAME}`, as runner.deck.templates spells it (not imported: that would load the deck package here)."""


class EnvironmentStoreError(Exception):
    """The folder for environments cannot be used safely (someone else's, or a symlink)."""


@dataclass(frozen=True)
class SubmittedEnvironment:
    """What a client's deck runs with: its environment variables and its umask (None: the server's)."""

    environ: dict[str, str]
    umask: int | None = None


def needed_variables(path: str | os.PathLike[str]) -> list[str]:
    """The `${NAME}` variables a job file uses, in order of first use; none when it cannot be read (its load
    then says why)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return list(dict.fromkeys(ENV_REFERENCE.findall(text)))


class EnvironmentFiles:
    """One 0600 file per deck run (`<run id>.env`, JSON) in a private folder, made when first needed."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def save(self, run_id: str, environment: SubmittedEnvironment) -> None:
        """Write the run's environment atomically: a reader sees the old file or the new one, never a part."""
        folder = self._prepare()
        data = {"version": FORMAT_VERSION, "environ": environment.environ, "umask": environment.umask}
        target = self._file(run_id)
        part = folder / f".{target.name}.{os.getpid()}.part"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask; an old part file keeps its own mode otherwise
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            # No fsync: the file has to outlive the server's process, not the machine (it lives on a tmpfs).
            os.replace(part, target)
        except BaseException:
            with contextlib.suppress(OSError):
                part.unlink()
            raise

    def read(self, run_id: str) -> SubmittedEnvironment | None:
        """The run's environment; None when there is no file (after a reboot) or it is not one we can trust."""
        try:
            fd = os.open(self._file(run_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (OSError, ValueError):  # none, or a run id no file of ours can have
            return None
        with os.fdopen(fd, encoding="utf-8") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & 0o077 or not stat.S_ISREG(info.st_mode):
                log.warning("ignored %s: not a private file of yours", self._file(run_id))
                return None
            try:
                data = json.load(handle)
                environ = data["environ"]
                umask = data.get("umask")
                if not isinstance(environ, dict) or not all(
                    isinstance(key, str) and isinstance(value, str) for key, value in environ.items()
                ):
                    raise ValueError("environ is not a table of strings")
                return SubmittedEnvironment(environ, None if umask is None else valid_umask(umask))
            except (ValueError, KeyError, TypeError) as bad:
                log.warning("ignored %s: %s", self._file(run_id), bad)
                return None

    def remove(self, run_id: str) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            self._file(run_id).unlink()

    def run_ids(self) -> set[str]:
        """The runs that have a file."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return set()
        return {name.removesuffix(FILE_SUFFIX) for name in names if name.endswith(FILE_SUFFIX)}

    def _file(self, run_id: str) -> Path:
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.folder / f"{run_id}{FILE_SUFFIX}"

    def _prepare(self) -> Path:
        """The folder, made 0700 where missing; refused when it, or jobdeck's folder above it, is a symlink or
        someone else's (another user may have planted /tmp/jobdeck-$UID)."""
        top = self.folder.parent.parent
        top.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for folder in (top, self.folder.parent, self.folder):  # each checked before anything is made in it
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder, 0o700)
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                raise EnvironmentStoreError(f"{folder} is not a folder of yours: environments are not kept there")
            if info.st_mode & 0o077:
                os.chmod(folder, 0o700, follow_symlinks=False)
        return self.folder


class LoadedEngine(Protocol):
    """What the keeper reads of the engine."""

    decks: Mapping[str, Any]

    def jobs_of(self, deck: str) -> Iterable[Any]: ...


@dataclass
class KeptDeck:
    run_id: str
    environment: SubmittedEnvironment | None
    """None: the deck runs with the server's environment (its own was lost at a restart)."""
    on_disk: bool = False


@dataclass(frozen=True)
class WaitingDeck:
    """A restored deck that cannot run before a client supplies the environment variables it uses."""

    name: str
    run_id: str
    path: str
    variables: list[str]
    jobs: int
    """How many of its jobs are still to run."""

    def line(self) -> str:
        return (
            f"deck {self.name!r} waits for {', '.join(self.variables)}: its environment was lost at a restart; "
            f"supply it with `jobdeck env {self.name}` from a shell that has them"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "deck": self.name,
            "run": self.run_id,
            "path": self.path,
            "waiting_for": self.variables,
            "jobs_to_run": self.jobs,
            "note": self.line(),
        }


@dataclass
class KeptEnvironments:
    """The environments of the decks a server runs, kept in `files` while each deck has work to do, and the
    restored decks that wait for theirs. `sweep` (called now and then) writes and removes the files as the
    decks' jobs finish, are retried or are forgotten."""

    files: EnvironmentFiles
    decks: dict[str, KeptDeck] = field(default_factory=dict)
    """By engine deck name."""
    waiting: dict[str, WaitingDeck] = field(default_factory=dict)
    """By deck name."""

    def save_new(self, run_id: str, environment: SubmittedEnvironment) -> bool:
        """Write the file of a deck about to be loaded; False (and logged) when it cannot be written."""
        try:
            self.files.save(run_id, environment)
        except (OSError, ValueError, EnvironmentStoreError) as failed:
            log.warning("the environment of a deck is not kept, so it cannot survive a restart: %s", failed)
            return False
        return True

    def keep(self, name: str, run_id: str, environment: SubmittedEnvironment | None, *, on_disk: bool) -> None:
        self.decks[name] = KeptDeck(run_id, environment, on_disk)
        self.waiting.pop(name, None)

    def wait(self, name: str, run_id: str, path: str, variables: list[str], jobs: int) -> WaitingDeck:
        waiting = self.waiting[name] = WaitingDeck(name, run_id, path, variables, jobs)
        return waiting

    def note(self, name: str) -> str | None:
        """What a deck's status says of its environment: only when it runs with the server's."""
        kept = self.decks.get(name)
        if kept is None or kept.environment is not None:
            return None
        return (
            f"deck {name!r} runs with the server's environment: the one it was submitted with was lost at a "
            f"restart (`jobdeck env {name}` from the right shell sets it for the jobs that start next)"
        )

    def lines(self) -> list[str]:
        """One short line per deck that waits for its environment or runs with the server's: for the
        dashboard's summary, where `jobdeck status` has room for the whole story."""
        waiting = [
            f"{deck.name} waits for {', '.join(deck.variables)}: jobdeck env {deck.name}"
            for deck in self.waiting.values()
        ]
        lost = [
            f"{name} runs with the server's environment"
            for name, kept in self.decks.items()
            if kept.environment is None
        ]
        return waiting + lost

    def sweep(self, engine: LoadedEngine, committed_revision: int | None = None) -> None:
        """Bring the files in line with the decks: removed for a deck that has finished (and, with
        `committed_revision`, whose ends the journal has committed: until then a restarted server would run
        the deck again) or is gone; written again for one with work again (a retried job)."""
        for name, kept in list(self.decks.items()):
            if name not in engine.decks:
                del self.decks[name]
                self.files.remove(kept.run_id)
                continue
            finished = all(
                job.state.finished and (committed_revision is None or job.revision <= committed_revision)
                for job in engine.jobs_of(name)
            )
            if finished and kept.on_disk:
                self.files.remove(kept.run_id)
                kept.on_disk = False
            elif not finished and not kept.on_disk and kept.environment is not None:
                kept.on_disk = self.save_new(kept.run_id, kept.environment)

    def remove_stale(self, unfinished_runs: Iterable[str]) -> None:
        """Remove the files of runs that have nothing left to do (a server stopped before it swept them)."""
        for run_id in self.files.run_ids() - set(unfinished_runs):
            self.files.remove(run_id)
