"""`jobdeck add`: one job without a file, in a real server process: it runs in the client's folder with the
client's environment and umask, waits for the jobs it names, calls functions with JSON-looking arguments, and
survives `kill -9` of the server like a submitted deck's jobs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner.cli.main import main
from runner.server.client import Client, ensure_server, read_status
from runner.server.messages import Add
from tests.conftest import Place, servers_on
from tests.helpers import JOBDECK, RUN_TIMEOUT_S, jobdeck, process_alive, wait_until


@dataclass
class Served:
    root: Path
    socket: Path
    env: dict[str, str]


def server_env(root: Path, socket: Path) -> dict[str, str]:
    """The server's socket, journal, log and runtime folder (where environments are kept), all under `root`."""
    runtime = root / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "JOBDECK_SOCKET": str(socket),
        "JOBDECK_DB": str(root / "journal.db"),
        "JOBDECK_LOG": str(root / "server.log"),
    }


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """A socket and journal for the module; the first `jobdeck add` starts the server, as it does for a user."""
    root = Path(tempfile.mkdtemp(prefix="jdadd", dir="/tmp"))
    socket = root / "run" / "s"
    try:
        yield Served(root, socket, server_env(root, socket))
    finally:
        jobdeck("stop-server", env=server_env(root, socket))
        for pid in servers_on(socket):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def add(
    env: dict[str, str], *arguments: str, cwd: Path, umask: int = 0o022, **variables: str
) -> subprocess.CompletedProcess[str]:
    """`jobdeck add ARGUMENTS` run from `cwd` with this umask and these variables, as a user's shell would."""
    return subprocess.run(
        [*JOBDECK, "add", *arguments],
        cwd=cwd,
        env={**env, **variables},
        umask=umask,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def refused(served: Served, here: Path, monkeypatch: pytest.MonkeyPatch, *arguments: str) -> str:
    """What `jobdeck add ARGUMENTS`, run in this process from `here`, said when it was refused (exit status 2)."""
    monkeypatch.chdir(here)
    with pytest.raises(SystemExit) as ended, contextlib.redirect_stderr(io.StringIO()) as err:
        raise SystemExit(main(["add", "--socket", str(served.socket), *arguments]))
    assert ended.value.code == 2, err.getvalue()
    return err.getvalue()


def report(socket: Path) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with await Client.connect(socket) as client:
            return await read_status(client)

    return anyio.run(read)


def jobs_of(socket: Path, deck: str) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for found in report(socket)["decks"] if found["deck"] == deck for job in found["jobs"]}


def wait_state(socket: Path, deck: str, name: str, state: str) -> dict[str, Any]:
    wait_until(lambda: jobs_of(socket, deck).get(name, {}).get("state") == state, what=f"{deck}/{name} {state}")
    return jobs_of(socket, deck)[name]


def folder(served: Served, name: str) -> Path:
    path = served.root / name
    path.mkdir()
    return path


def test_an_added_job_runs_in_this_folder_with_this_shells_environment_and_umask(served: Served) -> None:
    here = folder(served, "here")
    first = add(
        served.env,
        "--",
        'echo "$GREETING" > out.txt; pwd >> out.txt; umask >> out.txt; touch made',
        cwd=here,
        umask=0o027,
        GREETING="hello there",
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == "adhoc/echo-1\n"
    assert "started deck 'adhoc'" in first.stderr
    wait_state(served.socket, "adhoc", "echo-1", "succeeded")
    assert (here / "out.txt").read_text().splitlines() == ["hello there", str(here), "0027"]
    assert stat.S_IMODE((here / "made").stat().st_mode) == 0o640

    there = folder(served, "there")
    second = add(served.env, "--json", "--name", "listing", "--", "ls", "-a", "a file", cwd=there)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"job": "adhoc/listing", "deck": "adhoc", "name": "listing", "created": False}
    assert second.stderr == ""
    failed = wait_state(served.socket, "adhoc", "listing", "failed")  # several words are a program and its arguments
    assert "a file" in failed["error"] or failed["state"] == "failed"


def test_after_waits_for_jobs_of_the_deck_and_a_job_it_cannot_find_is_refused(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = folder(served, "nightly")
    deck = here / "nightly.toml"
    deck.write_text(
        '[deck]\nname = "nightly"\n\n[[job]]\nname = "gate"\nshell = "while [ ! -e open ]; do sleep 0.05; done"\n\n'
        '[[job]]\nname = "page"\nshell = "echo {item} >> pages"\neach = [1, 2]\n'
    )
    assert jobdeck("submit", deck, env=served.env).returncode == 0
    deploy = add(served.env, "--after", "nightly/gate", "--", "cat pages > deployed", cwd=here)
    assert (deploy.returncode, deploy.stdout) == (0, "nightly/cat-4\n")  # the deck of the job it waits for
    after_pages = add(served.env, "--deck", "nightly", "--after", "page", "--", "wc -l < pages > counted", cwd=here)
    assert (after_pages.returncode, after_pages.stdout) == (0, "nightly/wc-5\n")  # a fan-out's name: all its items

    typo = refused(served, here, monkeypatch, "--after", "nightly/gaet", "--", "true")
    assert "deck 'nightly' has no job named 'gaet' to wait for; did you mean 'gate'?" in typo
    elsewhere = refused(served, here, monkeypatch, "--deck", "adhoc", "--after", "nightly/gate", "--", "true")
    assert "a job waits only for jobs of its own deck" in elsewhere
    placeholder = refused(served, here, monkeypatch, "--", "echo {item}")
    assert "{item} is filled in only for the items of each" in placeholder

    wait_state(served.socket, "nightly", "wc-5", "succeeded")
    assert (here / "counted").read_text().strip() == "2"
    assert jobs_of(served.socket, "nightly")["cat-4"]["state"] == "queued"
    (here / "open").touch()
    wait_state(served.socket, "nightly", "cat-4", "succeeded")
    assert sorted((here / "deployed").read_text().split()) == ["1", "2"]


def test_a_call_takes_arguments_that_read_as_json_as_those_values(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = folder(served, "calls")
    (here / "tasks.py").write_text(
        "def kinds(*args, scale=1):\n    return [scale] + [type(arg).__name__ + ':' + repr(arg) for arg in args]\n"
    )
    arguments = ["5", "2.5", "true", "[1, 2]", '{"a": 1}', '"007"', "007", "hello world"]
    added = add(served.env, "--kwarg", "scale=3", "--call", "tasks:kinds", *arguments, cwd=here)
    assert (added.returncode, added.stdout) == (0, "adhoc/kinds-3\n"), added.stderr
    result = wait_state(served.socket, "adhoc", "kinds-3", "succeeded")["result"]
    assert result == [
        3,
        "int:5",
        "float:2.5",
        "bool:True",
        "list:[1, 2]",
        "dict:{'a': 1}",
        "str:'007'",
        "str:'007'",
        "str:'hello world'",
    ]
    assert "has no function 'kind'" in refused(served, here, monkeypatch, "--call", "tasks:kind")
    assert "null, which a job file cannot hold" in refused(served, here, monkeypatch, "--call", "tasks:kinds", "null")


def test_added_jobs_survive_kill_9_of_the_server_and_run_after_a_restart(place: Place) -> None:
    env = server_env(place.root, place.socket)
    here = folder(Served(place.root, place.socket, env), "work")
    deck = here / "filed.toml"
    deck.write_text(
        '[deck]\nname = "filed"\n\n[[job]]\nname = "hold"\nshell = "while [ ! -e open ]; do sleep 0.05; done"\n'
    )
    gate = add(env, "--name", "gate", "--", "echo $$ > gate.pid; while [ ! -e open ]; do sleep 0.05; done", cwd=here)
    assert gate.returncode == 0, gate.stderr
    waiter = add(
        env, "--after", "gate", "--", 'echo "$WHO" > who.txt; umask >> who.txt', cwd=here, umask=0o027, WHO="me"
    )
    assert (waiter.returncode, waiter.stdout) == (0, "adhoc/echo-2\n"), waiter.stderr
    assert jobdeck("submit", deck, env=env).returncode == 0
    into_file = add(env, "--deck", "filed", "--after", "hold", "--", "touch filed-done", cwd=here)
    assert (into_file.returncode, into_file.stdout) == (0, "filed/touch-2\n"), into_file.stderr

    gate_pid = int(wait_for_text(here / "gate.pid"))
    server_pid = report(place.socket)["server"]["pid"]
    os.kill(server_pid, signal.SIGKILL)  # right after the replies: what `add` printed is committed
    wait_until(lambda: not process_alive(server_pid), what="the server gone")
    wait_until(lambda: not process_alive(gate_pid), what="the guardian ending the gate's shell")

    restarted = jobdeck("start-server", env=env)
    assert restarted.returncode == 0, restarted.stderr
    assert "restored adhoc" in restarted.stdout and "restored filed" in restarted.stdout
    assert list(jobs_of(place.socket, "adhoc")) == ["gate", "echo-2"]
    assert list(jobs_of(place.socket, "filed")) == ["hold", "touch-2"]
    wait_state(place.socket, "adhoc", "gate", "running")
    assert jobs_of(place.socket, "adhoc")["echo-2"]["state"] == "queued"  # it still waits for the gate
    (here / "open").touch()
    wait_state(place.socket, "adhoc", "echo-2", "succeeded")
    wait_state(place.socket, "filed", "touch-2", "succeeded")
    assert (here / "who.txt").read_text().splitlines() == ["me", "0027"]  # its own environment, kept for it
    assert (here / "filed-done").exists()


def wait_for_text(path: Path) -> str:
    wait_until(lambda: path.exists() and path.read_text().endswith("\n"), what=f"{path.name} written")
    return path.read_text()


def test_adds_at_the_same_time_go_to_one_deck_under_names_of_their_own(served: Served) -> None:
    here = folder(served, "together")

    async def add_at_once() -> list[str]:
        replies: list[str] = []
        go = anyio.Event()

        async def one(client: Client, number: int) -> None:
            await go.wait()
            request = Add(str(here), dict(served.env), deck="together", shell=f"echo {number}")
            replies.append((await client.call(request)).job)

        await (await ensure_server(served.socket)).close()
        clients = [await Client.connect(served.socket) for _ in range(6)]
        async with anyio.create_task_group() as group:
            for number, client in enumerate(clients):
                group.start_soon(one, client, number)
            go.set()  # every request sent before the server has answered any
        for client in clients:
            await client.close()
        return replies

    assert sorted(anyio.run(add_at_once)) == [f"together/echo-{number}" for number in range(1, 7)]
    assert [deck["deck"] for deck in report(served.socket)["decks"]].count("together") == 1
