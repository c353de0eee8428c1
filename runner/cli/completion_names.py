"""`jobdeck __complete KINDS PREFIX [--socket PATH] [--db PATH]`: names for a shell's Tab, one per line.

KINDS is `decks`, `jobs` or both (`decks,jobs`), asked of the running server (the `names` request), or `runs`
(deck names in the journal, for `export`). It never starts a server and never says anything on failure: a
shell's Tab must not print errors. It gives up after ANSWER_S, answering nothing. It speaks the protocol with
the standard library alone (a socket, the framing's encode and decode): importing the client (anyio, the
messages) would cost more than the answer.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from runner.server.framing import HEADER, MAX_MESSAGE_BYTES, decode, encode
from runner.server.protocol_version import PROTOCOL_VERSION

ANSWER_S = 0.5
"""How long the server may take to answer, all told, before the completion gives up: a Tab that waits half a
second is still a Tab, while a server busy with thousands of jobs (or a loaded machine) missed 0.1 s now and then,
and the names were not offered at all."""
LIMIT = 200
KINDS = ("decks", "jobs", "runs")


def complete_command(arguments: Sequence[str]) -> int:
    kind, prefix, socket_path, db = _parse(arguments)
    names: list[str] = []
    kinds = [kind for kind in kind.split(",") if kind in KINDS]
    with contextlib.suppress(Exception):  # a Tab that fails completes nothing, and says nothing
        if kinds == ["runs"]:
            names = journal_names(db, prefix)
        elif kinds and "runs" not in kinds:
            names = server_names(kinds, prefix, socket_path)
    if names:
        print("\n".join(names))
    return 0


def _parse(arguments: Sequence[str]) -> tuple[str, str, Path | None, Path | None]:
    given = list(arguments)
    options: dict[str, Path] = {}
    for option in ("--socket", "--db"):
        if option in given:
            at = given.index(option)
            if at + 1 < len(given):
                options[option] = Path(given[at + 1]).expanduser()
            del given[at : at + 2]
    kind = given[0] if given else ""
    prefix = given[1] if len(given) > 1 else ""
    return kind, prefix, options.get("--socket"), options.get("--db")


def server_names(kinds: Sequence[str], prefix: str, socket_path: Path | None) -> list[str]:
    from runner import paths

    path = socket_path or paths.socket_path()
    deadline = time.monotonic() + ANSWER_S
    names: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(ANSWER_S)
        connection.connect(str(path))
        hello = {"protocol": PROTOCOL_VERSION, "version": "completion"}
        _exchange(connection, {"id": 1, "op": "hello", "args": hello}, deadline)
        for number, kind in enumerate(kinds, start=2):
            args = {"kind": kind, "prefix": prefix, "limit": LIMIT}
            reply = _exchange(connection, {"id": number, "op": "names", "args": args}, deadline)
            listed = reply.get("names")
            names += [str(name) for name in listed] if isinstance(listed, list) else []
    return list(dict.fromkeys(names))


def _exchange(connection: socket.socket, message: dict[str, object], deadline: float) -> dict[str, object]:
    connection.sendall(encode(message))
    (length,) = HEADER.unpack(_read(connection, HEADER.size, deadline))
    if length > MAX_MESSAGE_BYTES:
        raise ValueError("reply too large")
    reply = decode(_read(connection, length, deadline))
    if not reply.get("ok"):
        raise ValueError(str(reply.get("error")))
    result = reply.get("result")
    return result if isinstance(result, dict) else {}


def _read(connection: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        connection.settimeout(left)
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server hung up")
        data += chunk
    return data


def journal_names(db: Path | None, prefix: str) -> list[str]:
    """Deck names in the journal, the most recently loaded first (what `export DECK` takes)."""
    from runner import paths
    from runner.journal.reading import connect_read_only

    connection = connect_read_only(db or paths.journal_path(), timeout=ANSWER_S)
    try:
        rows = connection.execute(
            "SELECT name FROM decks WHERE substr(name, 1, length(?1)) = ?1 GROUP BY name "
            "ORDER BY max(loaded_at) DESC LIMIT ?2",
            (prefix, LIMIT),
        ).fetchall()
    finally:
        connection.close()
    return [str(name) for (name,) in rows]
