"""Dask scheduler addresses as a job file writes them: `[deck] dask = "tcp://host:8786"`, `on = "dask://host:8786"`."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

LOCAL_CLUSTER = "local"
"""`dask = "local"`: a cluster jobdeck starts on this machine."""
DASK_INLINE = "dask://"
"""The prefix of a call's `on` that names its own scheduler."""
SCHEDULER_SCHEMES = ("tcp", "tls")


def scheduler_address(text: str, *, schemes: Sequence[str] = SCHEDULER_SCHEMES) -> tuple[str | None, str | None]:
    """("tcp://host:port", None) for a Dask scheduler address, or (None, what is wrong with it).

    `host:port` alone means tcp; `schemes` are the ones that may be written (none after `dask://`).
    """
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "tcp", text
    elif scheme not in schemes:
        if not schemes:
            return None, "write only host:port after dask://"
        return None, f"{scheme}:// is not a scheduler protocol jobdeck can use (use {' or '.join(schemes)})"
    try:
        parts = urlsplit(f"{scheme}://{rest}")
        port = parts.port
    except ValueError:
        return None, "the port must be a number from 1 to 65535"
    if not parts.hostname or any(char.isspace() for char in rest):
        return None, "it has no host name" if not parts.hostname else "it contains a space"
    if port is None:
        return None, "it has no port (the scheduler's default is 8786)"
    if port == 0:
        return None, "the port must be a number from 1 to 65535"
    if parts.path or parts.query or parts.fragment:
        return None, "a scheduler address is only host:port"
    return f"{scheme}://{parts.netloc}", None
