"""Functions of the C library called through ctypes.PyDLL, which keeps the GIL during the call.

A call that takes microseconds costs less than handing the GIL over and back, which os.write, os.chdir, os.stat
and call_soon_threadsafe's self-pipe each do: with thread jobs running, the busy event loop then waits for one of
them to give it back. For calls that cannot block for long only (a local file system, an eventfd). Linux only:
elsewhere `libc_function` says None, and the caller uses the os module's function.
"""

from __future__ import annotations

import functools
import sys
from typing import Any


@functools.cache
def _library() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: a start-up that never calls libc does not import it

    try:
        return ctypes.PyDLL(None, use_errno=True)  # the C library this process already uses
    except OSError:
        return None


def libc_function(name: str, argtypes: tuple[Any, ...], restype: Any) -> Any:
    """libc's `name` with these ctypes argument and result types, its calls keeping the GIL (errno after a
    failed one: ctypes.get_errno()); None where there is no such function to call."""
    library = _library()
    if library is None:
        return None
    try:
        function = library[name]  # a function object of its own: its types are set for this caller only
    except AttributeError:
        return None
    function.argtypes = argtypes
    function.restype = restype
    return function
