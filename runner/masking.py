"""Secrets masked the way CI systems mask them: every value a deck's `${VAR}` references expand to is replaced
by `***` in whatever jobdeck keeps or shows of its jobs (errors, tracebacks, results, output lines).

The engine masks at the one place these texts enter a job, so the journal, the server's replies, `--json`
reports and the dashboard only ever see masked text. A deck's secrets are the values of the variables its jobs
reference as `${NAME}` (in a fetch's URL, headers or body, a shell command, a call's arguments), set in the
environment the deck runs with. Values shorter than MIN_SECRET_CHARS are not masked (see there), nor a value that
is only a web address's scheme, host and port (`http://127.0.0.1:8080`, see `is_bare_origin`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from runner.deck.templates import ENV_REFERENCE
from runner.model import Deck, WorkSpec
from runner.redaction import REDACTED

MIN_SECRET_CHARS = 6
"""Shorter values are left alone. Values such as "1", "true", "false", "prod", "8080" or "en_US" are settings,
not secrets, and masking them would garble ordinary text (every "1" in every output line); a secret of five
characters or fewer can be guessed anyway, so masking it would protect little while hiding much."""


class SecretMask:
    """Replaces each of a set of secret values, and the forms it takes in a URL, by `***`."""

    forms: frozenset[str]
    _pattern: re.Pattern[str] | None

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in values:
            forms.update(_forms(value))
        self._set_forms(frozenset(forms))

    def _set_forms(self, forms: frozenset[str]) -> None:
        self.forms = forms
        # Longest first, so that a secret containing another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def adding(self, values: Iterable[str]) -> SecretMask:
        """This mask with these values too (jobs added to a deck bring the values of their own `${NAME}`s)."""
        added = SecretMask(values).forms - self.forms
        if not added:
            return self
        joined = SecretMask()
        joined._set_forms(self.forms | added)
        return joined

    def text(self, text: str) -> str:
        """`text` with every secret replaced by `***`."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def optional_text(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def value(self, value: Any) -> Any:
        """A job's result with the secrets in its strings masked (in dicts and lists, keys too)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(key): self.value(element) for key, element in value.items()}
        if isinstance(value, list):
            return [self.value(element) for element in value]
        if isinstance(value, tuple):
            return tuple(self.value(element) for element in value)
        return value


NO_SECRETS = SecretMask()


def is_bare_origin(value: str) -> bool:
    """Whether `value` is nothing but where web requests go: `https://host:port`, without a user, password, path
    or query. That is no secret (every proxy, DNS and server log on the way has it), and masking it would hide
    where a fetch went: `***/status/404`. Anything more in the value (a token in its path or query) keeps it masked."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return (
        parts.scheme.lower() in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment)
        and "?" not in value
        and "#" not in value
    )


def _forms(value: str) -> set[str]:
    """The value and the forms it takes in a URL, if it is long enough to be a secret; a value of several lines
    also line by line (the long enough ones), as output arrives a line at a time."""
    forms: set[str] = set()
    if is_bare_origin(value):
        return forms
    if len(value.strip()) >= MIN_SECRET_CHARS:
        forms.update({value, value.strip(), quote(value, safe=""), quote(value), quote_plus(value)})
    if "\n" in value:
        forms.update(line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_SECRET_CHARS)
    return forms


def deck_secret_mask(deck: Deck, environ: Mapping[str, str]) -> SecretMask:
    """The mask of a deck: the values, in `environ`, of the variables its jobs reference as `${NAME}`."""
    names = referenced_names(deck)
    return SecretMask(environ[name] for name in sorted(names) if name in environ)


def referenced_names(deck: Deck) -> set[str]:
    """The names of the `${NAME}` variables the deck's jobs (and its hooks) use.

    The jobs of a fan-out differ only where `{item}` was filled in, so only its first job is read, and any
    other whose item is text with a `$` in it (the only way an item can add a reference).
    """
    names: set[str] = set()
    groups_read: set[str] = set()
    for spec in deck.jobs:
        group = spec.group
        if group is not None:
            if group in groups_read:
                item = spec.item
                if not (isinstance(item, str) and "$" in item):
                    continue
            else:
                groups_read.add(group)
        _collect_names(spec.work, names)
        _collect_names(spec.on_failure, names)
    settings = deck.settings
    _collect_names((settings.on_success, settings.on_failure, settings.on_finish), names)
    return names


def _collect_names(value: Any, names: set[str]) -> None:
    if isinstance(value, str):
        if "${" in value:
            names.update(ENV_REFERENCE.findall(value))
    elif isinstance(value, dict):
        for key, element in value.items():
            _collect_names(key, names)
            _collect_names(element, names)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for element in value:
            _collect_names(element, names)
    elif isinstance(value, WorkSpec) and is_dataclass(value):
        for field in fields(value):
            _collect_names(getattr(value, field.name), names)
