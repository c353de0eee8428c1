"""`jobdeck demo` as a newcomer meets it: something still runs after the first minute, it can run again from
inside, and it leaves nothing behind in the temporary folder unless asked to."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from runner.deck.parser import load_deck
from runner.deck.pending_fan_out import PendingFanOut
from runner.demo.workspace import prepare_workspace
from runner.model import CallSpec, FetchSpec, JobState
from runner.policies import RunIf
from tests.helpers import CONSOLE_SCRIPT, in_terminal, until
from tui.demo import DemoApp

A_MINUTE_OR_TWO = (60.0, 150.0)
PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("keep", [False, True], ids=["removed", "kept"])
def test_the_demo_removes_its_folder_when_it_ends_unless_kept(keep: bool, tmp_path: Path) -> None:
    environment = os.environ | {"TMPDIR": str(tmp_path)}
    arguments = ["demo", "--keep"] if keep else ["demo"]
    with in_terminal(CONSOLE_SCRIPT, *arguments, cwd=tmp_path, env=environment) as terminal:
        terminal.read_until(lambda: b"page[1]" in terminal.output, what="the demo running")
        (workspace,) = tmp_path.glob("jobdeck-demo-*")
        assert (workspace / "demo.toml").is_file()
        terminal.write(b"q")
        terminal.read_until(lambda: b"not finished" in terminal.output, what="the quit question")
        terminal.write(b"y")
        assert terminal.read_to_end(timeout=60) == 0
    after = terminal.text.rpartition("\x1b[?1049l")[2]
    if keep:
        assert workspace.is_dir()
        assert f"jobdeck demo: its files are in {workspace}" in after
    else:
        assert not workspace.exists()
        assert "jobdeck demo: removed its files (`jobdeck demo --keep` keeps them)" in after


def test_the_demo_keeps_something_running_for_a_minute_or_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick jobs end in about 20 s; a newcomer still needs something running to try `p` and `c` on."""
    monkeypatch.setenv("JOBDECK_DEMO_URL", "http://127.0.0.1:9")
    workspace = prepare_workspace()
    try:
        deck = load_deck(workspace / "demo.toml")
    finally:
        shutil.rmtree(workspace)
    durations = {}
    for job in deck.jobs:
        work = job.work
        if isinstance(work, FetchSpec) and "/bytes/" in work.url:
            size = int(urlsplit(work.url).path.rsplit("/", 1)[1])
            query = {key: float(values[0]) for key, values in parse_qs(urlsplit(work.url).query).items()}
            durations[job.name] = size / query.get("chunk", 65536) * query.get("delay", 0.0)
        elif isinstance(work, CallSpec) and work.function == "simulate":
            durations[job.name] = work.kwargs["steps"] * work.kwargs["seconds_per_step"]
    long = {name: seconds for name, seconds in durations.items() if seconds >= A_MINUTE_OR_TWO[0]}
    assert long, f"nothing in the demo runs for a minute: {durations}"
    assert all(seconds <= A_MINUTE_OR_TWO[1] for seconds in long.values()), long
    assert any(job.kind.value == "call" for job in deck.jobs if job.name in long), "a process job to pause too"


@pytest.mark.anyio
async def test_the_demo_runs_again_from_inside_once_it_has_finished(tmp_path: Path) -> None:
    """`a` (or the palette's "Run the demo again") forgets the finished run, clears its downloads and loads the
    deck again; before the demo has finished it says why it waits."""
    (tmp_path / "demo.toml").write_text(
        '[deck]\nname = "demo"\nout_dir = "downloads"\n\n'
        '[[job]]\nname = "note"\nshell = "mkdir -p downloads && echo $JOBDECK_DECK > downloads/$JOBDECK_DECK.txt"\n\n'
        '[[job]]\nname = "wait"\nshell = "while [ ! -e go ]; do sleep 0.05; done"\n'
    )
    app = DemoApp(tmp_path, [load_deck(tmp_path / "demo.toml")])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: (tmp_path / "downloads" / "demo.txt").exists(), what="the first run's file")
        # The file is there before its job has ended (under load, long before): one job left, not two.
        await until(pilot, lambda: app.engine.job("demo/note").state is JobState.SUCCEEDED, what="note done")
        await pilot.press("a")
        await until(pilot, lambda: any("still running (1 job)" in str(note.message) for note in app._notifications))
        assert list(app.engine.decks) == ["demo"]
        (tmp_path / "go").touch()
        await until(pilot, lambda: any("has finished" in str(note.message) for note in app._notifications))
        (tmp_path / "go").unlink()
        await pilot.press("a")
        await until(pilot, lambda: "demo#2" in app.engine.decks, what="the demo loaded again")
        assert "demo" not in app.engine.decks, "the finished run is forgotten"
        await until(pilot, lambda: (tmp_path / "downloads" / "demo#2.txt").exists(), what="the second run's file")
        assert sorted(path.name for path in (tmp_path / "downloads").iterdir()) == ["demo#2.txt"]
        # Started after the note's file may exist (under load): it must run, not end at once on the old `go`.
        await until(pilot, lambda: app.engine.job("demo#2/wait").state is JobState.RUNNING, what="wait running")
        (tmp_path / "go").touch()
        await until(pilot, lambda: app.unfinished_count() == 0, what="the second run finished")
        await app.stop_engine()


def test_the_demo_s_pipeline_goes_item_by_item_from_the_demo_server_s_list_of_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sample_jobs/pipeline.toml, as the demo ships and loads it: each page's words are counted once that page
    has landed, publishing waits for every count, and a cleanup runs only when something failed."""
    monkeypatch.setenv("JOBDECK_DEMO_URL", "http://127.0.0.1:9")
    workspace = prepare_workspace()
    try:
        deck = load_deck(workspace / "pipeline.toml")
        assert (workspace / "pipeline.toml").read_text() == (PROJECT / "sample_jobs" / "pipeline.toml").read_text()
    finally:
        shutil.rmtree(workspace)
    jobs = {job.name: job for job in deck.jobs}
    assert list(jobs) == ["list_pages", "fetch", "words", "publish", "cleanup"]
    fetch, words = jobs["fetch"], jobs["words"]
    assert isinstance(fetch, PendingFanOut) and isinstance(words, PendingFanOut)
    assert (fetch.source, words.source, words.item_after) == ("list_pages", "list_pages", ("fetch[{item.name}]",))
    assert isinstance(words.work, CallSpec) and words.work.on == "process"
    assert jobs["publish"].after == ("words",)
    assert (jobs["cleanup"].after, jobs["cleanup"].run_if) == ((), RunIf.FAILURE)  # after the rest, if it failed
