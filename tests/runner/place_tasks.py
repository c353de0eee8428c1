"""Call jobs that say where they run and what they print: copied beside the job files of tests as `places.py`."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

MEETING_TIMEOUT_S = 60.0


def wait_for_files(meeting: str, names: list[str]) -> None:
    deadline = time.monotonic() + MEETING_TIMEOUT_S
    while not all(Path(meeting, name).exists() for name in names):
        if time.monotonic() > deadline:
            raise TimeoutError(f"never saw {names} in {meeting}")
        time.sleep(0.01)


def where(meeting: str = "", me: str = "", wait_for: list[str] | None = None, say: bool = False) -> dict[str, Any]:
    """Where this job runs, as os.getcwd(), a relative path and a thread it starts see it. With `meeting`, it
    first says it has arrived (the file `me` there) and waits for the files `wait_for`; with `say`, it prints
    where it is."""
    if meeting:
        Path(meeting, me).touch()
        wait_for_files(meeting, wait_for or [])
    seen: list[str] = []
    child = threading.Thread(target=lambda: seen.append(os.getcwd()))
    child.start()
    child.join()
    if say:
        print(f"working in {os.getcwd()}")
    return {"cwd": os.getcwd(), "marker": Path("marker.txt").read_text(), "thread": seen[0], "pid": os.getpid()}


def talk(meeting: str, me: str, other: str, first: bool, turns: int = 3) -> str:
    """Take turns with the job `other`: each turn prints a line on stdout, then one on stderr in two writes,
    then lets the other go. A thread it starts prints too; its last line has no line end."""
    for turn in range(turns):
        if first and turn > 0:
            wait_for_files(meeting, [f"{other}-{turn - 1}"])
        elif not first:
            wait_for_files(meeting, [f"{other}-{turn}"])
        print(f"{me} says {turn}")
        sys.stderr.write(f"{me} warns ")
        sys.stderr.write(f"{turn}\n")
        Path(meeting, f"{me}-{turn}").touch()
    helper = threading.Thread(target=lambda: print(f"a thread {me} started"))
    helper.start()
    helper.join()
    print(f"{me} done", end="")
    return me


def say_then_wait(go: str) -> str:
    """Print, then wait until the file `go` exists: its line must be seen while it waits."""
    print("waiting for go", flush=True)
    wait_for_files(os.path.dirname(go), [os.path.basename(go)])
    return "went"
