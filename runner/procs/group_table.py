"""The table of live process groups that jobdeck shares with its guardian: a file in memory (a memfd), one
slot per live group, written by jobdeck and read by the guardian only once jobdeck has died.

Telling the guardian of each group over its pipe cost two writes per shell job, each waking the guardian (and on
two busy cores, often handing it the CPU): for 500 short jobs, a tenth of what jobdeck spent on them (issue 18).
A write into shared memory wakes nobody and is in the guardian's view the moment it is made, however jobdeck
ends afterwards. Imports stay light: the guardian imports this module.
"""

from __future__ import annotations

import mmap
import os
import struct

SLOT = struct.Struct("=i")
"""A group id (a pid_t); 0 is an empty slot."""
FIRST_SLOTS = 1024
"""Slots at first (4 KiB); the table doubles whenever more groups than that are live at once."""


class GroupTable:
    """jobdeck's side. Not thread-safe: the caller holds its own lock."""

    def __init__(self) -> None:
        self.fd = _shared_file()
        """Pass it to the guardian (`pass_fds`); it reads the table with `groups_in`."""
        os.ftruncate(self.fd, FIRST_SLOTS * SLOT.size)
        self._map = mmap.mmap(self.fd, FIRST_SLOTS * SLOT.size)
        self._free = list(range(FIRST_SLOTS - 1, -1, -1))
        self._slots: dict[int, int] = {}

    def __contains__(self, group: int) -> bool:
        return group in self._slots

    def add(self, group: int) -> None:
        if group in self._slots:
            return
        if not self._free:
            self._grow()
        slot = self._free.pop()
        SLOT.pack_into(self._map, slot * SLOT.size, group)
        self._slots[group] = slot

    def discard(self, group: int) -> None:
        slot = self._slots.pop(group, None)
        if slot is not None:
            SLOT.pack_into(self._map, slot * SLOT.size, 0)
            self._free.append(slot)

    def _grow(self) -> None:
        slots = len(self._map) // SLOT.size
        self._map.resize(2 * slots * SLOT.size)  # the file grows with it, its first half as it was
        self._free = list(range(2 * slots - 1, slots - 1, -1))

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)


def groups_in(fd: int) -> set[int]:
    """The guardian's side: the groups listed in the table that `fd` is open on."""
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    whole = len(data) - len(data) % SLOT.size
    return {group for (group,) in SLOT.iter_unpack(data[:whole]) if group > 0}


def _shared_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("jobdeck-groups", os.MFD_CLOEXEC)
    import tempfile

    fd, path = tempfile.mkstemp(prefix="jobdeck-groups-")  # not inherited by jobs: PEP 446
    os.unlink(path)
    return fd
