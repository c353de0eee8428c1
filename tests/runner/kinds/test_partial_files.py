"""One partial file per saved file, whatever happens: against a real HTTP server on 127.0.0.1, with real processes
holding (or having held, until SIGKILL) the partial file's lock."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.kinds.save_file import BUSY_WAIT_S
from runner.model import JobState
from runner.umask import current_umask, file_mode
from tests.helpers import wait_for

pytestmark = pytest.mark.anyio

WriteDeck = Callable[..., Path]
SIZE = 600_000
HOLD_PART = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
os.write(descriptor, b"stale" * 1000)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""


def deck_text(server_url: str) -> str:
    return f"""
        [deck]
        out_dir = "out"

        [[job]]
        name = "big"
        fetch = "{server_url}/bytes/{SIZE}?chunk=20000&delay=0.05"
        save = "big.bin"
    """


@contextmanager
def holder(part: Path) -> Iterator[subprocess.Popen[str]]:
    """A process that made `part` and holds its lock, as a jobdeck writing it does; killed at the end."""
    part.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", HOLD_PART, str(part)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait()


def parts(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".part")) if folder.exists() else []


async def run_watching_parts(engine: Engine, folder: Path) -> set[tuple[str, ...]]:
    """Wait until the engine's jobs have settled; returns every set of partial files seen in `folder` meanwhile."""
    seen: set[tuple[str, ...]] = set()
    with anyio.fail_after(60):
        while not engine.settled:
            seen.add(tuple(parts(folder)))
            await anyio.sleep(0.01)
    return seen


async def test_a_partial_file_left_by_a_killed_jobdeck_is_replaced_not_kept_beside_the_new_one(
    write_deck: WriteDeck, server_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with holder(out / ".big.bin.part") as process:
        process.send_signal(signal.SIGKILL)  # dies holding the lock, as a jobdeck killed with kill -9
        process.wait()
    assert parts(out) == [".big.bin.part"]
    async with Engine() as engine:
        await engine.load(write_deck(deck_text(server_url)))
        seen = await run_watching_parts(engine, out)
    assert engine.job("big").state is JobState.SUCCEEDED, engine.job("big").error
    assert seen <= {(".big.bin.part",), ()}, "one partial file at a time"
    assert sorted(path.name for path in out.iterdir()) == ["big.bin"], "no partial file is left"
    assert (out / "big.bin").read_bytes() == bytes(i % 256 for i in range(SIZE))


async def test_two_attempts_saving_the_same_file_take_turns_with_one_partial_file(
    write_deck: WriteDeck, server_url: str, tmp_path: Path
) -> None:
    """The same deck loaded twice (`big` and `big#2`) saves the same file: the second waits for the first."""
    path = write_deck(deck_text(server_url))
    out = tmp_path / "out"
    async with Engine() as engine:
        first, second = await engine.load(path), await engine.load(path)
        seen = await run_watching_parts(engine, out)
    assert [engine.jobs[f"{deck.name}/big"].state for deck in (first, second)] == [JobState.SUCCEEDED] * 2
    assert seen <= {(".big.bin.part",), ()}, "one partial file at a time"
    assert sorted(path.name for path in out.iterdir()) == ["big.bin"]
    assert (out / "big.bin").read_bytes() == bytes(i % 256 for i in range(SIZE))


async def test_a_partial_file_another_live_process_holds_is_waited_for_not_taken(
    write_deck: WriteDeck, server_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    part = out / ".big.bin.part"
    with holder(part) as process:
        held = part.stat().st_ino
        async with Engine() as engine:
            await engine.load(write_deck(deck_text(server_url)))
            job = engine.job("big")
            await wait_for(lambda: job.state is JobState.RUNNING, what="the attempt to start")
            await anyio.sleep(3 * BUSY_WAIT_S)  # several looks at the partial file: each finds it held
            # The partial file is taken before the request goes out (a download continues from what it holds).
            assert job.state is JobState.RUNNING and job.progress is None
            assert part.stat().st_ino == held and not (out / "big.bin").exists()
            process.kill()
            process.wait()
            with anyio.fail_after(60):
                await engine.wait_until_settled()
    assert job.state is JobState.SUCCEEDED, job.error
    assert sorted(path.name for path in out.iterdir()) == ["big.bin"]
    assert (out / "big.bin").stat().st_mode & 0o777 == file_mode(current_umask()), "private only while partial"
