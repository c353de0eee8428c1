"""A fetch's `save` lands inside out_dir even when an earlier job of the deck planted links in it after load:
a real HTTP server on 127.0.0.1, a shell job making the links, later fetches saving through them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from runner.engine.engine import Engine
from runner.model import JobState

pytestmark = pytest.mark.anyio


async def test_a_save_path_through_a_link_planted_after_load_is_refused(
    write_deck: Callable[[str], Path], server_url: str, tmp_path: Path
) -> None:
    deck = write_deck(f"""
        [deck]
        out_dir = "out"

        [[job]]
        name = "plant"
        shell = "mkdir -p out outside && ln -s ../outside out/link && ln -s ../outside/last.html out/last.html"

        [[job]]
        name = "through"
        after = ["plant"]
        fetch = "{server_url}/page/1"
        save = "link/f.html"

        [[job]]
        name = "deeper"
        after = ["plant"]
        fetch = "{server_url}/page/2"
        save = "link/sub/g.html"

        [[job]]
        name = "over_a_link"
        after = ["plant"]
        fetch = "{server_url}/page/3"
        save = "last.html"

        [[job]]
        name = "inside"
        after = ["plant"]
        fetch = "{server_url}/page/4"
        save = "pages/p.html"
    """)
    async with Engine() as engine:
        await engine.load(deck)
        with anyio.fail_after(30):
            await engine.wait_until_settled()
    out = tmp_path / "out"
    through, deeper = engine.job("through"), engine.job("deeper")
    assert engine.job("plant").state is JobState.SUCCEEDED, engine.job("plant").error
    assert through.state is JobState.FAILED
    assert through.error == f"save path {out}/link/f.html goes through a symbolic link ({out}/link); refused"
    assert deeper.state is JobState.FAILED
    assert deeper.error == f"save path {out}/link/sub/g.html goes through a symbolic link ({out}/link); refused"
    assert list((tmp_path / "outside").iterdir()) == [], "nothing was written outside out_dir"

    # A link in the file's own place is replaced by the file, never written through.
    assert engine.job("over_a_link").state is JobState.SUCCEEDED
    assert not (out / "last.html").is_symlink() and (out / "last.html").read_text().startswith("<")
    assert engine.job("inside").state is JobState.SUCCEEDED
    assert sorted(path.name for path in (out / "pages").iterdir()) == ["p.html"], "no partial file left"
