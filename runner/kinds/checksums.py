"""A fetch's expected digest: the keys that give it (`sha256 = "..."`, `md5`, `sha1`, `sha512`, or `checksum =
"sha256:..."`), checked at load, and the running hash of a body verified as it streams.

The digest is of the body as saved (after any Content-Encoding was undone), the bytes `save` writes: what
`sha256sum FILE` says of the saved file.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass

from runner.deck.problems import did_you_mean
from runner.deck.table import MISSING, Table, describe
from runner.errors import JobError

DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
"""Each algorithm's digest length in hex digits."""
CHECKSUM_KEYS = (*DIGEST_LENGTHS, "checksum")
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True)
class Digest:
    algorithm: str
    hex: str
    """Lower case."""

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """A digest as str() wrote it (FetchSpec.checksum)."""
        algorithm, _, digest = text.partition(":")
        return cls(algorithm, digest)


def read_checksum(table: Table) -> Digest | None:
    """The digest a `[[job]]` table expects, or None; a bad one is reported at its key."""
    given = [key for key in CHECKSUM_KEYS if table.has(key)]
    if len(given) > 1:
        table.report(given[1], f"a fetch has one checksum, but {' and '.join(given)} are given", "keep one of them")
        return None
    if not given:
        return None
    key = given[0]
    value = table.raw(key)
    if value is MISSING:
        return None
    if key == "checksum":
        example = f'checksum = "sha256:{"0" * 8}…"'
        if not isinstance(value, str) or ":" not in value:
            table.report(key, f"must be a string ALGORITHM:HEX, not {describe(value)}", f"e.g. {example}")
            return None
        algorithm, _, digest = value.partition(":")
        algorithm = algorithm.strip().lower()
        if algorithm not in DIGEST_LENGTHS:
            hint = did_you_mean(algorithm, DIGEST_LENGTHS) or f"use one of {', '.join(DIGEST_LENGTHS)}"
            table.report(key, f"{algorithm!r} is not a checksum algorithm jobdeck knows", hint)
            return None
        return _digest(table, key, algorithm, digest)
    if not isinstance(value, str):
        table.report(key, f"must be a string of hex digits, not {describe(value)}", f'e.g. {key} = "{"0" * 8}…"')
        return None
    return _digest(table, key, key, value)


def _digest(table: Table, key: str, algorithm: str, written: str) -> Digest | None:
    digest = written.strip().lower()
    length = DIGEST_LENGTHS[algorithm]
    if not digest or not set(digest) <= _HEX:
        message = f"{written!r} is not {_article(algorithm)} {algorithm} digest: it must be hex digits (0-9, a-f)"
        table.report(key, message, _hint(algorithm))
        return None
    if len(digest) != length:
        other = [name for name, size in DIGEST_LENGTHS.items() if size == len(digest)]
        hint = f"that length is a {other[0]} digest: write {other[0]} = ..." if other else _hint(algorithm)
        table.report(key, f"{_article(algorithm)} {algorithm} digest has {length} hex digits, not {len(digest)}", hint)
        return None
    return Digest(algorithm, digest)


def _article(algorithm: str) -> str:
    return "an" if algorithm == "md5" else "a"


def _hint(algorithm: str) -> str:
    return f"copy all {DIGEST_LENGTHS[algorithm]} hex digits from `{algorithm}sum FILE` or the site's checksum list"


class RunningHash:
    """The hash of a body as its chunks come, compared with what was expected once it is whole."""

    def __init__(self, expected: Digest) -> None:
        import hashlib  # only a fetch with a checksum needs it, not every start-up that reads a deck

        self.expected = expected
        self._hash = hashlib.new(expected.algorithm)

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def update_all(self, chunks: Iterable[bytes]) -> None:
        """Hash bytes already received (a partial file's, read on a worker thread: hashlib lets go of the GIL)."""
        for chunk in chunks:
            self._hash.update(chunk)

    def restart(self) -> None:
        import hashlib

        self._hash = hashlib.new(self.expected.algorithm)

    def check(self, what: str) -> None:
        """JobError (retryable: the next attempt downloads it again) unless the body's digest is the expected one."""
        got = self._hash.hexdigest()
        if got != self.expected.hex:
            raise JobError(
                f"{self.expected.algorithm} mismatch for {what}: expected {self.expected.hex}, got {got}",
                retryable=True,
            )
