"""What a command imports is what its work needs: every module more costs every start-up (and `jobdeck run` is
timed as a whole process against plain scripts). Each case runs the command in a fresh interpreter and lists
the modules it had loaded at the end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.procs.child_environment import python_child_environment
from tests.helpers import JOBDECK, RUN_TIMEOUT_S

HEAVY = (
    "anyio",
    "asyncio",
    "ctypes",
    "dask",
    "distributed",
    "hashlib",
    "httpx",
    "logging",
    "orjson",
    "rich",
    "runner.engine.engine",
    "runner.journal.store",
    "runner.procs.pool",
    "secrets",
    "sqlite3",
    "textual",
    "traceback",
)


def loaded_after(tmp_path: Path, *arguments: str) -> set[str]:
    """The HEAVY modules loaded once `jobdeck ARGUMENTS` has run (in-process, in a fresh interpreter)."""
    script = textwrap.dedent(f"""
        import json, sys
        from runner.cli.main import main
        code = main({list(arguments)!r})
        print(json.dumps([code, sorted(name for name in {HEAVY!r} if name in sys.modules)]))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    code, loaded = json.loads(done.stdout.splitlines()[-1])
    assert code == 0, done.stderr
    return set(loaded)


def shell_deck(tmp_path: Path) -> str:
    deck = tmp_path / "deck.toml"
    deck.write_text('[[job]]\nname = "hello"\nshell = "echo hello"\n')
    return str(deck)


def test_check_imports_neither_the_engine_nor_an_event_loop(tmp_path: Path) -> None:
    assert loaded_after(tmp_path, "check", shell_deck(tmp_path)) == set()


def test_a_run_of_shell_jobs_imports_no_http_client_dashboard_dask_or_worker_pool(tmp_path: Path) -> None:
    loaded = loaded_after(tmp_path, "run", "--db", str(tmp_path / "journal.db"), shell_deck(tmp_path))
    assert loaded == {"anyio", "asyncio", "hashlib", "logging", "orjson", "runner.engine.engine",
                      "runner.journal.store", "sqlite3", "traceback"}  # fmt: skip


def test_a_run_without_journal_imports_no_sqlite(tmp_path: Path) -> None:
    loaded = loaded_after(tmp_path, "run", "--no-journal", shell_deck(tmp_path))
    assert loaded == {"anyio", "asyncio", "logging", "runner.engine.engine", "traceback"}


def test_the_guardian_process_imports_only_what_watching_needs() -> None:
    # It starts with every run of shell jobs, on the core jobdeck is not using for its own start-up.
    script = "import sys, runner.procs.guardian; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-P", "-S", "-c", script],  # as it is started, with runner on PYTHONPATH
        env=python_child_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert loaded & {"logging", "pathlib", "re", "subprocess", "threading", "typing"} == set()


@pytest.mark.parametrize("on", ["process", "thread"])
def test_jobs_run_with_the_garbage_collector_on(tmp_path: Path, on: str) -> None:
    # jobdeck pauses its garbage collector while it starts up (runner.cli.collector), and forks its first
    # workers meanwhile: neither it (thread jobs) nor they may keep it paused for the jobs they run.
    (tmp_path / "gc_tasks.py").write_text("import gc\n\n\ndef collecting():\n    return gc.isenabled()\n")
    deck = tmp_path / "deck.toml"
    deck.write_text(f'[[job]]\nname = "gc"\ncall = "gc_tasks:collecting"\non = "{on}"\n')
    done = subprocess.run(
        [*JOBDECK, "run", "--json", "--no-journal", str(deck)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["jobs"][0]["result"] is True
