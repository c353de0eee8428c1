"""A halted deck and its hooks in a real server: `jobdeck status` says why dispatching stopped and how the hooks
ended, and `jobdeck retry --deck` lifts the halt."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers import wait_until
from tests.runner.cli.live_server import LiveServer, live_server

HALTING = """
[deck]
name = "nightly"
halt = "fail=1"
shell_limit = 1
on_finish = "echo finished $JOBDECK_DECK"

[[job]]
name = "bad"
shell = "test -f fixed"

[[job]]
name = "later"
shell = "true"
"""


def status(server: LiveServer, *arguments: str) -> str:
    shown = server.jobdeck("status", *arguments)
    assert shown.code == 0, shown.err
    return shown.out


def test_status_says_why_a_deck_halted_and_retry_lifts_it() -> None:
    with live_server() as server:
        deck = server.write("nightly.toml", HALTING)
        assert server.jobdeck("submit", deck).code == 0
        assert server.jobdeck("wait", "nightly").code == 1
        wait_until(lambda: "hook exited" in status(server), what="the on_finish hook's end in the status")
        text = status(server)
        assert "nightly: 1 failed, 1 skipped in " in text
        assert " · halted: 1 job failed (`jobdeck retry --deck nightly` lifts it)\n" in text
        [hook_line] = [line for line in text.splitlines() if "on_finish hook" in line]
        kept = re.fullmatch(r"  on_finish hook exited with status 0 \(output in (/.*/hooks\.log)\)", hook_line)
        assert kept is not None, hook_line
        assert Path(kept[1]).read_text().splitlines()[1:] == [
            "finished nightly",
            "[jobdeck] on_finish hook exited with status 0",
        ]
        assert Path(kept[1]).stat().st_mode & 0o777 == 0o600
        assert "  later                          shell  skipped    #0  not run: halted: 1 job failed\n" in text
        assert "nightly on_finish output: finished nightly" in (server.root / "server.log").read_text()
        [listed] = json.loads(status(server, "--json"))["decks"]
        assert (listed["halted"], listed["hooks"]) == ("halted: 1 job failed", [hook_line.strip()])

        (server.root / "fixed").touch()
        assert server.jobdeck("retry", "--deck", "nightly").code == 0
        waited = server.jobdeck("wait", "nightly")  # `later` runs too: the halt is lifted
        assert (waited.code, waited.out) == (0, "2 succeeded\n")
