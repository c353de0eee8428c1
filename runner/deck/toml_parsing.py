"""TOML text to Python values: rtoml (Rust) for speed where it is known to agree with tomllib, tomllib otherwise.

tomllib is the authority. rtoml refuses what tomllib refuses (the deck tests' syntax messages come from tomllib),
except for a few TOML 1.1 additions it accepts: inline tables over several lines or with a trailing comma, the
`\\e` and `\\x` escapes, times without seconds. It also gives offset date-times its own tzinfo class. A text that
might use any of these (a cheap, deliberately over-eager search) goes to tomllib, as does any text rtoml refuses,
so that the user sees tomllib's message, or tomllib's values where rtoml is stricter (`1e1000` is inf).
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

try:
    import rtoml
except ImportError:  # pragma: no cover - rtoml is a dependency; without it, loading is only slower
    rtoml = None

# Each searched on its own: one pattern of alternatives starting with character classes is 100x slower.
_MAYBE_NOT_TOML_1_0 = (
    re.compile(r"\\[ex]"),  # an escape TOML 1.0 does not have (or a harmless `\x` in a literal string)
    re.compile(r"\{[^}\n]*\n"),  # an inline table that may go on over the next line
    re.compile(r",\s*\}"),  # an inline table that may end with a comma
)
_MINUTES = re.compile(r":\d\d")


def _maybe_not_toml_1_0(text: str) -> bool:
    if any(pattern.search(text) for pattern in _MAYBE_NOT_TOML_1_0):
        return True
    # A time or date-time (hh:mm): rtoml may accept one without seconds, and its tzinfo differs. A URL's
    # `host:8080` has no digits before the colon, so most decks with ports still take the fast path.
    return any(text[match.start() - 2 : match.start()].isdigit() for match in _MINUTES.finditer(text))


def parse_toml(text: str) -> dict[str, Any]:
    """The TOML document `text`; raises tomllib.TOMLDecodeError exactly as `tomllib.loads` would."""
    if rtoml is not None and not _maybe_not_toml_1_0(text):
        try:
            return rtoml.loads(text)
        except rtoml.TomlParsingError:  # rtoml refuses it: tomllib says why, or reads what rtoml will not (1e1000)
            pass
    return tomllib.loads(text)


def fast_parser_applies(text: str) -> bool:
    """Whether `parse_toml` would try rtoml first on `text` (for tests)."""
    return rtoml is not None and not _maybe_not_toml_1_0(text)
