"""The shell jobs' guardian started while `jobdeck run` starts up: taken over by the shell kind, or closed at exit."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.deck.parser import load_deck
from runner.kinds.shell import ShellKind
from runner.model import Deck
from runner.procs import early_guardian
from tests.helpers import RUN_TIMEOUT_S, process_alive, wait_until


@pytest.fixture(autouse=True)
def no_guardian_left_started_early() -> Iterator[None]:
    yield
    early_guardian._close_unclaimed()


def deck_of(tmp_path: Path, jobs: str) -> Deck:
    path = tmp_path / "deck.toml"
    path.write_text(jobs)
    return load_deck(path)


def test_the_first_shell_kind_takes_over_the_guardian_started_for_a_deck_with_shell_jobs(tmp_path: Path) -> None:
    deck = deck_of(tmp_path, '[[job]]\nname = "hello"\nshell = "echo hello"\n')
    assert early_guardian.start_early_guardian([deck])
    kind = ShellKind()
    assert kind.guardian.running  # already: no job has to wait for its start
    pid = kind.guardian.pid
    assert pid is not None
    assert ShellKind().guardian.pid is None  # taken once; a second kind starts its own when it needs one
    kind.guardian.close()
    wait_until(lambda: not process_alive(pid), what="the guardian gone once closed")


def test_no_guardian_is_started_for_decks_without_shell_jobs(tmp_path: Path) -> None:
    deck = deck_of(tmp_path, '[[job]]\nname = "get"\nfetch = "http://127.0.0.1:9/x"\n')
    assert not early_guardian.start_early_guardian([deck])
    assert early_guardian.take_early_guardian() is None


def test_a_guardian_nobody_took_over_is_closed_at_exit_as_the_shell_kind_closes_it(tmp_path: Path) -> None:
    # A goodbye, not the end of its pipe: on that, the guardian would end the groups it was told of.
    deck = tmp_path / "deck.toml"
    deck.write_text('[[job]]\nname = "hello"\nshell = "echo hello"\n')
    script = textwrap.dedent(f"""
        import subprocess
        from runner.deck.parser import load_deck
        from runner.procs import early_guardian
        assert early_guardian.start_early_guardian([load_deck({str(deck)!r})])
        quiet = {{"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}}
        sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True, **quiet)
        early_guardian._early[0].track(sleeper.pid)
        print(early_guardian._early[0].pid, sleeper.pid, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    guardian, sleeper = map(int, done.stdout.split())
    try:
        wait_until(lambda: not process_alive(guardian), what="the guardian gone")
        assert process_alive(sleeper)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sleeper, signal.SIGKILL)
