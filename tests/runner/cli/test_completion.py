"""Shell completion: the bash script sourced in a real bash, asked what it completes as bash's Tab asks it
(COMP_WORDS, COMP_CWORD, then COMPREPLY); the zsh script checked by zsh itself when zsh is installed. Names from a
live server are in test_wait_and_status."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from runner.cli import completion
from runner.cli.main import main
from tests.helpers import CONSOLE_SCRIPT, RUN_TIMEOUT_S

BASH = shutil.which("bash")


def complete(script: str, *words: str, cwd: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """What the sourced script offers when Tab is pressed after `jobdeck WORDS` (the last word is the one
    completed; "" for a new one)."""
    assert BASH is not None
    program = f"""
source /dev/stdin <<'SCRIPT'
{script}
SCRIPT
COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=()
_jobdeck
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", program, "bash", str(CONSOLE_SCRIPT), *words],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return [line for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_script() -> str:
    if BASH is None:
        pytest.skip("no bash")
    return completion.completion_script("bash")


def test_the_script_is_printed_by_jobdeck_completion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    printed = capsys.readouterr().out
    assert printed == completion.completion_script("bash")
    assert printed.endswith("complete -F _jobdeck jobdeck\n")


def test_commands_options_and_their_values_come_from_the_parser(bash_script: str, tmp_path: Path) -> None:
    (tmp_path / "nightly.toml").write_text("")
    assert complete(bash_script, "wa", cwd=tmp_path) == ["wait"]
    assert complete(bash_script, "st", cwd=tmp_path) == ["status", "start-server", "stop-server"]
    first = complete(bash_script, "", cwd=tmp_path)
    assert {"run", "status", "wait", "export", "completion", "nightly.toml"} <= set(first)  # and files to open
    assert complete(bash_script, "status", "--s", cwd=tmp_path) == ["--socket", "--state", "--summary"]
    assert complete(bash_script, "status", "--state", "f", cwd=tmp_path) == ["failed"]
    assert complete(bash_script, "completion", "", cwd=tmp_path) == ["bash", "zsh"]
    assert complete(bash_script, "check", "ni", cwd=tmp_path) == ["nightly.toml"]
    assert complete(bash_script, "export", "--db", "nig", cwd=tmp_path) == ["nightly.toml"]
    assert complete(bash_script, "--socket", "/x", "sub", cwd=tmp_path) == ["submit"]  # an option's value is no command


def test_a_command_added_to_the_parser_is_completed_without_touching_the_script(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if BASH is None:
        pytest.skip("no bash")
    built = completion.build_parser

    def with_another_command() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
        parser, commands = built()
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        frob = subparsers.add_parser("frobnicate", help="frobnicate jobs")
        frob.add_argument("jobs", nargs="+", metavar="JOB")
        frob.add_argument("--level", choices=["low", "high"])
        return parser, {**commands, "frobnicate": frob}

    monkeypatch.setattr(completion, "build_parser", with_another_command)
    script = completion.completion_script("bash")
    assert complete(script, "frob", cwd=tmp_path) == ["frobnicate"]
    assert complete(script, "frobnicate", "--level", "h", cwd=tmp_path) == ["high"]
    # Its JOB arguments ask the server for job names: none runs here, so none, and nothing said.
    empty = {"PATH": "/usr/bin:/bin", "JOBDECK_SOCKET": str(tmp_path / "no.sock")}
    assert complete(script, "frobnicate", "", cwd=tmp_path, env=empty) == []
    assert "_jobdeck_names jobs" in script


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_the_zsh_script_is_valid_zsh(tmp_path: Path) -> None:
    script = tmp_path / "_jobdeck"
    script.write_text(completion.completion_script("zsh"))
    checked = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert (checked.returncode, checked.stderr) == (0, "")
    # Sourced, it registers itself for jobdeck (compdef stands in for compinit's, which takes a second to load).
    loaded = subprocess.run(
        ["zsh", "-f", "-c", f"compdef() {{ print -r -- $@ }}; source {script}"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert (loaded.stdout, loaded.stderr) == ("_jobdeck jobdeck\n", "")
