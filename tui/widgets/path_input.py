"""A path field that completes from the file system: a ghost suggestion as you type, and `tab` to complete.

Completion looks at the folder named by what is typed so far (`~` expanded, relative paths taken from a start
folder) and offers job files (*.toml) and folders first; folders get a trailing "/". Hidden entries are offered
only once a "." is typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

JOB_FILE_SUFFIX = ".toml"
MAX_LISTED = 2000  # entries read from one folder; a huge folder must not stall typing


@dataclass(frozen=True)
class Completion:
    """What the text typed so far could become."""

    typed: str
    candidates: tuple[str, ...]
    """Whole completions (the typed folder part plus an entry name, "/" after folders), best first."""
    folder_part: str = ""
    """The typed text up to and including its last "/", as the user spelled it."""

    @property
    def names(self) -> list[str]:
        """The candidates without the folder part: what differs between them."""
        return [candidate[len(self.folder_part) :] for candidate in self.candidates]

    @property
    def suggestion(self) -> str | None:
        return self.candidates[0] if self.candidates else None

    @property
    def common(self) -> str:
        """The longest text every candidate starts with (never shorter than what was typed)."""
        if not self.candidates:
            return self.typed
        common = _common_start(self.candidates)
        return common if len(common) > len(self.typed) else self.typed


def _common_start(texts: tuple[str, ...]) -> str:
    """The longest text all of `texts` start with, compared character by character (completion text, not paths)."""
    shortest, longest = min(texts), max(texts)
    for index, char in enumerate(shortest):
        if char != longest[index]:
            return shortest[:index]
    return shortest


def resolve_path(text: str, start_dir: Path) -> Path:
    """The path that `text` names: `~` expanded, relative paths taken from `start_dir`."""
    path = Path(text)
    if text.startswith("~"):
        with contextlib.suppress(RuntimeError):  # "~someone" unknown, or no home folder: take the text as it is
            path = path.expanduser()
    return path if path.is_absolute() else start_dir / path


def complete_path(typed: str, start_dir: Path) -> Completion:
    """Completions of `typed` from the file system; no candidates when nothing fits or the folder can't be read."""
    if not typed or "\0" in typed:
        return Completion(typed, ())
    if typed == "~":
        return Completion(typed, ("~/",))
    prefix = typed.rpartition("/")[2]
    folder_part = typed[: len(typed) - len(prefix)]  # keeps the user's own spelling: "~/", "../", "/"
    folder = resolve_path(folder_part, start_dir) if folder_part else start_dir
    entries = _list_folder(folder, show_hidden=prefix.startswith("."))
    matches = [(name, is_dir) for name, is_dir in entries if name.startswith(prefix)]
    if not matches:  # a case slip should not hide the only job file there is
        folded = prefix.casefold()
        matches = [(name, is_dir) for name, is_dir in entries if name.casefold().startswith(folded)]
    preferred = [(name, is_dir) for name, is_dir in matches if is_dir or name.endswith(JOB_FILE_SUFFIX)]
    ranked = sorted(preferred or matches, key=lambda entry: (_rank(*entry), entry[0].casefold(), entry[0]))
    candidates = tuple(folder_part + name + ("/" if is_dir else "") for name, is_dir in ranked)
    return Completion(typed, tuple(candidate for candidate in candidates if candidate != typed), folder_part)


def _rank(name: str, is_dir: bool) -> int:
    if name.endswith(JOB_FILE_SUFFIX) and not is_dir:
        return 0
    return 1 if is_dir else 2


def _list_folder(folder: Path, *, show_hidden: bool) -> list[tuple[str, bool]]:
    entries: list[tuple[str, bool]] = []
    try:
        with os.scandir(folder) as scan:
            for entry in scan:
                if len(entries) >= MAX_LISTED:
                    break
                if entry.name.startswith(".") and not show_hidden:
                    continue
                try:
                    is_dir = entry.is_dir()  # follows symlinks: a link to a folder completes like a folder
                except OSError:
                    is_dir = False
                entries.append((entry.name, is_dir))
    except (OSError, ValueError):
        return []
    return entries


class PathSuggester(Suggester):
    """Suggests the best completion of the typed path (job files, then folders, then other files)."""

    def __init__(self, start_dir: Path | None = None) -> None:
        # No cache: the file system changes under us (the user saves a new job file in another terminal).
        super().__init__(use_cache=False, case_sensitive=True)
        self.start_dir = start_dir if start_dir is not None else Path.cwd()

    async def get_suggestion(self, value: str) -> str | None:
        # Off the event loop: a slow or network-mounted folder must not freeze the screen.
        try:
            completion = await asyncio.to_thread(complete_path, value, self.start_dir)
        except Exception:  # a suggestion is a nicety: never let it take the app down (Input's worker would)
            return None
        return completion.suggestion


class PathInput(Input):
    """An Input for a file path, with file system completion.

    `right` or `end` at the end of the text accepts the ghost suggestion. `tab` completes as far as the
    candidates agree; when several remain it posts `PathInput.Choices` so the screen can list them; when there is
    nothing to complete it lets `tab` move focus as usual.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "complete", "Complete", show=False),
    ]

    @dataclass
    class Choices(Message):
        """`tab` found several completions that share no longer prefix."""

        path_input: PathInput
        choices: list[str]

        @property
        def control(self) -> PathInput:
            return self.path_input

    def __init__(
        self,
        value: str | None = None,
        *,
        start_dir: Path | None = None,
        placeholder: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        self._path_suggester = PathSuggester(start_dir)
        super().__init__(
            value,
            placeholder=placeholder,
            suggester=self._path_suggester,
            select_on_focus=False,  # coming back from the tree must not arm a select-all that typing would erase
            id=id,
            classes=classes,
        )

    @property
    def start_dir(self) -> Path:
        """The folder relative paths are taken from."""
        return self._path_suggester.start_dir

    @start_dir.setter
    def start_dir(self, folder: Path) -> None:
        self._path_suggester.start_dir = folder

    def resolved(self) -> Path:
        """The path the field names (it may not exist)."""
        return resolve_path(self.value.strip(), self.start_dir)

    def set_path(self, text: str) -> None:
        """Replace the text and put the cursor at its end."""
        self.value = text
        self.cursor_position = len(text)

    def action_end(self, select: bool = False) -> None:
        if not select and self.cursor_at_end and self._suggestion:
            self.set_path(self._suggestion)
            return
        super().action_end(select)

    def action_complete(self) -> None:
        if not self.cursor_at_end or not self.selection.is_empty:
            raise SkipAction()
        completion = complete_path(self.value, self.start_dir)
        if not completion.candidates:
            raise SkipAction()  # nothing to complete: tab keeps its usual meaning and moves focus
        if completion.common != self.value:
            self.set_path(completion.common)
        if len(completion.candidates) > 1 and completion.common == completion.typed:
            self.post_message(self.Choices(self, completion.names))
