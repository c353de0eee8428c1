"""Whether a folder is on a local file system, where looking up its path never waits on a network or a
user-space file system server (see runner.procs.job_folder, which changes folder holding the GIL there).

Read from /proc/self/mountinfo, once per folder; a folder on a file system not named here, or one that cannot
be told, counts as not local.
"""

from __future__ import annotations

import os
import re

LOCAL_FILE_SYSTEMS = frozenset(
    {
        "btrfs",
        "exfat",
        "ext2",
        "ext3",
        "ext4",
        "f2fs",
        "jfs",
        "msdos",
        "ntfs3",
        "overlay",
        "ramfs",
        "reiserfs",
        "squashfs",
        "tmpfs",
        "vfat",
        "xfs",
        "zfs",
    }
)
MOUNT_TABLE = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")
_known: dict[str, bool] = {}


def on_local_file_system(folder: str) -> bool:
    """True when `folder` (an absolute path) is on one of LOCAL_FILE_SYSTEMS. The answer is kept: a folder
    mounted over later keeps the answer of its first look, which at worst costs speed, not a hang, the other
    way round only on a local file system replaced by a network one under a running jobdeck."""
    known = _known.get(folder)
    if known is None:
        known = _known[folder] = file_system_type(folder) in LOCAL_FILE_SYSTEMS
    return known


def file_system_type(folder: str) -> str | None:
    """The type of the file system `folder` is on, as the mount table names it; None if it cannot be told."""
    try:
        real = os.path.realpath(folder)
        with open(MOUNT_TABLE, encoding="utf-8", errors="surrogateescape") as table:
            mounts = [mount for mount in map(_mount, table) if mount is not None]
    except OSError:
        return None
    best: tuple[str, str] | None = None
    for mount_point, kind in mounts:
        if _contains(mount_point, real) and (best is None or len(mount_point) >= len(best[0])):
            best = (mount_point, kind)  # later lines are mounted over earlier ones at the same point
    return best[1] if best is not None else None


def _mount(line: str) -> tuple[str, str] | None:
    """(mount point, file system type) of one mountinfo line: "id parent major:minor root point options
    [optional fields...] - type source super-options", with spaces in paths written as octal escapes."""
    fields = line.split()
    try:
        separator = fields.index("-", 6)
        return _unescape(fields[4]), fields[separator + 1]
    except (ValueError, IndexError):
        return None


def _unescape(path: str) -> str:
    return _ESCAPE.sub(lambda escape: chr(int(escape[1], 8)), path)


def _contains(mount_point: str, path: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
