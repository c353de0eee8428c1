"""The shared test helpers keep their promises: a terminal is read to its last byte, a wait fails by its deadline."""

from __future__ import annotations

import os
import sys
import time

import pytest

from tests.helpers import in_terminal, process_alive, wait_until


def test_a_terminal_is_read_to_the_end_after_its_program_exits() -> None:
    program = "import sys; sys.stdout.write('x' * 100_000); print(); print('the last line')"
    with in_terminal(sys.executable, "-c", program) as terminal:
        assert terminal.read_to_end() == 0
    assert terminal.text.rstrip().endswith("the last line")
    assert terminal.text.count("x") == 100_000


def test_reading_until_a_condition_fails_when_the_program_ends_first() -> None:
    with (
        in_terminal(sys.executable, "-c", "print('bye')") as terminal,
        pytest.raises(AssertionError, match="closed before the greeting"),
    ):
        terminal.read_until(lambda: b"hello" in terminal.output, what="the greeting")
    assert "bye" in terminal.text


def test_a_wait_fails_at_its_deadline_and_names_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"not reached within 0\.2 s: the impossible"):
        wait_until(lambda: False, timeout=0.2, what="the impossible")
    assert 0.2 <= time.monotonic() - started < 2


def test_a_process_is_alive_until_it_has_ended() -> None:
    assert process_alive(os.getpid())
    with in_terminal(sys.executable, "-c", "pass") as terminal:
        terminal.read_to_end()
        assert not process_alive(terminal.process.pid)
