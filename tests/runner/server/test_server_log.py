"""The server's log: rotated past its cap, with what the interpreter prints (a crash) in it too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.server.server_log import BACKUP_COUNT, LogSizeError, max_bytes_from

CAP = 4096

FLOOD_THEN_CRASH = f"""
import logging, sys
from pathlib import Path
from runner.server.server_log import log_to_file
log_to_file(Path(sys.argv[1]), {CAP})
for number in range(2000):
    logging.getLogger("jobdeck.server").warning("line %d of a flood", number)
    if number % 100 == 0:
        print(f"printed by the interpreter {{number}}", file=sys.stderr)
raise RuntimeError("the last words of a crash")
"""


def test_the_log_is_rotated_under_its_cap_and_keeps_a_crash(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "server.log"
    done = subprocess.run([sys.executable, "-c", FLOOD_THEN_CRASH, str(log)], capture_output=True, timeout=30)
    assert done.returncode == 1
    assert done.stdout == done.stderr == b"", "everything the process writes goes to its log"
    files = sorted(path.name for path in log.parent.iterdir())
    assert files == ["server.log"] + [f"server.log.{number}" for number in range(1, BACKUP_COUNT + 1)]
    line = 200  # a record never splits: a file may pass the cap by less than one line
    assert all(path.stat().st_size <= CAP + line for path in log.parent.iterdir())
    text = log.read_text()
    assert "line 1999 of a flood" in text
    assert "Traceback" in text and "RuntimeError: the last words of a crash" in text


def test_the_cap_comes_from_the_environment_and_a_bad_one_is_explained() -> None:
    assert max_bytes_from({"JOBDECK_LOG_MAX_BYTES": "65536"}) == 65536
    assert max_bytes_from({}) > CAP
    with pytest.raises(LogSizeError, match="not a number of bytes"):
        max_bytes_from({"JOBDECK_LOG_MAX_BYTES": "lots"})
    with pytest.raises(LogSizeError, match="too small"):
        max_bytes_from({"JOBDECK_LOG_MAX_BYTES": "10"})
