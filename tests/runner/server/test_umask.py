"""Jobs a server runs make files with the umask of the client that submitted them, not the server's 077."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator

import pytest

from tests.conftest import Place
from tests.helpers import jobdeck, wait_until


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The submitting client (a child of this process) runs with umask 022."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_files_made_by_a_servers_jobs_have_the_submitters_umask(place: Place, server_url: str, umask_022: None) -> None:
    root = place.root
    (root / "makefile.py").write_text("def touch(path):\n    open(path, 'w').close()\n")
    deck = root / "files.toml"
    deck.write_text(
        f'[deck]\nname = "files"\nout_dir = "{root}/out"\n\n'
        f'[[job]]\nname = "touch"\nshell = "touch {root}/made"\n\n'
        f'[[job]]\nname = "save"\nfetch = "{server_url}/bytes/100"\nsave = "saved.bin"\n\n'
        f'[[job]]\nname = "call"\ncall = "makefile:touch"\nargs = ["{root}/called"]\n'
    )
    env = {**os.environ, "JOBDECK_SOCKET": str(place.socket), "JOBDECK_LOG": str(place.log)}
    submitted = jobdeck("submit", deck, env=env)
    assert submitted.returncode == 0, submitted.stderr

    def finished() -> bool:
        report = json.loads(jobdeck("status", "--json", env=env).stdout)
        return all(job["state"] == "succeeded" for deck in report["decks"] for job in deck["jobs"])

    wait_until(finished, what="every job succeeded")
    assert stat.S_IMODE((root / "made").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "out" / "saved.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((root / "called").stat().st_mode) == 0o644  # a call job on a worker process
