"""A folder only this user may use (the server's socket folder), made safely where others can write too (/tmp).

Another user can plant a symbolic link or a folder of their own at a predictable name in /tmp before jobdeck
first runs. Such a name is never used: a link is not followed (following it would let the planter choose
which of this user's folders jobdeck makes private and puts its socket in), and a folder of another user is
left alone. `folder_problem` says what is wrong with a name; `make_private_folder` creates or checks the folder
through a file descriptor opened without following links, so nothing can be swapped in between.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


class UnsafeFolder(RuntimeError):
    """A folder that cannot be this user's private folder; the message says why and what to do."""


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be this user's private folder, or None when it is one or does not exist yet."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"{path} cannot be examined ({error.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link (owned by uid {info.st_uid}), which jobdeck does not follow"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a folder"
    if info.st_uid != os.getuid():
        return f"{path} belongs to uid {info.st_uid}, not to you"
    return None


def make_private_folder(path: Path) -> None:
    """Create `path` with mode 0700 (and its missing parents), or make the folder there 0700 if it is this
    user's own; raises UnsafeFolder for a link, a file, or a folder of another user, changing nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    problem = folder_problem(path)
    if problem is not None:
        raise UnsafeFolder(f"{problem}; remove it, or choose another socket with JOBDECK_SOCKET")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:  # replaced by a link or a file since it was examined
        raise UnsafeFolder(f"{path} changed while it was being checked ({error.strerror}); try again") from None
    try:
        info = os.fstat(descriptor)
        if info.st_uid != os.getuid():
            raise UnsafeFolder(f"{path} belongs to uid {info.st_uid}, not to you")
        if info.st_mode & 0o077:
            os.fchmod(descriptor, 0o700)
    finally:
        os.close(descriptor)
