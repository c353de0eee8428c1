"""Every default location jobdeck uses, and the JOBDECK_* variables that choose another.

- the server's socket: `$JOBDECK_SOCKET`, else `jobdeck.sock` in the user's runtime directory (or in
  /tmp/jobdeck-$UID when there is none, unless another user's link or folder holds that name: then in
  the user's cache directory, `~/.cache/jobdeck/run`);
- the server's log: `$JOBDECK_LOG`, else `server.log` in the user's log directory; a server that jobdeck
  starts writes its output there;
- the journal: `$JOBDECK_DB`, else `journal.db` in the user's state directory;
- the environments decks were submitted with: one folder per journal in `environments/` of jobdeck's folder
  in the user's runtime directory (a tmpfs the system clears at boot), or in /tmp/jobdeck-$UID; the
  environments of jobs added from other shells in a folder beside it (`<key>-jobs`);
- the jobs added from a shell (`jobdeck add`): a folder beside the journal (`journal.db.added`);
- the user config file: `$JOBDECK_CONFIG`, else `config.toml` in the user's config directory
  (`$XDG_CONFIG_HOME/jobdeck`, by default `~/.config/jobdeck`).

Each function takes the environment to read (the process's by default). platformdirs is imported only when
a default in a user directory is actually needed, so importing this module costs next to nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP_NAME = "jobdeck"
SOCKET_VARIABLE = "JOBDECK_SOCKET"
LOG_VARIABLE = "JOBDECK_LOG"
DB_VARIABLE = "JOBDECK_DB"
CONFIG_VARIABLE = "JOBDECK_CONFIG"
CONFIG_FILE_NAME = "config.toml"
SOCKET_FILE_NAME = "jobdeck.sock"
LOG_FILE_NAME = "server.log"
DB_FILE_NAME = "journal.db"
ENVIRONMENTS_FOLDER_NAME = "environments"
ADDED_JOBS_SUFFIX = ".added"


def _chosen(variable: str, environ: Mapping[str, str] | None) -> Path | None:
    value = (os.environ if environ is None else environ).get(variable)
    return Path(value).expanduser() if value else None


def chosen_socket_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """`$JOBDECK_SOCKET` when set, else None."""
    return _chosen(SOCKET_VARIABLE, environ)


def socket_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$JOBDECK_SOCKET`, else `jobdeck.sock` in the user's runtime dir, or in /tmp/jobdeck-$UID when there is none."""
    chosen = chosen_socket_path(environ)
    if chosen is not None:
        return chosen
    runtime = (os.environ if environ is None else environ).get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        import platformdirs

        return Path(platformdirs.user_runtime_dir(APP_NAME)) / SOCKET_FILE_NAME
    from runner.private_folder import folder_problem

    shared = shared_socket_folder()
    if folder_problem(shared) is None:
        return shared / SOCKET_FILE_NAME
    return fallback_socket_folder() / SOCKET_FILE_NAME


def shared_socket_folder() -> Path:
    """/tmp/jobdeck-$UID (in the temporary folder $TMPDIR names): the socket's folder without a runtime dir."""
    import tempfile  # here: it costs every command's start-up (shell completion's too) tens of ms

    return Path(tempfile.gettempdir()) / f"{APP_NAME}-{os.getuid()}"


def fallback_socket_folder() -> Path:
    """The socket's folder when someone else's link or folder holds the shared one's name: in the user's cache
    directory, where other users cannot plant anything, and found by every client the same way."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "run"


def socket_folder_note(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the default socket is not in the shared folder, when that is so; None otherwise."""
    if chosen_socket_path(environ) is not None or socket_path(environ).parent != fallback_socket_folder():
        return None
    from runner.private_folder import folder_problem

    problem = folder_problem(shared_socket_folder())
    if problem is None:
        return None
    return f"{problem}: the server's socket is in {fallback_socket_folder()} instead"


def server_log_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$JOBDECK_LOG`, else `server.log` in the user's log directory."""
    chosen = _chosen(LOG_VARIABLE, environ)
    if chosen is not None:
        return chosen
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME)) / LOG_FILE_NAME


def chosen_journal_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """`$JOBDECK_DB` when set, else None: a journal the user named must work, the default one may fail."""
    return _chosen(DB_VARIABLE, environ)


def journal_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$JOBDECK_DB`, else `journal.db` in the user's state directory."""
    chosen = chosen_journal_path(environ)
    if chosen is not None:
        return chosen
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME)) / DB_FILE_NAME


def chosen_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """`$JOBDECK_CONFIG` when set, else None."""
    return _chosen(CONFIG_VARIABLE, environ)


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """`config.toml` in the user's config directory (platformdirs: `$XDG_CONFIG_HOME/jobdeck` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILE_NAME


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path:
    """jobdeck's folder in the user's runtime directory (`$XDG_RUNTIME_DIR`, emptied at every boot), or
    /tmp/jobdeck-$UID when there is none."""
    runtime = (os.environ if environ is None else environ).get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        import platformdirs

        return Path(platformdirs.user_runtime_dir(APP_NAME))
    import tempfile

    return Path(tempfile.gettempdir()) / f"{APP_NAME}-{os.getuid()}"


def environments_dir(journal: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where a server keeps the environments of the decks it runs with `journal`: a folder of its own per
    journal (named by a hash of its path), so that servers of different journals never touch each other's."""
    import hashlib

    key = hashlib.sha256(str(Path(journal).resolve()).encode()).hexdigest()[:16]
    return runtime_dir(environ) / ENVIRONMENTS_FOLDER_NAME / key


def job_environments_dir(journal: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where a server keeps the environments of jobs added to its decks from shells other than the deck's, beside
    the decks' own (runtime, private, per journal)."""
    decks = environments_dir(journal, environ)
    return decks.with_name(f"{decks.name}-jobs")


def added_jobs_dir(journal: Path) -> Path:
    """Where a server keeps the jobs added to its decks from a shell, to run them again after a restart: beside
    the journal, as lasting as it (a reboot must not lose them)."""
    journal = Path(journal)
    return journal.with_name(journal.name + ADDED_JOBS_SUFFIX)
