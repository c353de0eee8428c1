"""Bounded previews of what a reply carries, so that no one value (a 200 MB result, a megabyte-long output line
or error) can make a reply too large for a frame.

Sizes are counted as the wire counts them: bytes of JSON as `runner.server.framing` encodes it. Texts are cut
by their ASCII JSON (a non-ASCII character may cost six bytes there), which is never shorter than the wire's:
a cut text fits. A value cut to a preview says so, and how large it was in all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runner.server.framing import json_payload

RESULT_PREVIEW_BYTES = 4 * 1024
"""A job's result whose JSON is longer than this travels as a preview string of its first bytes."""
LINE_BYTES = 16 * 1024
"""A spec value, a job's name or a deck's path longer than this is cut."""
OUTPUT_LINE_BYTES = 64 * 1024
"""An output line longer than this is cut (the engine keeps 4,000 characters of a line: at most 48 KiB)."""
JOB_BYTES = 256 * 1024
"""A job's wire view larger than this (long texts in many attempts, say) has every text in it cut further."""
SHRUNK_TEXT_BYTES = 1024
LISTED_ITEMS = 50
"""How many items of a long list (a job's attempts, a deck's problems) a shrunk view keeps."""


def json_bytes(value: Any) -> int:
    """How many bytes `value` takes as the wire's JSON."""
    return len(json_payload(value))


def head(text: str, limit: int) -> str:
    """The longest start of `text` whose JSON takes at most `limit` bytes."""
    return _fit(text, limit, from_end=False)


def tail(text: str, limit: int) -> str:
    """The longest end of `text` whose JSON takes at most `limit` bytes."""
    return _fit(text, limit, from_end=True)


def _fit(text: str, limit: int, *, from_end: bool) -> str:
    # At most 6 bytes per character (\uXXXX), at least 1: cut to `limit` characters, then by halves of the
    # excess until the JSON fits. Only the kept part is ever encoded, so a huge text costs no huge copy.
    kept = text[-limit:] if from_end else text[:limit]
    while len(json.dumps(kept)) - 2 > limit:
        excess = len(json.dumps(kept)) - 2 - limit
        cut = max(1, excess // 6 if excess >= 6 else excess)
        kept = kept[cut:] if from_end else kept[: len(kept) - cut]
    return kept


def cut_text(text: str | None, limit: int, *, keep_end: bool = False) -> str | None:
    """`text`, or when its JSON is over `limit` bytes a part of it that fits with a note of what was cut: the
    end for errors and tracebacks (their ends say most), else the start."""
    if text is None or len(text) * 6 + 2 <= limit or len(json.dumps(text)) - 2 <= limit:
        return text
    note_room = 64
    if keep_end:
        kept = tail(text, limit - note_room)
        return f"… ({len(text) - len(kept)} of {len(text)} characters cut)\n{kept}"
    kept = head(text, limit - note_room)
    return f"{kept}… ({len(text) - len(kept)} of {len(text)} characters cut)"


def preview_result(value: Any, limit: int = RESULT_PREVIEW_BYTES) -> tuple[Any, int | None]:
    """A JSON-safe result as a reply carries it: `(value, None)` when its JSON fits in `limit` bytes, else
    `(preview, size)`: a string of its JSON's first bytes that says the full `size` (in bytes of JSON)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value, None
    if isinstance(value, str):
        if len(value) * 6 + 2 <= limit:
            return value, None
        size = len(json.dumps(value))
        if size <= limit:
            return value, None
        return f"{head(value, limit - 64)}… (a text of {size} bytes of JSON)", size
    encoded = json.dumps(value, separators=(",", ":"))
    if len(encoded) <= limit:
        return value, None
    return f"{head(encoded, limit - 64)}… ({len(encoded)} bytes of JSON)", len(encoded)


def shrink(value: Any, text_limit: int = SHRUNK_TEXT_BYTES, items: int = LISTED_ITEMS) -> Any:
    """A copy of a JSON value with every text cut to `text_limit` bytes and every list to its last `items`:
    the last resort for a view that is still too large after each field was cut on its own."""
    if isinstance(value, str):
        return cut_text(value, text_limit)
    if isinstance(value, list):
        return [shrink(item, text_limit, items) for item in value[-items:]]
    if isinstance(value, dict):
        return {key: shrink(item, text_limit, items) for key, item in value.items()}
    return value


def take_page(rows: Sequence[Any], start: int, budget: int) -> tuple[list[Any], int | None]:
    """The rows from number `start` on whose JSON fits in `budget` bytes (at least one), and the number of the
    next row (None: none left)."""
    page: list[Any] = []
    size = 0
    for number in range(max(start, 0), len(rows)):
        size += json_bytes(rows[number])
        if page and size > budget:
            return page, number
        page.append(rows[number])
    return page, None
