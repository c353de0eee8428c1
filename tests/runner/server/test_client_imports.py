"""The client side stays light: talking to the server never loads the engine, the deck parser, the job kinds,
httpx or rich, so `jobdeck status` and friends start quickly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import anyio
import pytest

from runner.server.client import ensure_server, stop_server

HEAVY = ("runner.engine", "runner.deck", "runner.kinds", "runner.procs", "runner.dask", "httpx", "rich", "textual")


def modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The modules a fresh interpreter has loaded after running `code`."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


ALLOWED = frozenset({"runner.engine", "runner.engine.interface"})
"""The engine's contract (typing protocols and the history records) is light; the engine itself is not."""


def heavy_among(modules: list[str]) -> list[str]:
    return [
        name
        for name in modules
        if name not in ALLOWED and any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY)
    ]


@pytest.mark.parametrize("module", ["runner.server.client", "runner.server.remote", "runner.cli.main"])
def test_the_client_modules_import_neither_the_engine_nor_httpx_nor_rich(module: str) -> None:
    assert heavy_among(modules_after(f"import {module}")) == []


async def start_server(socket_path: Path, log_path: Path) -> None:
    async with await ensure_server(socket_path, log_path=log_path):
        pass


def test_the_status_command_loads_only_the_client(tmp_path: Path) -> None:
    """A whole `jobdeck status` against a real server (started for it), then `jobdeck stop-server`."""
    folder = Path(tempfile.mkdtemp(prefix="jdimp", dir="/tmp"))  # Unix socket paths must stay short
    socket_path = folder / "s"
    environment = {**os.environ, "JOBDECK_SOCKET": str(socket_path), "JOBDECK_LOG": str(tmp_path / "server.log")}
    commands = "from runner.cli.main import main\nassert main(['status']) == 0\nassert main(['stop-server']) == 0"
    try:
        anyio.run(partial(start_server, socket_path, tmp_path / "server.log"))  # status starts none
        loaded = modules_after(commands, environment)
    finally:
        stop_server(socket_path, timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
    assert "runner.server.client" in loaded
    assert heavy_among(loaded) == []
