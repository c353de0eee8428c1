"""Forgetting finished decks in a real server: by command, by the server's own policy, and what stays in the
history."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio

from runner.server.client import Client, read_status
from tests.conftest import Place
from tests.helpers import jobdeck, wait_until


def env_for(place: Place, **variables: str) -> dict[str, str]:
    return {**os.environ, "JOBDECK_SOCKET": str(place.socket), "JOBDECK_LOG": str(place.log), **variables}


def write_decks(root: Path) -> tuple[Path, Path]:
    quick = root / "quick.toml"
    quick.write_text(
        '[deck]\nname = "quick"\n[[job]]\nname = "a"\nshell = "true"\n[[job]]\nname = "b"\nshell = "true"\n'
    )
    slow = root / "slow.toml"
    slow.write_text('[deck]\nname = "slow"\n[[job]]\nname = "z"\nshell = "exec sleep 60"\n')
    return quick, slow


def deck_states(place: Place) -> dict[str, list[str]]:
    """The server's decks and their jobs' states, as `status` reports them."""

    async def main() -> dict[str, Any]:
        async with await Client.connect(place.socket) as client:
            return await read_status(client)

    decks = anyio.run(main)["decks"]
    return {deck["deck"]: [job["state"] for job in deck["jobs"]] for deck in decks}


def ask(place: Place, op: str, **args: object) -> dict[str, object]:
    async def main() -> dict[str, object]:
        async with await Client.connect(place.socket) as client:
            reply: dict[str, object] = await client.request(op, **args)
            return reply

    return anyio.run(main)


def test_a_forgotten_deck_leaves_status_and_snapshots_and_stays_in_the_history(place: Place) -> None:
    env = env_for(place)
    quick, slow = write_decks(place.root)
    assert jobdeck("submit", quick, slow, env=env).returncode == 0
    wait_until(lambda: deck_states(place).get("quick") == ["succeeded", "succeeded"], what="quick finished")

    forgot = jobdeck("forget", "quick", env=env)
    assert forgot.returncode == 0, forgot.stderr
    assert "forgot quick (2 jobs)" in forgot.stdout

    assert list(deck_states(place)) == ["slow"]
    snapshot = ask(place, "snapshot", since=0)
    assert [job["id"] for job in snapshot["jobs"]] == ["slow/z"]  # type: ignore[index, union-attr]
    assert list(snapshot["decks"]) == ["slow"]  # type: ignore[arg-type]
    assert sum(snapshot["counts"].values()) == 1  # type: ignore[union-attr]
    history = ask(place, "history")
    runs = {run["name"]: run for run in history["runs"]}  # type: ignore[union-attr, index]
    assert runs["quick"]["counts"] == {"succeeded": 2}
    jobs = ask(place, "history", run=runs["quick"]["id"])["jobs"]
    assert sorted(job["name"] for job in jobs) == ["a", "b"]  # type: ignore[union-attr, index]

    # Loaded again, the deck gets a new name: a job id never means two jobs in one server's life.
    again = jobdeck("submit", quick, env=env)
    assert "deck 'quick#2'" in again.stdout
    # ...and journaled like any other, though the server holds as many decks as before the forget.
    wait_until(lambda: deck_states(place).get("quick#2") == ["succeeded", "succeeded"], what="quick#2 finished")
    names = [run["name"] for run in ask(place, "history")["runs"]]  # type: ignore[union-attr, index]
    assert names.count("quick#2") == 1


def test_a_deck_with_unfinished_jobs_is_refused_and_goes_on(place: Place) -> None:
    env = env_for(place)
    quick, slow = write_decks(place.root)
    assert jobdeck("submit", quick, slow, env=env).returncode == 0
    wait_until(lambda: deck_states(place).get("slow") == ["running"], what="slow running")

    refused = jobdeck("forget", "slow", env=env)
    assert refused.returncode == 1
    assert "cannot forget slow: 1 of its jobs has not finished; cancel them or let them end first" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert deck_states(place)["slow"] == ["running"]

    wait_until(lambda: deck_states(place).get("quick") == ["succeeded", "succeeded"], what="quick finished")
    every = jobdeck("forget", "--finished", env=env)
    assert every.returncode == 0, every.stderr
    assert "forgot quick (2 jobs)" in every.stdout
    assert list(deck_states(place)) == ["slow"]

    unknown = jobdeck("forget", "nope", env=env)
    assert unknown.returncode == 1 and "no deck named 'nope'; loaded: slow" in unknown.stderr


def test_forget_without_a_server_says_so_and_starts_none(place: Place) -> None:
    result = jobdeck("forget", "--finished", env=env_for(place))
    assert result.returncode == 1
    assert "no jobdeck server runs: there is nothing to forget" in result.stderr
    assert not place.socket.exists()


def test_the_server_forgets_decks_finished_long_enough_ago_by_itself(place: Place) -> None:
    env = env_for(place, JOBDECK_FORGET_AFTER="0.5s", JOBDECK_TIDY_EVERY="0.1")
    quick, slow = write_decks(place.root)
    assert jobdeck("submit", quick, slow, env=env).returncode == 0
    wait_until(lambda: "quick" not in deck_states(place), what="quick forgotten by the server")
    assert deck_states(place)["slow"] == ["running"]  # unfinished: kept, however old
    assert "forgot 1 deck(s) finished more than 0.5 s ago: quick" in place.log.read_text()
    runs = ask(place, "history")["runs"]
    assert "quick" in [run["name"] for run in runs]  # type: ignore[union-attr, index]


def test_a_bad_policy_value_is_logged_and_the_default_kept(place: Place) -> None:
    env = env_for(place, JOBDECK_FORGET_AFTER="soon", JOBDECK_TIDY_EVERY="0.1")
    quick, _ = write_decks(place.root)
    assert jobdeck("submit", quick, env=env).returncode == 0
    wait_until(lambda: "ignored JOBDECK_FORGET_AFTER" in place.log.read_text(), what="the warning")
    assert "quick" in deck_states(place)
