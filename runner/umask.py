"""The process's file-creation mask (umask), read without changing it, and the modes it gives new files.

A server runs each client's jobs with that client's umask (its own is 077, to keep its socket, journal and
log private): shell jobs get it in the child before exec, and files jobdeck writes for a job get its mode.
"""

from __future__ import annotations

import os
import threading

NEW_FILE_MODE = 0o666
NEW_FOLDER_MODE = 0o777
_reading = threading.Lock()


def current_umask() -> int:
    """This process's umask. Read from /proc where it can be (Linux 4.7+); elsewhere it is set and put back,
    which a file created by another thread at that very moment would see."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _reading:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode(umask: int) -> int:
    """The mode `open()` gives a new file under `umask` (0644 under 022)."""
    return NEW_FILE_MODE & ~umask


def valid_umask(value: object) -> int:
    """`value` as a umask (0 to 0o777); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise ValueError(f"a umask is a number from 0 to 0o777, not {value!r}")
    return value
