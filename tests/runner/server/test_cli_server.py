"""submit, status and stop-server from the command line, against a real server on a temporary socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runner.server.server import socket_answers
from tests.helpers import jobdeck, process_alive, wait_until


def test_submit_returns_at_once_and_status_and_stop_server_follow(socket_env: dict[str, str], tmp_path: Path) -> None:
    deck = tmp_path / "served.toml"
    deck.write_text(
        '[[job]]\nname = "quick"\nshell = "true"\n[[job]]\nname = "long"\nshell = "echo $$ > pid; exec sleep 60"\n'
    )
    submitted = jobdeck("submit", str(deck), env=socket_env)
    assert submitted.returncode == 0, submitted.stderr
    assert "deck 'served', 2 jobs" in submitted.stdout

    pid_file = tmp_path / "pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), what="the job's pid written")
    sleep_pid = int(pid_file.read_text())

    report = jobdeck("status", "--json", env=socket_env)
    assert report.returncode == 0, report.stderr
    status = json.loads(report.stdout)
    assert status["server"]["socket"] == socket_env["JOBDECK_SOCKET"]
    states = {job["name"]: job["state"] for deck_report in status["decks"] for job in deck_report["jobs"]}
    assert states["long"] == "running"

    text = jobdeck("status", env=socket_env)
    assert "long" in text.stdout and "running" in text.stdout

    stopped = jobdeck("stop-server", env=socket_env)
    assert stopped.returncode == 0, stopped.stderr
    assert "1 job cancelled" in stopped.stdout
    assert not process_alive(sleep_pid)
    assert not Path(socket_env["JOBDECK_SOCKET"]).exists()
    assert "no server runs" in jobdeck("stop-server", env=socket_env).stdout


def test_submitting_a_bad_file_names_its_problems(socket_env: dict[str, str], tmp_path: Path) -> None:
    deck = tmp_path / "bad.toml"
    deck.write_text('[[job]]\nname = "x"\nshell = "true"\nretires = 1\n')
    result = jobdeck("submit", str(deck), env=socket_env)
    assert result.returncode == 2
    assert "did you mean 'retries'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_clients_that_hang_up_leave_no_errors_in_the_server_log(socket_env: dict[str, str], tmp_path: Path) -> None:
    deck = tmp_path / "d.toml"
    deck.write_text('[[job]]\nname = "a"\nshell = "true"\n')
    assert jobdeck("submit", str(deck), env=socket_env).returncode == 0  # starts the server
    for _ in range(3):
        result = jobdeck("status", env=socket_env)
        assert result.returncode == 0, result.stderr
    stopped = jobdeck("stop-server", env=socket_env)
    assert stopped.returncode == 0, stopped.stderr
    log = Path(socket_env["JOBDECK_LOG"]).read_text()
    assert "listening on" in log and "jobdeck server stopped" in log  # the server started with it logs there
    assert "ERROR" not in log and "Traceback" not in log


OLDER_SERVER = """
import runpy, sys
import runner.server.protocol_version as version
version.PROTOCOL_VERSION -= 1  # a server from before an upgrade: what it speaks, this jobdeck does not
sys.argv = ["server", "--socket", sys.argv[1], "--log", sys.argv[2]]
runpy.run_module("runner.server.server", run_name="__main__")
"""


def test_stop_server_stops_a_server_of_another_version_which_no_request_reaches(socket_env: dict[str, str]) -> None:
    """After an upgrade, the version that started the running server is gone: stop-server must still stop it."""
    socket_path = Path(socket_env["JOBDECK_SOCKET"])
    older = subprocess.Popen(
        [sys.executable, "-c", OLDER_SERVER, str(socket_path), socket_env["JOBDECK_LOG"]],
        env=socket_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: socket_answers(socket_path) or older.poll() is not None, what="the older server")
        assert "protocol mismatch" in jobdeck("status", env=socket_env).stderr, "it is of another version"
        stopped = jobdeck("stop-server", env=socket_env)
        assert stopped.returncode == 0, stopped.stderr
        assert f"server {older.pid} was started by another version of jobdeck" in stopped.stdout
        assert "stopped it with SIGTERM; its unfinished jobs run again when a server next starts" in stopped.stdout
        assert older.wait(timeout=30) == 0, "it ended as a signalled server does"
        assert not socket_path.exists()
    finally:
        if older.poll() is None:
            older.kill()
            older.wait()
