"""The server's log file: capped in size and rotated, and holding the interpreter's own output too.

A server left running for weeks must not fill the disk with its log, whatever a client does. So the server
writes its log itself, through a RotatingFileHandler: past `max_bytes` the file becomes `server.log.1` (the
older one `server.log.2`) and a new one is started. Its standard output and error are pointed at the current
file as well (and again after each rotation), so what the interpreter prints itself, such as the traceback of
a crash (or, through faulthandler, the stack of a fatal signal), lands in the log and counts towards its size.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
from collections.abc import Mapping
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_MAX_BYTES_VARIABLE = "JOBDECK_LOG_MAX_BYTES"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
BACKUP_COUNT = 2
"""Rotated files kept (`server.log.1`, `server.log.2`): the log takes at most three times `max_bytes`."""
MIN_MAX_BYTES = 4096
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogSizeError(ValueError):
    pass


def max_bytes_from(environ: Mapping[str, str] | None = None) -> int:
    """`$JOBDECK_LOG_MAX_BYTES` when set (LogSizeError when it is not a size we can use), else the default."""
    raw = (os.environ if environ is None else environ).get(LOG_MAX_BYTES_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise LogSizeError(f"{LOG_MAX_BYTES_VARIABLE}={raw!r} is not a number of bytes") from None
    if value < MIN_MAX_BYTES:
        raise LogSizeError(f"{LOG_MAX_BYTES_VARIABLE}={raw!r} is too small: give at least {MIN_MAX_BYTES} bytes")
    return value


class _RotatingLog(RotatingFileHandler):
    """A RotatingFileHandler that points standard output and error at the file it writes now."""

    def doRollover(self) -> None:
        super().doRollover()
        self.take_standard_streams()

    def take_standard_streams(self) -> None:
        if self.stream is None:
            self.stream = self._open()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        fd = self.stream.fileno()
        os.dup2(fd, 1)
        os.dup2(fd, 2)


def log_to_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, level: int = logging.INFO) -> None:
    """Send this process's log, and its standard output and error, to `path`, rotated past `max_bytes`."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = _RotatingLog(path, maxBytes=max_bytes, backupCount=BACKUP_COUNT, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.take_standard_streams()
    faulthandler.enable()  # a crash of the interpreter itself (a segfault) leaves its Python stack in the log
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def log_to_stderr(level: int = logging.INFO) -> None:
    """A server run by hand (or by a service manager that keeps its output) logs to its standard error."""
    logging.basicConfig(level=level, format=FORMAT)
