"""The "open a job file" dialog: a path field with completion, a folder browser, and the file's problems.

The dialog has a current folder, like a shell: relative paths in the field are taken from it, the browser shows it,
and `enter` on a folder (typed or picked) moves into it. `enter` on a file awaits the app's loader: the dialog
closes with the path when it succeeds, and otherwise lists every problem in the file and stays open with the typed
path, so the file can be fixed in an editor and loaded again with one more `enter`. The loader must leave what is
already loaded untouched when it raises.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import ClassVar, Protocol

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DirectoryTree, Input, Static, Tree
from textual.worker import Worker

from runner.errors import DeckAlreadyLoaded, DeckError, Problem, describe_error
from tui.screens.dialogs import load_again_question
from tui.widgets.path_input import JOB_FILE_SUFFIX, PathInput, resolve_path


class Loader(Protocol):
    """Loads a job file (DeckError, changing nothing, when it is bad); DeckAlreadyLoaded for a file whose same
    jobs are loaded and unfinished, unless `again` (passed only after the user said yes to loading it again)."""

    def __call__(self, path: Path, /, *, again: bool = False) -> Awaitable[object]: ...


MARKER = "✗"


def _hint(*pairs: tuple[str, str]) -> str:
    """A one-line key hint: each key in the theme's accent colour (and bold, for terminals without colour)."""
    return "  ".join(f"[b $accent]{key}[/] {meaning}" for key, meaning in pairs)


HINTS = {
    "path": _hint(("enter", "load"), ("tab", "complete"), ("→", "accept"), ("↓", "browse"), ("esc", "cancel")),
    "tree": _hint(
        ("enter", "open"), ("space", "expand"), ("backspace", "parent"), ("shift+tab", "path"), ("esc", "cancel")
    ),
    "problems": _hint(("↑↓", "scroll"), ("tab", "path"), ("shift+tab", "browse"), ("esc", "cancel")),
}


def display_path(path: Path, folder: Path) -> str:
    """`path` as short as it reads unambiguously: relative to `folder` when inside it, else with `~` for home."""
    for base in (folder, _resolved(folder)):  # the loader may report the path with symlinks resolved
        try:
            return str(path.relative_to(base))
        except ValueError:
            pass
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except (ValueError, RuntimeError):  # outside home, or no home at all
        return str(path)


def display_folder(folder: Path) -> str:
    try:
        inside_home = folder.relative_to(Path.home())
    except (ValueError, RuntimeError):
        return str(folder).rstrip("/") + "/"
    return "~/" if inside_home == Path(".") else f"~/{inside_home}/"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _absolute(path: Path) -> Path:
    """An absolute path with "." and ".." folded away; symlinks are kept as the user named them."""
    return Path(os.path.abspath(path))


class JobFileTree(DirectoryTree):
    """A folder browser that shows folders and job files only, hidden entries hidden."""

    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "
    ICON_FILE = "  "  # plain text icons: emoji widths vary between terminals, and over SSH

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("backspace", "parent_folder", "Up a folder", show=False),
    ]

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            path
            for path in paths
            if not path.name.startswith(".") and (path.suffix == JOB_FILE_SUFFIX or self._safe_is_dir(path))
        ]

    start_at: str | None = None
    """Set when `down` enters a folder: once it is listed, the cursor goes to its first entry whose name starts
    with this (the rest of what was typed)."""

    async def watch_path(self) -> None:
        await super().watch_path()
        start_at, self.start_at = self.start_at, None
        if start_at is not None and self.last_line >= 0:
            self.cursor_line = next(
                (line for line, node in enumerate(self.root.children) if str(node.label).startswith(start_at)), 0
            )

    def action_cursor_up(self) -> None:
        """`up` on the first line goes back to the path field, the way `down` there came here."""
        screen = self.screen
        if self.cursor_line <= 0 and isinstance(screen, OpenDeckScreen):
            screen.path_input.focus()
            return
        super().action_cursor_up()

    def action_parent_folder(self) -> None:
        screen = self.screen
        if isinstance(screen, OpenDeckScreen):
            screen.change_folder(Path(self.path).parent)


class OpenDeckScreen(ModalScreen[Path | None]):
    """Ask for a job file and load it with `load`; dismisses with the loaded path, or None when cancelled."""

    CSS_PATH = "open_deck.tcss"
    AUTO_FOCUS = "#open-deck-path"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "browse", "Browse", show=False),
    ]

    def __init__(self, load: Loader, *, start_dir: Path | None = None) -> None:
        super().__init__()
        self._load = load
        self.folder = _absolute(start_dir if start_dir is not None else Path.cwd())
        self._loading: Worker[None] | None = None

    # --- layout -------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="open-deck-dialog") as dialog:
            dialog.border_title = "Open job file"
            yield PathInput(
                start_dir=self.folder,
                placeholder="job file, e.g. deck.toml (relative to the folder below)",
                id="open-deck-path",
            )
            yield Static(self._folder_status(), id="open-deck-status", markup=False)
            yield JobFileTree(self.folder, id="open-deck-tree")
            yield VerticalScroll(id="open-deck-problems")
            yield Static(HINTS["path"], id="open-deck-hint")

    def on_mount(self) -> None:
        self.query_one(JobFileTree).show_root = False

    @property
    def path_input(self) -> PathInput:
        return self.query_one("#open-deck-path", PathInput)

    @property
    def tree(self) -> JobFileTree:
        return self.query_one(JobFileTree)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#open-deck-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def _folder_status(self) -> str:
        return f"in {display_folder(self.folder)}"

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        focused = event.widget.id or ""
        hint = HINTS.get(focused.removeprefix("open-deck-"))
        if hint is not None:
            self.query_one("#open-deck-hint", Static).update(hint)

    # --- the folder -----------------------------------------------------------------------------------------

    def change_folder(self, folder: Path) -> None:
        """Make `folder` the dialog's current folder: browse it and take relative paths from it."""
        folder = _absolute(folder)
        if folder == self.folder:
            return
        self.folder = folder
        self.path_input.start_dir = folder
        self.tree.path = folder
        self._set_status(self._folder_status())

    # --- keys -----------------------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
        self.dismiss(None)

    def action_browse(self) -> None:
        """`down` in the path field moves into the browser, in the folder typed so far (which becomes the current
        folder, the field keeping the rest of the text); elsewhere `down` keeps its own meaning."""
        if self.focused is not self.path_input:
            raise SkipAction()
        self._enter_typed_folder()
        tree = self.tree
        tree.focus()
        if tree.cursor_line < 0 and tree.last_line >= 0:
            tree.cursor_line = 0

    def _enter_typed_folder(self) -> None:
        text = self.path_input.value.strip()
        if text == "~":
            text = "~/"
        folder_part = text[: text.rfind("/") + 1]
        if not folder_part:
            return
        folder = _absolute(resolve_path(folder_part, self.folder))
        try:
            is_folder = folder.is_dir()
        except OSError:
            is_folder = False
        if is_folder:  # else (a typo, no such folder) the browser stays where it is
            rest = text[len(folder_part) :]
            if folder != self.folder:
                self.tree.start_at = rest
                self.change_folder(folder)
            self.path_input.set_path(rest)

    @on(Input.Changed, "#open-deck-path")
    def _typing(self) -> None:
        if self._loading is None:
            self._set_status(self._folder_status())

    @on(PathInput.Choices)
    def _show_choices(self, event: PathInput.Choices) -> None:
        self._set_status(f"{len(event.choices)} matches: " + "  ".join(event.choices))

    @on(Tree.NodeHighlighted, "#open-deck-tree")
    def _file_highlighted(self, event: Tree.NodeHighlighted) -> None:
        entry = event.node.data
        if entry is None or not self.tree.has_focus or event.node.allow_expand:
            return
        self.path_input.set_path(display_path(entry.path, self.folder))

    @on(DirectoryTree.FileSelected, "#open-deck-tree")
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.path_input.set_path(display_path(event.path, self.folder))
        self._open(_absolute(event.path))

    @on(Input.Submitted, "#open-deck-path")
    def _path_submitted(self) -> None:
        text = self.path_input.value.strip()
        if not text:
            self._set_status("type the path of a job file, or pick one below", error=True)
            return
        path = _absolute(self.path_input.resolved())
        if path.is_dir():
            self.change_folder(path)
            self.path_input.set_path("")
            return
        self._open(path)

    # --- loading --------------------------------------------------------------------------------------------

    def _open(self, path: Path, *, again: bool = False) -> None:
        if self._loading is not None:
            return  # one load at a time; a second enter while the first runs does nothing
        self._set_status(f"loading {display_path(path, self.folder)} …")
        self._loading = self.run_worker(self._try_load(path, again), name="open-deck", exit_on_error=False)

    async def _try_load(self, path: Path, again: bool) -> None:
        try:
            problems = await self._problems_loading(path, again)
        except DeckAlreadyLoaded as repeat:
            self._set_status(f"{display_path(path, self.folder)} is loaded already: load it again?")
            self.app.push_screen(load_again_question(path, repeat), partial(self._load_again_answered, path))
            return
        finally:
            self._loading = None
        self._set_status(self._folder_status())
        if problems is None:
            self.dismiss(path)
        else:
            await self._show_problems(path, problems)

    def _load_again_answered(self, path: Path, yes: bool | None) -> None:
        if yes:
            self._open(path, again=True)
        else:
            self._set_status(f"not loaded: {display_path(path, self.folder)} is still at work from its earlier load")

    async def _problems_loading(self, path: Path, again: bool) -> list[Problem] | None:
        """Run the loader; None when it succeeded, else what to tell the user. DeckAlreadyLoaded goes through:
        it is a question for the user, not a problem in the file."""
        try:
            await (self._load(path, again=True) if again else self._load(path))
        except DeckAlreadyLoaded:
            raise
        except DeckError as error:
            return error.problems or [Problem(path, str(error) or "the job file could not be loaded")]
        except OSError as error:
            return [Problem(path, f"cannot read the job file: {error.strerror or error}")]
        except Exception as error:  # the dialog shows every failure as text, never a traceback
            return [Problem(path, f"could not load the job file: {describe_error(error)}")]
        return None

    async def _show_problems(self, path: Path, problems: list[Problem]) -> None:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        title = f"{count} in {display_path(path, self.folder)}; fix the file and press enter to retry"
        rows: list[Widget] = [Static(title, classes="title", markup=False)]
        for problem in problems:
            shown = replace(problem, path=Path(display_path(problem.path, self.folder)))
            rows.append(
                Horizontal(
                    Static(MARKER, classes="marker", markup=False),
                    Static(str(shown), classes="text", markup=False),
                    classes="problem",
                )
            )
        area = self.query_one("#open-deck-problems", VerticalScroll)
        await area.remove_children()
        await area.mount_all(rows)
        area.add_class("-visible")
        area.scroll_home(animate=False)
