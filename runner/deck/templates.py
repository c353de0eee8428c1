"""Templates in job files: `{item}` filled in per fan-out item at load, `${VAR}` expanded only when work is sent.

`${VAR}` templates stay unexpanded in specs; `expand_env` fills them in when a request is actually sent, so
secrets never sit in specs or messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from runner.model import item_text

ITEM: Final = "{item}"
NO_ITEM: Any = object()
"""The item of a job that is not part of a fan-out: templates are left as written."""

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_references(template: str) -> list[str]:
    """The names of the `${NAME}` variables a template uses, in order of first use."""
    if "${" not in template:  # most templates use none; skip the regex
        return []
    return list(dict.fromkeys(ENV_REFERENCE.findall(template)))


def expand_env(template: str, environ: Mapping[str, str]) -> str:
    """Replace each `${NAME}` in `template` by the variable's value.

    Raises KeyError naming the first variable that is not set in `environ` (load_deck has already refused
    decks that use unset variables, so this only happens when the environment changed since).
    """
    if "${" not in template:
        return template
    return ENV_REFERENCE.sub(lambda match: environ[match.group(1)], template)


def fill_text(text: str, item: Any) -> str:
    # str.replace, not str.format: shell commands and bodies are full of braces (awk '{print $1}', JSON).
    if item is NO_ITEM or ITEM not in text:
        return text
    return text.replace(ITEM, item_text(item))


def fill_value(value: Any, item: Any) -> Any:
    """Substitute the item into call arguments; an argument that is exactly "{item}" gets the item itself."""
    if item is NO_ITEM:
        return value
    if isinstance(value, str):
        return item if value == ITEM else fill_text(value, item)
    if isinstance(value, list):
        return [fill_value(element, item) for element in value]
    if isinstance(value, dict):
        return {key: fill_value(element, item) for key, element in value.items()}
    return value
