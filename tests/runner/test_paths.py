"""Default locations: a JOBDECK_* variable wins, else a file in the user's directories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner import paths


def test_the_variables_choose_the_socket_the_log_and_the_journal(tmp_path: Path) -> None:
    environ = {
        "JOBDECK_SOCKET": str(tmp_path / "s.sock"),
        "JOBDECK_LOG": str(tmp_path / "server.log"),
        "JOBDECK_DB": "~/journal.db",
    }
    assert paths.socket_path(environ) == tmp_path / "s.sock"
    assert paths.chosen_socket_path(environ) == tmp_path / "s.sock"
    assert paths.server_log_path(environ) == tmp_path / "server.log"
    assert paths.journal_path(environ) == Path("~/journal.db").expanduser()
    assert paths.chosen_journal_path(environ) == Path("~/journal.db").expanduser()


def test_without_them_the_defaults_are_in_the_users_directories(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)  # the XDG spec (and platformdirs) want it private
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("JOBDECK_")},
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    code = (
        "from runner import paths\n"
        "print(paths.socket_path()); print(paths.server_log_path()); print(paths.journal_path())\n"
        "print(paths.chosen_socket_path(), paths.chosen_journal_path())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=30, check=True
    )
    socket_path, log_path, journal_path, chosen = done.stdout.splitlines()
    assert Path(socket_path) == runtime / "jobdeck" / "jobdeck.sock"
    assert Path(log_path) == tmp_path / "state" / "jobdeck" / "log" / "server.log"
    assert Path(journal_path) == tmp_path / "state" / "jobdeck" / "journal.db"
    assert chosen == "None None"


def test_without_a_runtime_directory_the_socket_is_in_a_private_temporary_folder() -> None:
    path = paths.socket_path({"XDG_RUNTIME_DIR": ""})
    assert path.name == "jobdeck.sock" and path.parent.name == f"jobdeck-{os.getuid()}"


def test_importing_the_paths_costs_no_platformdirs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, runner.paths; print('platformdirs' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == "False"
