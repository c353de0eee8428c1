"""Every reply fits in a frame, whatever the number of jobs or the size of a result, and `submit` says exactly
what it loaded: against a real server on a temporary socket, through the command line and the protocol."""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from runner.server.client import Client
from runner.server.framing import MAX_MESSAGE_BYTES
from runner.stored_results import INLINE_BYTES, read_stored_result
from tests.helpers import jobdeck, wait_until

MANY = 12_000
"""With items of 100 characters, enough jobs that their ids alone take more than a frame."""


def held_fan_out(path: Path, count: int) -> Path:
    """A deck of `count` trivial jobs held queued behind a gate that sleeps: nothing runs, everything is listed."""
    items = ", ".join(f'"{number:0100d}"' for number in range(count))
    path.write_text(
        '[deck]\nname = "many"\n'
        '[[job]]\nname = "gate"\nshell = "exec sleep 60"\n'
        f'[[job]]\nname = "j"\nshell = "true"\nafter = ["gate"]\neach = [{items}]\n'
    )
    return path


def test_submit_and_status_of_more_jobs_than_a_reply_holds(socket_env: dict[str, str], tmp_path: Path) -> None:
    deck = held_fan_out(tmp_path / "many.toml", MANY)
    submitted = jobdeck("submit", str(deck), env=socket_env)
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.strip() == f"submitted {deck}: deck 'many', {MANY + 1} jobs"

    report = jobdeck("status", "--json", env=socket_env)
    assert report.returncode == 0, report.stderr
    assert len(report.stdout) > MAX_MESSAGE_BYTES  # more than one reply could ever have carried
    (listed,) = json.loads(report.stdout)["decks"]
    assert listed["deck"] == "many"
    assert [job["name"] for job in listed["jobs"]] == ["gate", *(f"j[{number:0100d}]" for number in range(MANY))]
    assert {job["state"] for job in listed["jobs"][1:]} == {"queued"}

    text = jobdeck("status", env=socket_env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"many: {MANY} queued, 1 running · nothing finished yet · ETA –"
    assert lines[3].startswith(f"({MANY + 1} jobs not listed: --jobs lists them") and len(lines) == 4

    listing = jobdeck("status", "--jobs", env=socket_env)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[3] == "many:" and len(lines) == 4 + MANY + 1
    assert lines[-1].split()[:3] == [f"j[{MANY - 1:0100d}]", "shell", "queued"]


def test_a_result_larger_than_a_frame_is_shown_as_a_preview_with_its_size(
    socket_env: dict[str, str], tmp_path: Path
) -> None:
    deck = tmp_path / "huge.toml"
    size = MAX_MESSAGE_BYTES // 4  # in characters; its JSON takes 1.5 times a frame
    deck.write_text(
        '[[job]]\nname = "huge"\ncall = "operator:mul"\non = "thread"\n'
        f'args = ["é", {size}]\n'  # each "é" takes six bytes of JSON: \u00e9
        '[[job]]\nname = "middling"\ncall = "operator:mul"\non = "thread"\n'
        f'args = ["x", {INLINE_BYTES // 2}]\n'  # kept inline, but larger than a reply shows
        '[[job]]\nname = "loud"\nshell = "for i in $(seq 200); do printf \'é%.0s\' $(seq 3000); echo; done"\n'
    )
    assert jobdeck("submit", str(deck), env=socket_env).returncode == 0

    def finished() -> bool:
        report = jobdeck("status", "--json", env=socket_env)
        assert report.returncode == 0, report.stderr  # before the fix: "message too large" once "huge" ended
        return {job["state"] for job in json.loads(report.stdout)["decks"][0]["jobs"]} == {"succeeded"}

    wait_until(finished, what="both jobs succeeded")
    huge = json.loads(jobdeck("status", "--json", env=socket_env).stdout)["decks"][0]["jobs"][0]
    # Kept in a file of its own (runner.stored_results): the reply carries its size, path and a preview.
    stored = huge["result"]
    assert stored["size_bytes"] == 6 * size + 2 and stored["preview"].startswith('"\\u00e9\\u00e9')
    assert len(json.dumps(huge)) < 8 * 1024
    assert read_stored_result(stored) == "é" * size
    middling = json.loads(jobdeck("status", "--json", env=socket_env).stdout)["decks"][0]["jobs"][1]
    assert middling["result"].startswith("xx") and len(middling["result"]) < 8 * 1024
    assert middling["result_bytes"] == INLINE_BYTES // 2 + 2
    assert f"{INLINE_BYTES // 2 + 2} bytes" in middling["result"]
    assert "huge" in jobdeck("status", env=socket_env).stdout

    async def read_over_the_protocol() -> None:
        async with await Client.connect(Path(socket_env["JOBDECK_SOCKET"])) as client:
            snapshot = await client.request("snapshot", since=0)
            shown = {job["name"]: job for job in snapshot["jobs"]}
            assert shown["huge"]["result"]["size_bytes"] == 6 * size + 2
            lines: list[str] = []
            while len(lines) < 200:  # before the fix: a page of these lines was "message too large"
                chunk = await client.request("output", job="huge/loud", after=len(lines))
                assert chunk["lines"]
                lines += [line["text"] for line in chunk["lines"]]
            assert set(lines) == {"é" * 3000}

    anyio.run(read_over_the_protocol)


def test_a_repeated_submit_of_unfinished_work_is_refused_unless_again(
    socket_env: dict[str, str], tmp_path: Path
) -> None:
    deck = tmp_path / "twice.toml"
    deck.write_text('[deck]\nname = "twice"\n[[job]]\nname = "nap"\nshell = "exec sleep 60"\n')
    assert jobdeck("submit", str(deck), env=socket_env).returncode == 0

    again = jobdeck("submit", str(deck), env=socket_env)
    assert again.returncode == 2
    assert again.stdout == ""
    assert f"not loaded: {deck}" in again.stderr
    assert f"deck 'twice' from {deck} is already loaded with 1 unfinished job" in again.stderr
    assert f"jobdeck submit --again {deck}" in again.stderr
    decks = json.loads(jobdeck("status", "--json", env=socket_env).stdout)["decks"]
    assert [listed["deck"] for listed in decks] == ["twice"]

    forced = jobdeck("submit", "--again", str(deck), env=socket_env)
    assert forced.returncode == 0, forced.stderr
    assert f"submitted {deck}: deck 'twice#2', 1 job" in forced.stdout
    assert "loaded again: deck 'twice' came from the same file with the same jobs" in forced.stdout

    deck.write_text('[deck]\nname = "twice"\n[[job]]\nname = "nap"\nshell = "exec sleep 61"\n')  # other work
    changed = jobdeck("submit", str(deck), env=socket_env)
    assert changed.returncode == 0, changed.stderr
    assert "deck 'twice#3'" in changed.stdout and "loaded again" not in changed.stdout


def test_a_submit_of_finished_work_loads_it_again_and_says_so(socket_env: dict[str, str], tmp_path: Path) -> None:
    deck = tmp_path / "done.toml"
    deck.write_text('[deck]\nname = "done"\n[[job]]\nname = "quick"\nshell = "true"\n')
    assert jobdeck("submit", str(deck), env=socket_env).returncode == 0

    def succeeded() -> bool:
        jobs = json.loads(jobdeck("status", "--json", env=socket_env).stdout)["decks"][0]["jobs"]
        return bool(jobs[0]["state"] == "succeeded")

    wait_until(succeeded, what="the first run succeeded")
    rerun = jobdeck("submit", str(deck), env=socket_env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"submitted {deck}: deck 'done#2', 1 job" in rerun.stdout
    assert "loaded again: deck 'done' came from the same file" in rerun.stdout


def test_submit_says_which_files_were_loaded_when_one_is_bad(socket_env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[[job]]\nname = "nap"\nshell = "exec sleep 60"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[[job]]\nname = "nap"\n')
    result = jobdeck("submit", str(good), str(bad), env=socket_env)
    assert result.returncode == 2
    assert f"submitted {good}: deck 'good', 1 job" in result.stdout
    assert f"not loaded: {bad}" in result.stderr
