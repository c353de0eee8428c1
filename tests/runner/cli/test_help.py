"""`jobdeck --help`: every command, one line each, within 80 columns; and the words the arguments keep of their
own (job states) stay those of the model."""

from __future__ import annotations

import os
import subprocess

from runner.cli.arguments import JOB_STATES, SUBCOMMANDS, build_parser
from runner.model import JobState
from tests.helpers import CONSOLE_SCRIPT, RUN_TIMEOUT_S, TERMINAL_SETTINGS


def test_help_lists_every_command_on_one_line_at_80_columns() -> None:
    environment = {**os.environ, **TERMINAL_SETTINGS, "COLUMNS": "80"}
    result = subprocess.run(
        [CONSOLE_SCRIPT, "--help"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=environment
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    listed = lines[lines.index("commands:") + 1 :]
    listed = listed[: listed.index("")]
    _, commands = build_parser()
    assert sorted(line.split()[0] for line in listed) == sorted(commands)  # every command, once
    assert all(line.startswith("  ") and len(line.split(maxsplit=1)) == 2 for line in listed)  # each with its line
    assert set(commands) <= {*SUBCOMMANDS, "demo"} and set(SUBCOMMANDS) <= set(commands)


def test_the_job_states_the_arguments_know_are_the_models() -> None:
    assert tuple(state.value for state in JobState) == JOB_STATES
