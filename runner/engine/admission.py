"""Whether a job taken from its lane may start now: the server-wide limits of the config file, and its host's.

A job turned away does not run and holds no place in its lane: it stays queued, its note saying why (`host
busy`, `pacing`, ...), and waits with its host (or limit) until a connection ends or its pacing time comes;
then it is offered to its lane again, in the order it was turned away. What a started job holds is given back
when its attempt ends (`release`), so that the next one may go.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio

from runner.config.user_config import NO_CONFIG, UserConfig
from runner.deck.templates import expand_env
from runner.hosts.bandwidth import UNTHROTTLED, ByteBucket, Throttle
from runner.hosts.gate import HostGate, host_of
from runner.hosts.waiting import SERVER_LIMIT, WAITING_NOTES
from runner.hosts.waiting_line import WaitingLine
from runner.model import NO_HOST_LIMITS, FetchSpec, HostLimits, Job, JobState, Settings
from runner.pausing import PauseControl


@dataclass(slots=True)
class _Held:
    slot: str | None
    gate: HostGate | None
    interval: float | None = None


class Admission:
    """The engine's gatekeeper. `offer(job)` gives a waiting job back to its lane, `lane_of(job)` names that
    lane; `touched(job)` tells the engine that a job's note changed; `start_soon` runs a timer in the engine's
    task group."""

    def __init__(
        self,
        config: UserConfig = NO_CONFIG,
        *,
        offer: Callable[[Job], None],
        lane_of: Callable[[Job], object],
        touched: Callable[[Job], None],
        start_soon: Callable[..., None],
    ) -> None:
        self.config = config
        self._offer = offer
        self._lane_of = lane_of
        self._touched = touched
        self._start_soon = start_soon
        self._hosts: dict[str, HostGate] = {}
        self._running: Counter[str] = Counter()
        """Jobs running by lane key, for the lanes the config file caps."""
        self._slot_waiting: dict[str, WaitingLine] = {}
        self._held: dict[str, _Held] = {}
        self._deck_buckets: dict[str, ByteBucket] = {}
        self._offering: Job | None = None
        self._offered_started = False

    @property
    def caps_lanes(self) -> bool:
        """Whether the config file caps any lane across decks (else `admit` needs no lane key)."""
        return bool(self.config.server_limits)

    # --- starting and ending ---------------------------------------------------------------------------------

    def admit(self, job: Job, slot: str | None, settings: Settings, environ: Mapping[str, str]) -> bool:
        """True: the job may start now, and holds its place until `release`. False: it waits (its note says why)
        and is offered to its lane again later."""
        capped = slot if slot is not None and slot in self.config.server_limits else None
        if capped is not None and self._running[capped] >= self.config.server_limits[capped]:
            self._wait(job, SERVER_LIMIT, self._slot_waiting.setdefault(capped, WaitingLine()))
            return False
        gate = self._gate_of(job, environ) if isinstance(job.spec.outline, FetchSpec) else None
        limits = NO_HOST_LIMITS
        if gate is not None:
            limits = self._limits(job, settings, gate)
            now = time.monotonic()
            refusal = gate.refusal(limits, now)
            if refusal is not None:
                reason, wake_at = refusal
                self._wait(job, reason, gate.waiting)
                if wake_at is not None:
                    self._wake_at(gate, wake_at)
                return False
            gate.start(limits, now)
        if capped is not None:
            self._running[capped] += 1
        if gate is not None or capped is not None:
            self._held[job.id] = _Held(capped, gate, limits.interval)
        if job.note in WAITING_NOTES:
            job.note = None
        if job is self._offering:
            self._offered_started = True
        return True

    def release(self, job: Job) -> None:
        """The job's attempt ended: its connection and its place under a server-wide limit are free again."""
        held = self._held.pop(job.id, None)
        if held is None:
            return
        if held.slot is not None:
            self._running[held.slot] -= 1
            self._offer_waiting(self._slot_waiting.get(held.slot))
        gate = held.gate
        if gate is not None:
            gate.end()
            self._offer_waiting(gate.waiting)
            if gate.idle and gate.wake_at is None:
                self._hosts.pop(gate.name, None)

    def pause_host(self, job: Job, seconds: float) -> None:
        """The job's host asked (Retry-After) to be left alone for `seconds`: no request to it starts until then."""
        held = self._held.get(job.id)
        if held is not None and held.gate is not None:
            held.gate.pause_for(seconds)

    def throttle(self, job: Job, settings: Settings, pause: PauseControl) -> Throttle:
        """What the job's body is paid from: its deck's bandwidth and its host's, as far as they are limited."""
        if not isinstance(job.spec.outline, FetchSpec):
            return UNTHROTTLED
        buckets = []
        deck_rate = settings.host_limits.bandwidth
        if deck_rate is not None:
            bucket = self._deck_buckets.get(job.deck)
            if bucket is None or bucket.rate != deck_rate:
                bucket = self._deck_buckets[job.deck] = ByteBucket(deck_rate)
            buckets.append(bucket)
        held = self._held.get(job.id)
        gate = held.gate if held is not None else None
        if gate is not None and gate.bandwidth is not None:
            buckets.append(gate.bandwidth)
        interval = held.interval if held is not None else None
        if gate is None or not interval:
            return Throttle(buckets, pause) if buckets else UNTHROTTLED
        return Throttle(buckets, pause, lambda: gate.paced_from(time.monotonic(), interval))

    def forget_deck(self, deck: str) -> None:
        self._deck_buckets.pop(deck, None)

    # --- hosts -----------------------------------------------------------------------------------------------

    def _gate_of(self, job: Job, environ: Mapping[str, str]) -> HostGate | None:
        spec = job.spec.work
        assert isinstance(spec, FetchSpec)
        try:
            url = expand_env(spec.url, environ)
        except KeyError:
            return None  # the attempt fails saying which variable is not set
        where = host_of(url)
        if where is None:
            return None
        name = f"{where[0]}:{where[1]}"
        gate = self._hosts.get(name)
        if gate is None:
            limits = self.config.host_limits(*where)
            bucket = ByteBucket(limits.bandwidth) if limits.bandwidth is not None else None
            gate = self._hosts[name] = HostGate(name, limits, bucket)
        return gate

    @staticmethod
    def _limits(job: Job, settings: Settings, gate: HostGate) -> HostLimits:
        """Job over deck over the config file's table for the host over its defaults."""
        spec = job.spec.work
        assert isinstance(spec, FetchSpec)
        own = spec.host_limits or NO_HOST_LIMITS
        return own.over(settings.host_limits.over(gate.limits))

    # --- waiting ---------------------------------------------------------------------------------------------

    def _wait(self, job: Job, reason: str, line: WaitingLine) -> None:
        # Offered and turned away again, a job keeps its turn.
        line.add(job, id(self._lane_of(job)), first=job is self._offering)
        if job.note != reason:
            job.note = reason
            self._touched(job)

    def _offer_waiting(self, line: WaitingLine | None) -> None:
        """Offer the waiting jobs to their lanes, each lane's in turn, until one is turned away again.

        A job whose lane is full stays in that lane and starts when it has room; the rest of that lane's line
        keep waiting here meanwhile (offered too, they would only be turned away again and again)."""
        if not line:
            return
        for lane in line.lanes():
            while (job := line.pop(lane)) is not None:
                if job.state is not JobState.QUEUED or job.note not in WAITING_NOTES:
                    continue  # paused, cancelled or offered again since
                job.note = None
                self._touched(job)
                self._offering, self._offered_started = job, False
                try:
                    self._offer(job)
                finally:
                    self._offering = None
                if line.first(lane) is job:
                    return  # turned away again: its host (or limit) is full
                if not self._offered_started:
                    break  # its lane is full: it goes when that lane has room

    def _wake_at(self, gate: HostGate, when: float) -> None:
        if gate.wake_at is not None and gate.wake_at <= when:
            return
        gate.wake_at = when
        self._start_soon(self._wake, gate, when)

    async def _wake(self, gate: HostGate, when: float) -> None:
        await anyio.sleep(max(0.0, when - time.monotonic()))
        if gate.wake_at != when:
            return  # an earlier timer took over
        gate.wake_at = None
        self._offer_waiting(gate.waiting)
        if gate.idle:
            self._hosts.pop(gate.name, None)
