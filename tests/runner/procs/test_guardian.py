"""Shell jobs do not outlive a jobdeck killed with SIGKILL: the guardian process ends their groups."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.helpers import JOBDECK, jobdeck, process_alive, wait_until


def test_a_killed_jobdeck_leaves_no_shell_job_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    deck = tmp_path / "deck.toml"
    # A background child in a pipeline-like shape: the shell's whole group, not just the shell, must go.
    deck.write_text(f'[[job]]\nname = "nap"\nshell = "sleep 60 & echo $! > {pid_file}; wait"\n')
    process = subprocess.Popen([*JOBDECK, "run", str(deck)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), what="the child's pid written")
        sleeper = int(pid_file.read_text())
        # The guardian learns of a group just after it starts: a kill within that moment is the one gap.
        time.sleep(0.3)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)
        wait_until(lambda: not process_alive(sleeper), timeout=10, what="the shell job's child ended by the guardian")
    finally:
        if process.poll() is None:
            process.kill()


def test_a_clean_end_says_goodbye_and_the_guardian_exits(tmp_path: Path) -> None:
    deck = tmp_path / "deck.toml"
    deck.write_text('[[job]]\nname = "hello"\nshell = "echo hello"\n')
    mark = f"JOBDECK_TEST_MARK={uuid.uuid4().hex}".encode()
    environment = {**os.environ, "JOBDECK_TEST_MARK": mark.decode().partition("=")[2]}
    done = jobdeck("run", deck, env=environment)
    assert done.returncode == 0, done.stderr
    assert processes_marked(mark) == []


def processes_marked(mark: bytes) -> list[str]:
    """Live processes (the guardian among them) whose environment holds `mark`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_alive(int(entry.name)):
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(entry.name)
            except OSError:
                continue
    return found
