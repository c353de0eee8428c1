"""Shell jobs do not outlive a jobdeck killed with SIGKILL: the guardian process ends their groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from runner.procs.group_table import groups_in
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


def guardians_of(parent: int) -> dict[int, set[int]]:
    """Live guardian processes started by the process `parent`, each with the groups listed in the table it
    would read should `parent` die now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not process_alive(int(entry.name)):
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent_pid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent_pid == parent and b"runner.procs.guardian" in command:
            table_fd = command[command.index(b"runner.procs.guardian") + 1].decode()
            try:
                table = os.open(entry / "fd" / table_fd, os.O_RDONLY)
            except OSError:  # it has just ended
                continue
            try:
                found[int(entry.name)] = groups_in(table)
            finally:
                os.close(table)
    return found


def replacement_guardian(parent: int, dead: int, groups: set[int]) -> int:
    """Wait for the guardian `parent` starts in place of `dead`, knowing `groups`; its pid."""
    replacements: list[int] = []

    def replaced() -> bool:
        replacements[:] = [pid for pid, known in guardians_of(parent).items() if pid != dead and groups <= known]
        return bool(replacements)

    wait_until(replaced, what=f"a new guardian knowing the groups {sorted(groups)}")
    return replacements[0]


def test_a_guardian_killed_before_jobdeck_still_leaves_no_shell_job_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    deck = tmp_path / "deck.toml"
    deck.write_text(f'[[job]]\nname = "nap"\nshell = "sleep 60 & echo $$ $! > {pid_file}; wait"\n')
    process = subprocess.Popen([*JOBDECK, "run", str(deck)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), what="the child's pid written")
        group, sleeper = map(int, pid_file.read_text().split())
        [guardian] = guardians_of(process.pid)
        os.kill(guardian, signal.SIGKILL)
        replacement_guardian(process.pid, guardian, {group})
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)
        wait_until(lambda: not process_alive(sleeper), timeout=10, what="the shell job's child ended by the guardian")
    finally:
        if process.poll() is None:
            process.kill()


def reported(pids: Path, lines: int) -> list[list[int]]:
    """The first `lines` lines of pids a test script wrote to `pids`, once it has written them."""
    written = lambda: pids.read_text().splitlines() if pids.exists() else []  # noqa: E731
    wait_until(lambda: len([line for line in written() if line]) >= lines, what=f"{lines} line(s) of pids")
    return [list(map(int, line.split())) for line in written()[:lines]]


WATCHED_SLEEPER = """
import subprocess, sys, time
from runner.procs.guardian import GroupGuardian
def report(*pids):
    with open(sys.argv[1], "a") as out:
        out.write(" ".join(map(str, pids)) + "\\n")
sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
guardian = GroupGuardian()
guardian.start()
guardian.track(sleeper.pid)
report(sleeper.pid, guardian.pid)
while guardian.restarts == 0 or not guardian.running:
    time.sleep(0.01)
report(guardian.pid)
time.sleep(60)
"""


def test_a_guardian_that_dies_is_replaced_by_one_that_knows_the_live_groups(tmp_path: Path) -> None:
    the_guardian_is_replaced_and_ends_the_group(WATCHED_SLEEPER, tmp_path / "pids")


def the_guardian_is_replaced_and_ends_the_group(script: str, pids: Path) -> None:
    """Run `script` (it reports its sleeper's and guardian's pids, then the replacement's), kill its guardian,
    wait for the replacement, kill the script: the replacement ends the sleeper's group."""
    process = subprocess.Popen([sys.executable, "-c", script, pids], stderr=subprocess.DEVNULL)
    try:
        sleeper, first_guardian = reported(pids, 1)[0]
        os.kill(first_guardian, signal.SIGKILL)
        [second_guardian] = reported(pids, 2)[1]
        assert second_guardian != first_guardian and process_alive(second_guardian)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)
        wait_until(lambda: not process_alive(sleeper), timeout=10, what="the group ended by the new guardian")
    finally:
        if process.poll() is None:
            process.kill()


UNSTARTABLE_GUARDIAN = """
import logging, subprocess, sys, threading, time
from runner.procs import guardian as guardian_module
from runner.procs.guardian import GroupGuardian
def report(*pids):
    with open(sys.argv[1], "a") as out:
        out.write(" ".join(map(str, pids)) + "\\n")
guardian_module.RETRY_S = 0.05
python = sys.executable
failed = threading.Event()
class OnFailure(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.ERROR:
            sys.executable = python  # a start can work again
            failed.set()
logging.getLogger("runner.procs.guardian").addHandler(OnFailure())
sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
guardian = GroupGuardian()
guardian.start()
guardian.track(sleeper.pid)
sys.executable = "/nonexistent/python"  # no guardian can start now
report(sleeper.pid, guardian.pid)
failed.wait()
while not guardian.running:
    time.sleep(0.01)
report(guardian.pid)
time.sleep(60)
"""


def test_a_guardian_that_cannot_be_started_again_at_once_is_tried_again(tmp_path: Path) -> None:
    the_guardian_is_replaced_and_ends_the_group(UNSTARTABLE_GUARDIAN, tmp_path / "pids")
