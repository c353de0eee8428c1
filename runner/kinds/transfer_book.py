"""What a download must remember between attempts and across server restarts, by the file it saves.

Two records per `save` path: the partial file being written (the URL it is of, the validators of the
representation its bytes came from, the whole length, and how far it got as last recorded), so that a retry,
a resumed pause or a restarted server asks for the rest with `Range` and `If-Range` instead of starting over;
and the last successful fetch (its URL and validators), so that `if_changed` can ask the server whether it has
anything new.

A `TransferBook` is called on a worker thread (the journal's is SQLite: runner.journal.transfers); the
`MemoryBook` here serves an engine without a journal (`--local`, the demo), for as long as it runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from runner.kinds.save_file import remove_left_part
from runner.model import Deck, FetchSpec


@dataclass(frozen=True)
class Validators:
    """What identifies one version of a resource: its ETag and its Last-Modified, as the server sent them."""

    etag: str | None = None
    last_modified: str | None = None

    @property
    def if_range(self) -> str | None:
        """The validator `If-Range` may carry: a strong ETag, else the Last-Modified date (RFC 9110 13.1.5)."""
        if self.etag is not None and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def to_json(self) -> dict[str, Any]:
        return {"etag": self.etag, "last_modified": self.last_modified}

    @classmethod
    def from_json(cls, value: Any) -> Validators:
        value = value if isinstance(value, dict) else {}
        etag, last_modified = value.get("etag"), value.get("last_modified")
        return cls(etag if isinstance(etag, str) else None, last_modified if isinstance(last_modified, str) else None)


@dataclass(frozen=True)
class PartRecord:
    """A partial file that can be continued: whose bytes, of which version, how long the whole is."""

    url: str
    """The job's URL as written (`${VAR}`s unexpanded, so no secret is kept)."""
    validators: Validators
    total: int | None
    offset: int
    """The bytes in the partial file when this was recorded; the file itself may hold more."""

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "validators": self.validators.to_json(), "total": self.total, "offset": self.offset}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PartRecord:
        total = value.get("total")
        return cls(
            url=str(value.get("url")),
            validators=Validators.from_json(value.get("validators")),
            total=total if isinstance(total, int) else None,
            offset=int(value.get("offset") or 0),
        )


@dataclass(frozen=True)
class SavedRecord:
    """The last successful fetch of `url` into a file: its validators, for a conditional request."""

    url: str
    validators: Validators

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "validators": self.validators.to_json()}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SavedRecord:
        return cls(url=str(value.get("url")), validators=Validators.from_json(value.get("validators")))


class TransferBook(Protocol):
    """Where the records are kept, by absolute save path. Called on worker threads; each call is one short
    transaction. A book that cannot be read or written answers None and keeps nothing: a download then starts
    from the first byte, as it would without one."""

    def part(self, save: Path) -> PartRecord | None: ...

    def keep_part(self, save: Path, record: PartRecord) -> None: ...

    def drop_part(self, save: Path) -> None: ...

    def saved(self, save: Path) -> SavedRecord | None: ...

    def keep_saved(self, save: Path, record: SavedRecord) -> None: ...


class MemoryBook:
    """A TransferBook in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[Path, PartRecord] = {}
        self._saved: dict[Path, SavedRecord] = {}

    def part(self, save: Path) -> PartRecord | None:
        with self._lock:
            return self._parts.get(save)

    def keep_part(self, save: Path, record: PartRecord) -> None:
        with self._lock:
            self._parts[save] = record

    def drop_part(self, save: Path) -> None:
        with self._lock:
            self._parts.pop(save, None)

    def saved(self, save: Path) -> SavedRecord | None:
        with self._lock:
            return self._saved.get(save)

    def keep_saved(self, save: Path, record: SavedRecord) -> None:
        with self._lock:
            self._saved[save] = record


def forget_parts(deck: Deck, book: TransferBook | None) -> None:
    """Remove the partial files the deck's downloads kept for a later attempt, and their records (blocking)."""
    out_dir = deck.settings.out_dir
    for spec in deck.jobs:
        work = spec.work
        if isinstance(work, FetchSpec) and work.save is not None and remove_left_part(work.save, out_dir) and book:
            book.drop_part(work.save)
