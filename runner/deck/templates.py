"""Templates in job files: `{item}` filled in per fan-out item at load, `${VAR}` expanded only when work is sent.

`${VAR}` templates stay unexpanded in specs; `expand_env` fills them in when a request is actually sent, so
secrets never sit in specs or messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from runner.model import item_text
from runner.spelling import closest

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


ITEM_FIELD = re.compile(r"\{item((?:\.\w+)+)\}")
"""`{item.url}`, `{item.a.b}`: a field of a table item."""


def fill_text(text: str, item: Any) -> str:
    # str.replace, not str.format: shell commands and bodies are full of braces (awk '{print $1}', JSON).
    if item is NO_ITEM or "{item" not in text:
        return text
    if isinstance(item, dict) and "{item." in text:
        text = ITEM_FIELD.sub(lambda match: _field_text(item, match), text)
    return text.replace(ITEM, item_text(item))


def _field_text(item: dict[str, Any], match: re.Match[str]) -> str:
    value = field_value(item, match.group(1)[1:])
    return match.group(0) if value is MISSING_FIELD else item_text(value)


MISSING_FIELD: Any = object()


def field_value(item: Any, path: str) -> Any:
    """The field `path` (`url`, `a.b`) of a table item, or MISSING_FIELD."""
    for name in path.split("."):
        if not isinstance(item, dict) or name not in item:
            return MISSING_FIELD
        item = item[name]
    return item


def item_fields(text: str) -> list[str]:
    """The fields (`url`, `a.b`) of the item a text names, in order of first use."""
    if "{item." not in text:
        return []
    return list(dict.fromkeys(match.group(1)[1:] for match in ITEM_FIELD.finditer(text)))


def fill_value(value: Any, item: Any) -> Any:
    """Substitute the item into call arguments; an argument that is exactly "{item}" gets the item itself (and
    exactly "{item.url}" that field of a table item, whatever its type)."""
    if item is NO_ITEM:
        return value
    if isinstance(value, str):
        if value == ITEM:
            return item
        if isinstance(item, dict) and value.startswith("{item.") and ITEM_FIELD.fullmatch(value):
            found = field_value(item, value[6:-1])
            return value if found is MISSING_FIELD else found
        return fill_text(value, item)
    if isinstance(value, list):
        return [fill_value(element, item) for element in value]
    if isinstance(value, dict):
        return {key: fill_value(element, item) for key, element in value.items()}
    return value


# --- placeholders that will not be filled in --------------------------------------------------------------------

_BRACED_NAME = re.compile(r"(?<!\$)\{\s*([A-Za-z_]\w*(?:\.\w+|\[[^\[\]{}]*\])*)\s*\}")
"""A name in braces (`{itme}`, `{item.name}`, `{ item }`, `{id}`), not a `${VAR}` reference."""
_DOUBLED = "{" + ITEM + "}"


@dataclass(frozen=True)
class TemplateText:
    """A text of a job that `{item}` is filled into, and the key it is written at."""

    key: str
    text: str
    braces_are_placeholders: bool = False
    """Braces in this text can only have been meant as a placeholder (a URL cannot hold them)."""


def placeholder_problems(template: TemplateText, *, in_fan_out: bool, tables: bool = False) -> list[tuple[str, str]]:
    """(message, hint) for each placeholder in the text that will not be filled in as its writer meant: a
    misspelt `{item}`, a field of an item where items are plain values (`tables`: they may be tables), doubled
    braces, any other name in braces where braces can only be a placeholder, and `{item}` in a job without
    `each`."""
    text = template.text
    if "{" not in text:
        return []
    found: list[tuple[str, str]] = []
    if (ITEM in text or "{item." in text) and not in_fan_out:
        found.append((f"{ITEM} is filled in only for the items of each, and this job has no each", _ADD_EACH))
    if _DOUBLED in text:
        found.append(
            (f"{_DOUBLED} has a pair of braces too many: the outer pair would stay in the text", f"write {ITEM}")
        )
    for match in _BRACED_NAME.finditer(text):
        written, name = match.group(0), match.group(1)
        if written == ITEM or (tables and in_fan_out and ITEM_FIELD.fullmatch(written)):
            continue
        problem = _not_a_placeholder(written, name, template)
        if problem is not None and problem not in found:
            found.append(problem)
    return found


_ADD_EACH = f"add each = [...] with the values to run one job per item, or remove {ITEM}"


def _not_a_placeholder(written: str, name: str, template: TemplateText) -> tuple[str, str] | None:
    base = re.split(r"[.\[]", name, maxsplit=1)[0]
    message = f"{written} is not a placeholder: jobdeck fills in only {ITEM}"
    if base == "item" and base != name:
        return message, f"items are plain strings, numbers or booleans, not tables: write {ITEM}"
    if base.casefold() == "item" or closest(base, ["item"]) is not None:
        return message, f"did you mean {ITEM}?"
    if template.braces_are_placeholders:
        return f"{message}, and braces in a URL are sent as %7B and %7D", f"write {ITEM} and list the values in each"
    return None
