"""A call's `env` on a worker process: set in os.environ for the call, and put back as it was afterwards.

A worker runs one call at a time and outlives it, so the next call must find the environment the worker
started with. Imports stay light: process workers use this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def variables_set(env: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block with `env` set in os.environ (and so in the child processes it starts)."""
    if not env:
        yield
        return
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
