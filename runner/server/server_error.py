"""The error a client of the server raises: a module of its own, so that catching it costs no import of the
client and its messages (80 ms: a local dashboard catches it without ever talking to a server)."""

from __future__ import annotations

from typing import Any


class ServerError(Exception):
    """The server answered with an error, or could not be reached; `kind` says which."""

    def __init__(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}
