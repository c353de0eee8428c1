"""Values as JSON can carry them: the one rule for what a job's result or fan-out item becomes in the `--json`
report, in the journal and on the wire. A value JSON carries unchanged stays itself; any other value (a set, an
object, NaN) becomes its repr, a string."""

from __future__ import annotations

import json
from typing import Any

_PLAIN_TYPES = frozenset({str, int, bool, type(None)})
"""Types JSON always carries unchanged (a float may be NaN or infinite, so it is not among them)."""


def json_safe(value: Any) -> Any:
    """The value itself when JSON carries it unchanged, else its repr."""
    if type(value) in _PLAIN_TYPES:
        return value
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)
    return value


def json_safe_text(value: Any) -> str:
    """`json_safe(value)` as JSON text, encoded once instead of twice."""
    if type(value) is int:
        return str(value)
    if value is None:
        return "null"
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(value))
