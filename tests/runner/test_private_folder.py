"""The socket's folder without a runtime directory: /tmp/jobdeck-$UID, unless another user planted a link or a
folder there; such a name is never followed nor used, and a real server goes to the fallback and says why."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import paths
from runner.private_folder import UnsafeFolder, make_private_folder
from runner.server.client import stop_server
from runner.server.server import prepare_directory
from tests.helpers import jobdeck

OTHER_UID = 54321


@pytest.fixture
def short_root() -> Iterator[Path]:
    """A folder with a short path (Unix socket paths must be short), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="jdpf", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def no_runtime_dir(short_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process without XDG_RUNTIME_DIR or JOBDECK_SOCKET, its temporary and cache folders under short_root."""
    (short_root / "tmp").mkdir()
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("JOBDECK_SOCKET", raising=False)
    monkeypatch.setenv("TMPDIR", str(short_root / "tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(short_root / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() caches its answer; read TMPDIR again
    return short_root / "tmp" / f"jobdeck-{os.getuid()}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_missing_folder_is_made_private_and_an_own_open_one_is_closed(short_root: Path) -> None:
    made = short_root / "a" / "made"
    make_private_folder(made)
    assert mode(made) == 0o700
    own = short_root / "own"
    own.mkdir(mode=0o755)
    os.chmod(own, 0o755)
    make_private_folder(own)
    assert mode(own) == 0o700


def test_a_symbolic_link_is_refused_and_its_target_left_alone(short_root: Path) -> None:
    target = short_root / "victim"
    target.mkdir()
    os.chmod(target, 0o755)
    link = short_root / "link"
    link.symlink_to(target)
    with pytest.raises(UnsafeFolder, match="symbolic link"):
        prepare_directory(link)
    assert mode(target) == 0o755


def test_a_folder_of_another_user_leads_to_the_fallback_with_a_reason(no_runtime_dir: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    planted = no_runtime_dir
    planted.mkdir()
    os.chmod(planted, 0o777)
    os.chown(planted, OTHER_UID, OTHER_UID)
    assert paths.socket_path() == paths.fallback_socket_folder() / "jobdeck.sock"
    assert paths.fallback_socket_folder().is_relative_to(no_runtime_dir.parents[1] / "cache")
    note = paths.socket_folder_note()
    assert note is not None and f"{planted} belongs to uid {OTHER_UID}" in note
    with pytest.raises(UnsafeFolder, match=f"belongs to uid {OTHER_UID}"):
        prepare_directory(planted)
    prepare_directory(paths.socket_path().parent)
    assert mode(paths.socket_path().parent) == 0o700
    assert planted.stat().st_uid == OTHER_UID and mode(planted) == 0o777


def test_the_shared_folder_is_used_while_it_is_missing_or_ours(no_runtime_dir: Path) -> None:
    assert paths.socket_path() == no_runtime_dir / "jobdeck.sock"
    no_runtime_dir.mkdir(mode=0o700)
    assert paths.socket_path() == no_runtime_dir / "jobdeck.sock"
    assert paths.socket_folder_note() is None


def test_a_server_never_follows_a_planted_link(no_runtime_dir: Path, short_root: Path) -> None:
    victim = short_root / "victim"
    victim.mkdir()
    os.chmod(victim, 0o755)
    no_runtime_dir.symlink_to(victim)
    log = short_root / "server.log"
    env = {**os.environ, "JOBDECK_LOG": str(log)}
    fallback = short_root / "cache" / "jobdeck" / "run"
    try:
        started = jobdeck("start-server", env=env)
        assert started.returncode == 0, started.stderr
        reported = jobdeck("status", "--json", env=env)
        assert reported.returncode == 0, reported.stderr
        assert json.loads(reported.stdout)["server"]["socket"] == str(fallback / "jobdeck.sock")
    finally:
        for place in (fallback, victim):  # wherever it went, no server outlives the test
            stop_server(place / "jobdeck.sock")
    assert f"{no_runtime_dir} is a symbolic link" in reported.stderr
    assert f"the server's socket is in {fallback} instead" in reported.stderr
    assert f"{no_runtime_dir} is a symbolic link" in log.read_text()
    assert mode(victim) == 0o755, "the link's target was not made private"
    assert list(victim.iterdir()) == [], "nothing was put in the link's target"
    assert mode(fallback) == 0o700
