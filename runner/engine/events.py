"""What the engine tells its observers, and the hub that fans events out to any number of them."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from runner.model import JobState


@dataclass(frozen=True)
class DeckLoaded:
    deck: str
    path: str
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class JobsAdded:
    """Jobs added to a deck already loaded (`jobdeck add`), queued at the end of it."""

    deck: str
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class StateChanged:
    job_id: str
    old: JobState
    new: JobState
    attempt: int
    error: str | None = None
    output_at: int = 0
    """How many lines the job had written when it changed (the server's event streams tell those first)."""


@dataclass(frozen=True)
class ProgressChanged:
    job_id: str
    done: float
    total: float | None
    unit: str


@dataclass(frozen=True)
class OutputAdded:
    job_id: str
    stream: str
    text: str


@dataclass(frozen=True)
class DispatchChanged:
    dispatching: bool


Event = DeckLoaded | JobsAdded | StateChanged | ProgressChanged | OutputAdded | DispatchChanged


class ChangeLogEntry(NamedTuple):
    """One change of state in the engine's change log (`Engine.take_changes`), the cheap alternative to a
    StateChanged event for an observer that must see every change (the journal). A tuple underneath: the
    journal stores each as a JSON array of these fields, in this order."""

    job_id: str
    old: JobState
    new: JobState
    attempt: int
    """The job's attempt number when the change was made (0 before its first attempt)."""
    error: str | None
    at: float
    """time.time() of the change."""


log_entry = partial(tuple.__new__, ChangeLogEntry)
"""`log_entry((job_id, old, new, attempt, error, at))`: a ChangeLogEntry made at C speed (the NamedTuple
constructor is a Python function, and the engine makes one per change of state)."""


class Subscription:
    """One observer's stream of events, in the order they happened. Iterate it; `close()` when done."""

    def __init__(self, hub: EventHub, receive: MemoryObjectReceiveStream[Event]) -> None:
        self._hub = hub
        self._receive = receive

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._receive.__aiter__()

    async def receive(self) -> Event:
        return await self._receive.receive()

    def receive_nowait(self) -> Event:
        return self._receive.receive_nowait()

    def close(self) -> None:
        self._hub.unsubscribe(self)
        self._receive.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventHub:
    """Delivers every published event to every subscriber without ever blocking the publisher.

    Buffers are unbounded so a slow observer cannot stall the engine; an observer that falls far behind
    can resynchronise from the engine's revision counter instead of replaying events.
    """

    def __init__(self) -> None:
        self._senders: dict[Subscription, MemoryObjectSendStream[Event]] = {}

    def subscribe(self) -> Subscription:
        send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=math.inf)
        subscription = Subscription(self, receive)
        self._senders[subscription] = send
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        send = self._senders.pop(subscription, None)
        if send is not None:
            send.close()

    @property
    def has_subscribers(self) -> bool:
        return bool(self._senders)

    def publish(self, event: Event) -> None:
        for subscription, send in list(self._senders.items()):
            try:
                send.send_nowait(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.unsubscribe(subscription)

    def close(self) -> None:
        for subscription in list(self._senders):
            self.unsubscribe(subscription)
