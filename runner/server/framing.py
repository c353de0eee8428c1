"""Frames on the server's socket: a 4-byte big-endian length, then that many bytes of UTF-8 JSON (one object).

A length prefix lets the reader refuse an oversized message before reading (or buffering) any of it, and a
garbage prefix simply reads as a huge or invalid length, so a hostile peer costs at most one small read;
newline-delimited JSON would have to buffer up to the limit while looking for the newline.
"""

from __future__ import annotations

import json
import re
import struct
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # anyio is imported when a stream is used: `jobdeck __complete` frames without it, in a hurry
    from anyio.abc import ByteSendStream
    from anyio.streams.buffered import BufferedByteReceiveStream

MAX_MESSAGE_BYTES = 1024 * 1024
"""A frame longer than this is refused with a `too_large` error and the connection is closed."""
HEADER = struct.Struct(">I")
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


class ProtocolError(Exception):
    """A message that breaks the protocol; `fatal` ones close the connection after the error is sent."""

    def __init__(self, kind: str, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.fatal = fatal


def json_payload(value: Any) -> bytes:
    """`value` as the wire's JSON. orjson writes it several times faster than json: a server's updates carry
    every changed job to every dashboard, 20 times a second. orjson writes UTF-8 where json writes ASCII
    escapes, never more bytes, and NaN as null; what it refuses (integers beyond 64 bits, keys that are not
    strings) goes through json, as before."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def encode(message: dict[str, Any]) -> bytes:
    payload = json_payload(message)
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message too large ({len(payload)} bytes; the limit is {MAX_MESSAGE_BYTES})")
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> dict[str, Any]:
    try:
        message = _parse(payload)
    except (UnicodeDecodeError, ValueError) as bad:
        raise ProtocolError("bad_message", f"message is not UTF-8 JSON: {bad}") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", "message is not a JSON object")
    return message


def _parse(payload: bytes) -> Any:
    """orjson reads a dashboard's updates several times faster than json, but reads an integer beyond 64 bits
    as a float: a message with a run of 19 digits (a result of 2**70 or -2**63 - 1, or a long number in a
    text) and one orjson refuses (a lone surrogate's escape, which json writes) are read by json."""
    if _LONG_DIGITS.search(payload) is None:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return json.loads(payload.decode())


async def send_message(stream: ByteSendStream, message: dict[str, Any]) -> None:
    await stream.send(encode(message))


async def receive_message(stream: BufferedByteReceiveStream) -> dict[str, Any]:
    """The next message.

    Raises anyio.EndOfStream when the peer hung up between messages (the normal end of a conversation),
    anyio.IncompleteRead when it hung up in the middle of one, and a fatal ProtocolError when the frame is
    too large (its payload is never read)."""
    import anyio

    try:
        header = await stream.receive_exactly(HEADER.size)
    except anyio.IncompleteRead:
        if not stream.buffer:
            raise anyio.EndOfStream from None
        raise
    (length,) = HEADER.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "too_large", f"message too large ({length} bytes; the limit is {MAX_MESSAGE_BYTES})", fatal=True
        )
    return decode(await stream.receive_exactly(length))
