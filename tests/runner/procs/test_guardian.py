"""Shell jobs do not outlive a jobdeck killed with SIGKILL: the guardian process ends their groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


def guardians_of(parent: int) -> list[int]:
    """Live guardian processes started by the process `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not process_alive(int(entry.name)):
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            parent_pid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent_pid == parent and b"runner.procs.guardian" in command:
            found.append(int(entry.name))
    return found


def test_a_guardian_killed_before_jobdeck_still_leaves_no_shell_job_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    deck = tmp_path / "deck.toml"
    deck.write_text(f'[[job]]\nname = "nap"\nshell = "sleep 60 & echo $! > {pid_file}; wait"\n')
    process = subprocess.Popen([*JOBDECK, "run", str(deck)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), what="the child's pid written")
        sleeper = int(pid_file.read_text())
        [guardian] = guardians_of(process.pid)
        os.kill(guardian, signal.SIGKILL)
        process.send_signal(signal.SIGKILL)  # at once: no time for a new guardian to start
        process.wait(timeout=5)
        wait_until(lambda: not process_alive(sleeper), timeout=10, what="the shell job's child ended by its leash")
    finally:
        if process.poll() is None:
            process.kill()


WATCHED_SLEEPER = """
import subprocess, sys, time
from runner.procs.guardian import GroupGuardian
sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
guardian = GroupGuardian()
guardian.start()
guardian.track(sleeper.pid)
print(sleeper.pid, guardian.pid, flush=True)
while guardian.restarts == 0 or not guardian.running:
    time.sleep(0.01)
print(guardian.pid, flush=True)
time.sleep(60)
"""


def test_a_guardian_that_dies_is_replaced_by_one_that_knows_the_live_groups(tmp_path: Path) -> None:
    # A plain process group, without a leash: only the guardian can end it.
    process = subprocess.Popen([sys.executable, "-c", WATCHED_SLEEPER], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        sleeper, first_guardian = map(int, process.stdout.readline().split())
        os.kill(first_guardian, signal.SIGKILL)
        second_guardian = int(process.stdout.readline())
        assert second_guardian != first_guardian and process_alive(second_guardian)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)
        wait_until(lambda: not process_alive(sleeper), timeout=10, what="the group ended by the new guardian")
    finally:
        if process.poll() is None:
            process.kill()
