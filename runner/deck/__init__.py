"""Job files (TOML) in, a validated `Deck` out; or a `DeckError` that lists every problem with its line.

```toml
[deck]
name = "nightly"

[[job]]
name = "page"
fetch = "https://example.org/page/{item}"
headers = { Authorization = "Bearer ${TOKEN}" }
each = [1, 2, 3]
```

Nothing here imports user code or touches the network. The modules, bottom up: `templates` (`{item}` and
`${VAR}`), `reading` (the file), `toml_parsing` (rtoml where it agrees with tomllib, else tomllib), `lines`
(where tables and keys are), `problems`, `lookalikes` (keys from other tools), `table` (typed getters),
`dask_address`, `settings` (`[deck]`), `cycles`, and `parser`: `load_deck` and the `[[job]]` tables, each
kind's keys read by that kind (runner.kinds.registry).

Its public names load on first use: the kinds (runner.kinds) read their keys with this package's lower
modules, and the parser asks the kinds, so importing `runner.deck.table` must not import the parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.deck.dask_address import LOCAL_CLUSTER, scheduler_address
    from runner.deck.parser import load_deck, parse_deck
    from runner.deck.templates import env_references, expand_env

_HOMES = {
    "LOCAL_CLUSTER": "runner.deck.dask_address",
    "env_references": "runner.deck.templates",
    "expand_env": "runner.deck.templates",
    "load_deck": "runner.deck.parser",
    "parse_deck": "runner.deck.parser",
    "scheduler_address": "runner.deck.dask_address",
}

__all__ = ["LOCAL_CLUSTER", "env_references", "expand_env", "load_deck", "parse_deck", "scheduler_address"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'runner.deck' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
