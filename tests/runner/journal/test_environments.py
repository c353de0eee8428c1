"""A deck keeps the environment it was submitted with across a server's death: its variables and umask are kept
in a private file of the runtime folder (never the journal), and after a reboot (the file gone) a deck that
needs them waits, visibly, until `jobdeck env DECK` supplies them."""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runner import paths
from runner.demo.server import DemoServer
from runner.journal.environments import (
    EnvironmentFiles,
    EnvironmentStoreError,
    KeptEnvironments,
    SubmittedEnvironment,
)
from runner.server import server as server_module
from runner.server.client import Client, ServerError, ensure_server
from runner.server.messages import Load, Status, SupplyEnvironment
from runner.server.server import serve
from tests.conftest import Place
from tests.helpers import jobdeck, process_alive, wait_for

pytestmark = pytest.mark.anyio

TOKEN = "tok-5e3c1a9b7d"
SUBMITTER_PATH_DIR = "/opt/submitter-only/bin"


@pytest.fixture
def runtime_dir(place: Place, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR for the servers the test starts (they inherit this process's environment)."""
    folder = place.root / "xdg"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    monkeypatch.delenv("MY_TOKEN", raising=False)
    yield folder


def environments_folder() -> Path:
    return paths.environments_dir(Path(os.environ["JOBDECK_DB"]))


def token_deck(place: Place, server_url: str) -> Path:
    """`wait` runs until a `go` file appears, then writes what it sees of its environment; `fetch` uses the
    token in its URL (the demo server counts the hits per token) once `wait` is done."""
    root = place.root
    deck = root / "secret.toml"
    deck.write_text(
        '[deck]\nname = "secret"\n\n'
        "[[job]]\n"
        'name = "wait"\n'
        f'shell = "echo $$ > {root}/wait.pid; while [ ! -e {root}/go ]; do sleep 0.02; done; '
        f'echo ${{MY_TOKEN}} > {root}/token.out; echo $PATH > {root}/path.out; touch {root}/made"\n\n'
        "[[job]]\n"
        'name = "fetch"\n'
        f'fetch = "{server_url}/flaky/${{MY_TOKEN}}?fail=0"\n'
        'after = ["wait"]\n'
    )
    return deck


def submitter_environ() -> dict[str, str]:
    return {**os.environ, "MY_TOKEN": TOKEN, "PATH": f"{SUBMITTER_PATH_DIR}:{os.environ['PATH']}"}


async def submit_and_kill(place: Place, deck: Path, umask: int, how: signal.Signals = signal.SIGKILL) -> None:
    """Load the deck as a client with the token would, wait until `wait` runs, then end the server with `how`."""
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.call(Load(str(deck), environ=submitter_environ(), umask=umask))
        pid_file = place.root / "wait.pid"
        await wait_for(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), what="the job started")
        await client.call(Status())  # the journal has committed the run
        server_pid = client.server.pid
    os.kill(server_pid, how)
    await wait_for(lambda: not process_alive(server_pid), timeout=10, what="the server gone")
    job_pid = int(pid_file.read_text())
    await wait_for(lambda: not process_alive(job_pid), timeout=10, what="the guardian ended the job")
    pid_file.unlink()


async def deck_states(client: Client) -> dict[str, str]:
    snapshot = await client.request("snapshot", since=0)
    return {job["name"]: job["state"] for job in snapshot["jobs"]}


async def wait_succeeded(client: Client, *names: str) -> None:
    with anyio.fail_after(10):
        while True:
            states = await deck_states(client)
            if all(states.get(name) == "succeeded" for name in names):
                return
            await anyio.sleep(0.05)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_a_deck_with_a_token_survives_its_servers_end_and_runs_with_its_submitters_token_path_and_umask(
    place: Place, runtime_dir: Path, http_server: DemoServer, server_url: str, how: signal.Signals
) -> None:
    deck = token_deck(place, server_url)
    await submit_and_kill(place, deck, umask=0o027, how=how)

    [kept] = environments_folder().iterdir()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(environments_folder().stat().st_mode) == 0o700
    assert TOKEN.encode() in kept.read_bytes()
    journal_files = list(Path(os.environ["JOBDECK_DB"]).parent.glob("journal.db*"))
    assert journal_files and not any(TOKEN.encode() in file.read_bytes() for file in journal_files)

    (place.root / "go").touch()
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await wait_succeeded(client, "wait", "fetch")
        # The job's end is committed: its deck has finished, and its environment file goes.
        await wait_for(lambda: not any(environments_folder().iterdir()), what="the environment file removed")
    assert (place.root / "token.out").read_text().strip() == TOKEN
    assert (place.root / "path.out").read_text().split(":")[0] == SUBMITTER_PATH_DIR
    assert stat.S_IMODE((place.root / "made").stat().st_mode) == 0o640
    assert len(http_server.hits(TOKEN)) == 1


async def test_after_a_reboot_a_deck_that_needs_its_environment_waits_until_env_supplies_it_and_others_run(
    place: Place, runtime_dir: Path, http_server: DemoServer, server_url: str
) -> None:
    deck = token_deck(place, server_url)
    plain = place.root / "plain.toml"
    plain.write_text(
        f'[[job]]\nname = "show"\nshell = "echo $$ > {place.root}/plain.pid; '
        f'while [ ! -e {place.root}/go-plain ]; do sleep 0.02; done; echo $PATH > {place.root}/plain.out"\n'
    )
    plain_pid = place.root / "plain.pid"
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.call(Load(str(plain), environ=submitter_environ(), umask=0o022))
        await wait_for(lambda: plain_pid.exists() and plain_pid.read_text().endswith("\n"), what="plain started")
    await submit_and_kill(place, deck, umask=0o022)
    first_plain = int(plain_pid.read_text())
    await wait_for(lambda: not process_alive(first_plain), timeout=10, what="the guardian ended plain's job")
    for kept in environments_folder().iterdir():  # what a reboot does to the runtime folder
        kept.unlink()
    (place.root / "go").touch()
    env = {**os.environ, "JOBDECK_SOCKET": str(place.socket)}

    assert jobdeck("start-server", env=env).returncode == 0  # what a user runs after a reboot
    text = jobdeck("status", env=env)
    assert text.returncode == 0, text.stderr
    assert (
        "deck 'secret' waits for MY_TOKEN: its environment was lost at a restart; "
        "supply it with `jobdeck env secret` from a shell that has them"
    ) in text.stdout
    assert "no decks loaded" not in text.stdout
    # A deck that uses no ${VAR} runs, with the server's environment, and says so.
    assert "deck 'plain' runs with the server's environment" in text.stdout
    (place.root / "go-plain").touch()
    async with await Client.connect(place.socket) as client:
        report = await client.request("status")
        [waiting] = [deck for deck in report["waiting"] if deck["deck"] == "secret"]
        assert waiting["waiting_for"] == ["MY_TOKEN"] and waiting["jobs_to_run"] == 2
        snapshot = await client.request("snapshot", since=0)
        assert "secret waits for MY_TOKEN: jobdeck env secret" in snapshot["kinds"]  # the dashboard's
        assert "secret" not in snapshot["decks"]
        assert not (place.root / "token.out").exists()
        with pytest.raises(ServerError, match="needs MY_TOKEN, which this shell does not have"):
            await client.call(SupplyEnvironment("secret", {"PATH": os.environ["PATH"]}))

    supplied = jobdeck("env", "secret", env={**env, "MY_TOKEN": "from-the-new-shell"})
    assert supplied.returncode == 0, supplied.stderr
    assert "deck 'secret' loaded with this environment: 2 job(s) to run" in supplied.stdout
    async with await Client.connect(place.socket) as client:
        await wait_succeeded(client, "wait", "fetch", "show")
        report = await client.request("status")
    assert (place.root / "token.out").read_text().strip() == "from-the-new-shell"
    assert (place.root / "plain.out").read_text().strip() == os.environ["PATH"]
    assert len(http_server.hits("from-the-new-shell")) == 1
    assert report["waiting"] == []


async def test_a_stopped_server_leaves_no_environment_behind(place: Place, runtime_dir: Path) -> None:
    deck = place.root / "long.toml"
    deck.write_text('[[job]]\nname = "long"\nshell = "exec sleep 60"\n')
    async with await ensure_server(place.socket, log_path=place.log) as client:
        await client.call(Load(str(deck), environ=submitter_environ(), umask=0o022))
        assert len(list(environments_folder().iterdir())) == 1
        await client.request("stop")
        server_pid = client.server.pid
    await wait_for(lambda: not process_alive(server_pid), timeout=10, what="the server ended")
    assert list(environments_folder().iterdir()) == []


async def test_once_a_finished_deck_is_committed_and_swept_an_idle_server_sweeps_no_more(
    place: Place, runtime_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep walks every job of the kept decks: a server with nothing changing would pay for it every second."""
    monkeypatch.setattr(server_module, "ENVIRONMENT_SWEEP_S", 0.05)
    sweeps: list[int] = []
    sweep = KeptEnvironments.sweep

    def counted(kept: KeptEnvironments, engine: Any, committed_revision: int | None = None) -> None:
        sweeps.append(engine.revision)
        sweep(kept, engine, committed_revision)

    monkeypatch.setattr(KeptEnvironments, "sweep", counted)
    deck = place.root / "brief.toml"
    deck.write_text('[[job]]\nname = "brief"\nshell = "true"\n')
    async with anyio.create_task_group() as group:
        journal = Path(os.environ["JOBDECK_DB"])
        await group.start(lambda task_status: serve(place.socket, journal_path=journal, task_status=task_status))
        async with await Client.connect(place.socket) as client:
            await client.call(Load(str(deck), environ=submitter_environ(), umask=0o022))
            await wait_for(lambda: not any(environments_folder().iterdir()), what="the environment file removed")
            swept = len(sweeps)
            await anyio.sleep(0.3)  # six sweep intervals (the interval is what is tested)
            assert len(sweeps) == swept
            await client.request("stop")


# --- the files themselves -----------------------------------------------------------------------------------


def test_an_environment_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    files = EnvironmentFiles(tmp_path / "jobdeck" / "environments" / "key")
    before = os.umask(0)
    try:
        files.save("abc123", SubmittedEnvironment({"MY_TOKEN": "x"}, 0o022))
    finally:
        os.umask(before)
    [written] = files.folder.iterdir()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
    assert json.loads(written.read_text())["environ"] == {"MY_TOKEN": "x"}
    assert files.read("abc123") == SubmittedEnvironment({"MY_TOKEN": "x"}, 0o022)
    files.remove("abc123")
    assert files.read("abc123") is None and files.run_ids() == set()


def test_an_environment_folder_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "jobdeck").mkdir(mode=0o700)
    (tmp_path / "jobdeck" / "environments").symlink_to(elsewhere)
    files = EnvironmentFiles(tmp_path / "jobdeck" / "environments" / "key")
    with pytest.raises(EnvironmentStoreError):
        files.save("abc123", SubmittedEnvironment({"MY_TOKEN": "x"}))
    assert list(elsewhere.iterdir()) == []


def test_a_run_id_that_is_no_file_name_reads_as_no_environment(tmp_path: Path) -> None:
    files = EnvironmentFiles(tmp_path / "jobdeck" / "environments" / "key")
    assert files.read("../../etc/passwd") is None
    files.remove("../x")  # nothing to remove, no error
