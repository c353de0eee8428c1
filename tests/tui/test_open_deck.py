"""The "open a job file" dialog, driven by keys the way a user would, with the real job file parser behind it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import anyio
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from runner.deck.parser import load_deck
from runner.model import Deck
from tests.helpers import until
from tui.screens.open_deck import JobFileTree, OpenDeckScreen
from tui.widgets.path_input import PathInput, complete_path

pytestmark = pytest.mark.anyio

GOOD = """
[deck]
name = "nightly"

[[job]]
name = "hello"
shell = "echo hello"
"""

UNKNOWN_KEY = """
[deck]
name = "nightly"

[[job]]
name = "hello"
shel = "echo hello"
"""

SYNTAX_ERROR = """
[deck]
name = "nightly

[[job]]
name = "hello"
shell = "echo hello"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


class OpenDeckApp(App[None]):
    """Opens the dialog at start; records what the real loader loaded and what the dialog returned."""

    def __init__(self, start_dir: Path) -> None:
        super().__init__()
        self.start_dir = start_dir
        self.loaded: list[Deck] = []
        self.results: list[Path | None] = []

    async def load(self, path: Path) -> Deck:
        deck = load_deck(path)  # raises DeckError for a bad file: nothing is recorded then
        self.loaded.append(deck)
        return deck

    async def on_mount(self) -> None:
        await self.push_screen(OpenDeckScreen(self.load, start_dir=self.start_dir), self.results.append)
        self.screen.query_one(PathInput).cursor_blink = False  # a steady cursor, for snapshots


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder in a fake home, so displayed paths ("~/project/") are the same on every run."""
    monkeypatch.setenv("HOME", str(tmp_path))
    project = tmp_path / "project"
    write(project / "deck.toml", GOOD)
    write(project / "jobs" / "nightly.toml", GOOD)
    write(project / "jobs" / "weekly.toml", GOOD)
    write(project / "notes.txt", "not a job file")
    write(project / ".hidden.toml", GOOD)
    return project


def dialog(app: App[None]) -> OpenDeckScreen:
    screen = app.screen
    assert isinstance(screen, OpenDeckScreen)
    return screen


def problems_text(app: App[None]) -> str:
    rows = dialog(app).query("#open-deck-problems Static")
    return "\n".join(str(row.render()) for row in rows)


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*(" " if char == " " else char for char in text))


async def settle(pilot: Pilot[None]) -> None:
    """Wait for loads and suggestions in flight (the browser's folder reader never finishes: it waits for work)."""
    with anyio.fail_after(5):
        while busy := [worker for worker in pilot.app.workers if worker.group != "_loader" and not worker.is_finished]:
            await busy[0].wait()
    await pilot.pause()


# --- completion, without the screen -------------------------------------------------------------------------------


def test_completion_prefers_job_files_and_folders(folder: Path) -> None:
    write(folder / "deck.txt", "x")
    assert complete_path("de", folder).candidates == ("deck.toml",)  # deck.txt is not a job file
    assert complete_path("j", folder).candidates == ("jobs/",)
    assert complete_path("jobs/", folder).candidates == ("jobs/nightly.toml", "jobs/weekly.toml")
    assert complete_path("jobs/w", folder).suggestion == "jobs/weekly.toml"
    assert complete_path("~/pro", folder).candidates == ("~/project/",)
    assert complete_path(".h", folder).candidates == (".hidden.toml",)  # hidden only when asked for
    assert complete_path("", folder).candidates == ()
    assert complete_path("nothing-here", folder).candidates == ()
    assert complete_path("~no-such-user-here/", folder).candidates == ()


def test_completion_finds_job_files_before_other_files(folder: Path) -> None:
    write(folder / "nightly.toml", GOOD)
    assert complete_path("n", folder).candidates == ("nightly.toml",)  # notes.txt is not offered alongside
    assert complete_path("no", folder).candidates == ("notes.txt",)  # but it is when it is all there is
    assert complete_path("DE", folder).candidates == ("deck.toml",)  # a case slip still finds the file


# --- the dialog ---------------------------------------------------------------------------------------------------


async def test_path_field_has_focus_and_completes_as_you_type(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        path_input = dialog(app).query_one(PathInput)
        assert app.focused is path_input
        await type_text(pilot, "dec")
        await settle(pilot)  # the suggestion is looked up off the event loop
        await pilot.press("right")  # at the end of the text, right accepts the suggestion
        assert path_input.value == "deck.toml"
        await pilot.press("ctrl+u")
        await type_text(pilot, "jobs/w")
        await settle(pilot)
        await pilot.press("end")  # and so does end
        assert path_input.value == "jobs/weekly.toml"


async def test_tab_completes_the_common_part_and_lists_the_choices(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        path_input = dialog(app).query_one(PathInput)
        await type_text(pilot, "jo")
        await pilot.press("tab")
        assert path_input.value == "jobs/"
        await pilot.press("tab")  # nightly.toml and weekly.toml: nothing in common, so list them
        await pilot.pause()
        status = dialog(app).query_one("#open-deck-status", Static)
        assert "nightly.toml" in str(status.render())
        assert "weekly.toml" in str(status.render())
        assert app.focused is path_input
        await type_text(pilot, "w")
        await pilot.press("tab")
        assert path_input.value == "jobs/weekly.toml"
        await pilot.press("tab")  # nothing left to complete: tab moves focus as everywhere else
        assert isinstance(app.focused, JobFileTree)


async def test_enter_loads_a_good_file_and_dismisses_with_its_path(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_text(pilot, "jobs/nightly.toml")
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == [folder / "jobs" / "nightly.toml"]
        assert [deck.name for deck in app.loaded] == ["nightly"]
        assert not isinstance(app.screen, OpenDeckScreen)


async def test_a_bad_file_shows_its_problems_and_a_fix_then_loads(folder: Path) -> None:
    bad = write(folder / "bad.toml", UNKNOWN_KEY)
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_text(pilot, "bad.toml")
        await pilot.press("enter")
        await settle(pilot)

        assert isinstance(app.screen, OpenDeckScreen), "the dialog stays open"
        assert app.results == [] and app.loaded == []
        text = problems_text(app)
        assert "bad.toml:6" in text  # file and line
        assert "job 'hello', key 'shel'" in text
        assert "did you mean 'shell'" in text
        assert "1 problem in bad.toml" in text  # the unknown key says which kind it meant: nothing more to say
        assert dialog(app).query_one(PathInput).value == "bad.toml", "the typed path is kept"

        write(bad, SYNTAX_ERROR)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OpenDeckScreen)
        text = problems_text(app)
        assert "bad.toml:2" in text
        assert "key 'shel'" not in text, "the old problems are replaced"

        write(bad, GOOD)
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == [bad]
        assert [deck.name for deck in app.loaded] == ["nightly"]


async def test_a_missing_file_or_a_failing_loader_is_shown_not_raised(folder: Path) -> None:
    app = OpenDeckApp(folder)

    async def broken(path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_text(pilot, "dek.toml")
        await pilot.press("enter")
        await settle(pilot)
        assert "no such job file" in problems_text(app)
        assert "did you mean 'deck.toml'" in problems_text(app)

        dialog(app)._load = broken
        await pilot.press("ctrl+u")  # clear the field (Input's delete-to-start)
        await type_text(pilot, "deck.toml")
        await pilot.press("enter")
        await settle(pilot)
        assert "cannot read the job file: Permission denied" in problems_text(app)
        assert isinstance(app.screen, OpenDeckScreen)


async def test_escape_cancels_with_none(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_text(pilot, "deck")
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]
        assert app.loaded == []


async def test_the_tree_fills_the_path_and_enter_loads_it(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = dialog(app)
        tree = screen.query_one(JobFileTree)
        await tree.reload()  # the listing is read in a thread; wait for it
        await pilot.pause()
        shown = [str(node.label) for node in tree.root.children]
        assert shown == ["jobs", "deck.toml"], "folders and job files only, no hidden files"

        await pilot.press("down")  # from the path field into the browser
        assert app.focused is tree
        assert screen.query_one(PathInput).value == ""  # a folder is highlighted: nothing to fill in
        await pilot.press("down")
        assert screen.query_one(PathInput).value == "deck.toml"
        await pilot.press("up", "up")  # past the first line: back in the path field, with the picked file
        assert app.focused is screen.query_one(PathInput)
        assert screen.query_one(PathInput).value == "deck.toml"
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        assert app.results == [folder / "deck.toml"]


async def test_enter_on_a_folder_moves_into_it(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = dialog(app)
        await type_text(pilot, "jobs/")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.folder == folder / "jobs"
        assert screen.query_one(PathInput).value == ""
        assert "~/project/jobs/" in str(screen.query_one("#open-deck-status", Static).render())
        await type_text(pilot, "w")
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert app.results == [folder / "jobs" / "weekly.toml"]


# --- how it looks at 80x24 ----------------------------------------------------------------------------------------


def test_snapshot_dialog(folder: Path, snap_compare) -> None:
    async def wait_for_listing(pilot: Pilot[None]) -> None:
        await dialog(pilot.app).query_one(JobFileTree).reload()
        await pilot.pause()

    assert snap_compare(OpenDeckApp(folder), terminal_size=(80, 24), run_before=wait_for_listing)


def test_snapshot_dialog_with_problems(folder: Path, snap_compare) -> None:
    write(folder / "bad.toml", UNKNOWN_KEY.replace('name = "nightly"', 'name = "nightly"\nfetch_limt = 4'))

    async def load_bad_file(pilot: Pilot[None]) -> None:
        await dialog(pilot.app).query_one(JobFileTree).reload()
        await type_text(pilot, "bad.toml")
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(OpenDeckApp(folder), terminal_size=(80, 24), run_before=load_bad_file)


async def test_down_browses_the_folder_typed_so_far(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = dialog(app)
        tree = screen.query_one(JobFileTree)
        await type_text(pilot, "jobs/we")
        await pilot.press("down")
        await until(pilot, lambda: [str(node.label) for node in tree.root.children] == ["nightly.toml", "weekly.toml"])
        assert app.focused is tree and Path(tree.path) == folder / "jobs"
        assert "~/project/jobs/" in str(screen.query_one("#open-deck-status", Static).render())
        await until(pilot, lambda: screen.query_one(PathInput).value == "weekly.toml")  # what was typed, picked
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == [folder / "jobs" / "weekly.toml"]


async def test_down_after_a_folder_that_does_not_exist_browses_where_it_was(folder: Path) -> None:
    app = OpenDeckApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = dialog(app)
        tree = screen.query_one(JobFileTree)
        await type_text(pilot, "nothere/x")
        await pilot.press("down")
        await until(pilot, lambda: [str(node.label) for node in tree.root.children] == ["jobs", "deck.toml"])
        assert app.focused is tree and Path(tree.path) == folder
        assert screen.folder == folder
