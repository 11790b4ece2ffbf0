"""The asyncio side of a service: its consumer loops, heartbeats and the counters behind /status."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from logos import __version__
from logos.auth import Authenticator
from logos.bus import BackendUnavailable, Bus, ConsumerStats, Delivery, GroupInfo, Handler, Refused
from logos.contracts import Bar, Message, ServiceState, ServiceStatus
from logos.live.bar_guard import BarGuard
from logos.secrets import SecretMissing
from services.runtime.causal import CausalInbox, CausalOrder
from services.runtime.errors import StartupRefused
from services.runtime.session_identity import check_worker
from services.runtime.settings import ServiceSettings

log = logging.getLogger("logos.worker")


@dataclass(frozen=True)
class Subscription:
    """One consumer group of the service: the streams it reads and the handler for each message."""

    group: str
    streams: Sequence[str]
    handler: Handler


@dataclass
class GroupLoad:
    """A subscription's backlog on its streams, refreshed with every heartbeat."""

    group: str
    infos: list[GroupInfo] = field(default_factory=list)


class ServiceWorker:
    """Base of every service's worker; a subclass names its service and its subscriptions."""

    service: ClassVar[str]
    # the keys (logos.secrets names) this service signs its entries with and checks others' entries with
    signs: ClassVar[tuple[str, ...]] = ()
    verifies: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        self.settings = settings
        self.bus = self.authenticated(bus)
        self.names = bus.names
        self.instance = settings.instance or self.service
        self.started_monotonic = time.monotonic()
        self.published: dict[str, int] = {}
        self.stats: dict[str, ConsumerStats] = {}
        self.loads: dict[str, GroupLoad] = {}
        self._stopping = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Subscription] = []
        self._finite: set[asyncio.Task[None]] = set()  # extra loops may end; they must not fail
        self.causal: CausalOrder | None = None  # the order its inputs are handled in (services/runtime/causal.py)
        self.inboxes: dict[str, CausalInbox] = {}
        logos = settings.logos
        gap = logos.max_bar_gap_seconds
        self.bar_guard = BarGuard(
            timedelta(seconds=logos.bar_future_tolerance_seconds), timedelta(seconds=gap) if gap else None
        )
        # (stream, group) -> entries trimmed before the group read them; kept once seen (Redis keeps it too)
        self.stream_gaps: dict[tuple[str, str], int] = {}

    def authenticated(self, bus: Bus) -> Bus:
        """Return ``bus`` signing and verifying with this service's keys; refuse to start without one of them."""
        if not (self.signs or self.verifies):
            return bus
        store = self.settings.logos.secrets
        try:
            authenticator = Authenticator.from_store(bus.names, store, self.service, self.signs, self.verifies)
        except SecretMissing as exc:
            raise StartupRefused(str(exc)) from None
        return bus.with_authenticator(authenticator)

    # -- what subclasses define ----------------------------------------------------------------

    def subscriptions(self) -> list[Subscription]:
        """Return the groups this service consumes."""
        return []

    async def prepare(self) -> None:
        """Rebuild in-memory state before the consumers start (e.g. from a stream's history)."""

    def causal_order(self) -> CausalOrder | None:
        """Return the rules that put this service's inputs in the canonical order (None: as they come)."""
        return None

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """Return extra background loops to run beside the consumers (they should watch ``stopping``)."""
        return []

    def details(self) -> dict[str, Any]:
        """Return service-specific state for /status (e.g. risk's trading state)."""
        return {}

    def ready_problems(self) -> list[str]:
        """Return what keeps the service from being ready beyond its loops and Redis (e.g. stale data)."""
        return []

    def watched_streams(self) -> list[str]:
        """Return the streams whose consumer groups this service watches for lost entries: its own."""
        return sorted({stream for subscription in self._subscriptions for stream in subscription.streams})

    async def on_stream_gap(self, gaps: list[tuple[str, str, int]]) -> None:
        """React to entries newly found lost, (stream, group, entries) each; risk halts trading."""

    def bar_clock(self) -> datetime:
        """The wall clock bars are checked against (a replay's bars are historical: the bound holds there too)."""
        return datetime.now(UTC)

    async def _logged(self, loop: Coroutine[Any, Any, None]) -> None:
        try:
            await loop
        except asyncio.CancelledError:
            raise
        except BackendUnavailable as exc:
            if self._stop.is_set():  # stopping while Redis is already gone (Ctrl-C stops both): not a failure
                log.info("%s: a background loop ended during shutdown: %s", self.service, exc)
                return
            log.exception("%s: a background loop failed; the service is no longer ready", self.service)
            raise
        except Exception:
            log.exception("%s: a background loop failed; the service is no longer ready", self.service)
            raise

    def warnings(self) -> list[str]:
        """Return unsafe or degraded conditions, one line each (shown on /status and logged)."""
        found = []
        if self.settings.public_bind() and not self.settings.logos.container:
            found.append(
                f"HTTP API bound to {self.settings.host}:{self.settings.port}, reachable beyond this host; "
                "publish it on 127.0.0.1 only (compose does)"
            )
        return found

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every consumer loop and the heartbeat."""
        for line in self.warnings():
            log.warning("%s: UNSAFE: %s", self.service, line)
        # before any state is rebuilt or any group read: every service resumes the stack's one session, or none starts
        self.session = await asyncio.to_thread(check_worker, self)
        try:
            await self.prepare()
        except BackendUnavailable as exc:
            log.error("%s: could not rebuild its state from the bus (%s); starting without it", self.service, exc)
        options = self.settings.logos.consumer_options()
        self._subscriptions = self.subscriptions()
        self.causal = self.causal_order()
        for subscription in self._subscriptions:
            stats = self.stats.setdefault(subscription.group, ConsumerStats())
            self.loads[subscription.group] = GroupLoad(subscription.group)
            handler = self._guarded(subscription.handler)
            held = after_read = None
            if self.causal is not None:
                await self.causal.restore(self.bus, subscription.group)
                inbox = CausalInbox(self.bus, subscription.group, self.instance, self.causal, handler,
                                    options.max_deliveries, functools.partial(_counted, stats),
                                    options.batch_size)  # fmt: skip
                self.inboxes[subscription.group] = inbox
                handler, held, after_read = inbox.offer, inbox.held, inbox.drain
            coroutine = self.bus.consume(
                subscription.group,
                self.instance,
                subscription.streams,
                handler,
                self._stop,
                options=options,
                stats=stats,
                held=held,
                after_read=after_read,
            )
            self._tasks.append(asyncio.create_task(coroutine, name=f"{self.service}:{subscription.group}"))
        self._tasks.append(asyncio.create_task(self._heartbeat(), name=f"{self.service}:heartbeat"))
        for index, loop in enumerate(self.loops()):
            task = asyncio.create_task(self._logged(loop), name=f"{self.service}:loop{index}")
            self._tasks.append(task)
            self._finite.add(task)
        log.info("%s %s started (instance %s)", self.service, __version__, self.instance)

    async def stop(self) -> None:
        """Stop the loops after the message in hand, let the service finish up, send a last heartbeat.

        Process supervisors (honcho, Docker) allow a few seconds between SIGTERM and SIGKILL, so a
        loop stuck on an unreachable Redis gets 2 s before it is cancelled.
        """
        self._stopping = True
        self._stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=2.0) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
        for task in done | pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.stopped()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.bus.publish(self.names.status, self.status_message()), 1.0)
        log.info("%s stopped", self.service)

    def stopped(self) -> None:
        """Finish up once no loop runs any more (e.g. write a session's files); before the last heartbeat."""

    @property
    def stopping(self) -> asyncio.Event:
        return self._stop

    def running(self) -> bool:
        """Tell whether every consumer and the heartbeat run, and no extra loop has failed."""
        if not self._tasks:
            return False
        for task in self._tasks:
            if not task.done():
                continue
            if task not in self._finite or task.cancelled() or task.exception() is not None:
                return False
        return True

    # -- publishing and status -----------------------------------------------------------------

    async def publish(self, stream: str, message: Message) -> str:
        entry_id = await self.bus.publish(stream, message)
        self.published[stream] = self.published.get(stream, 0) + 1
        if self.causal is not None:
            self.causal.published(stream, message)
        return entry_id

    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    def connected(self) -> bool:
        return all(stats.connected for stats in self.stats.values())

    @property
    def state(self) -> ServiceState:
        if self._stopping:
            return ServiceState.STOPPING
        if self.running() and self.connected():
            return ServiceState.READY
        if not any(stats.reconnects for stats in self.stats.values()):
            return ServiceState.STARTING
        return ServiceState.DEGRADED

    def status_message(self) -> ServiceStatus:
        last = [stats.last for stats in self.stats.values() if stats.last is not None]
        return ServiceStatus(
            service=self.service,
            instance=self.instance,
            version=__version__,
            state=self.state,
            uptime_seconds=round(self.uptime_seconds(), 3),
            messages_handled=sum(stats.handled_total for stats in self.stats.values()),
            dead_lettered=sum(stats.dead_lettered for stats in self.stats.values()),
            last_message_at=max((entry.at for entry in last), default=None),
            warnings=tuple(self.warnings()),
        )

    def _guarded(self, handler: Handler) -> Handler:
        """Wrap ``handler`` so that a bar the bar guard refuses is dead-lettered and moves no state."""

        async def guarded(message: Message, delivery: Delivery) -> None:
            if not isinstance(message, Bar):
                await handler(message, delivery)
                return
            verdict = self.bar_guard.check(message, self.bar_clock())
            if verdict.refused is not None:
                raise Refused(verdict.refused)
            await handler(message, delivery)
            self.bar_guard.accept(message, verdict)
            if verdict.resumed_after is not None:
                log.warning(
                    "%s: %s resumed at %s after a gap of %s: accepted (docs/RUNBOOK.md, Failure signals)",
                    self.service,
                    message.symbol,
                    message.ts.isoformat(),
                    verdict.resumed_after,
                )

        return guarded

    async def refresh_loads(self) -> None:
        """Read the groups of the watched streams: this service's backlog, and entries any group lost."""
        found = {stream: await self.bus.backend.groups(stream) for stream in self.watched_streams()}
        for subscription in self._subscriptions:
            load = self.loads.setdefault(subscription.group, GroupLoad(subscription.group))
            load.infos = [
                next((info for info in found.get(stream, []) if info.group == subscription.group), None)
                or GroupInfo(stream, pending=0, lag=None, group=subscription.group)
                for stream in subscription.streams
            ]
        fresh = []
        for info in (info for infos in found.values() for info in infos):
            gone = info.lost() or 0
            if info.pending_trimmed():
                gone = max(gone, 1)  # a delivered entry was trimmed before its acknowledgement
            key = (info.stream, info.group)
            if gone > self.stream_gaps.get(key, 0):
                log.critical(
                    "%s: stream_gap: %d entries of %s were trimmed before group %s read them (docs/RUNBOOK.md, "
                    "Failure signals)",
                    self.service,
                    gone - self.stream_gaps.get(key, 0),
                    info.stream,
                    info.group,
                )
                self.stream_gaps[key] = gone
                fresh.append((info.stream, info.group, gone))
        if fresh:
            await self.on_stream_gap(fresh)

    def bus_problems(self) -> list[str]:
        """Return what the bus shows wrong: entries lost to a group, or a group further behind than LOGOS_MAX_LAG."""
        problems = [
            f"stream_gap: {lost:,} entries of {stream} were trimmed before group {group} read them"
            for (stream, group), lost in sorted(self.stream_gaps.items())
        ]
        for group, stats in self.stats.items():
            if stats.trimmed_before_handled:
                problems.append(
                    f"stream_gap: {stats.trimmed_before_handled:,} entries delivered to group {group} were trimmed "
                    "before it handled them"
                )
        limit = self.settings.logos.max_lag
        for load in self.loads.values():
            for info in load.infos:
                behind = info.behind()
                if behind is not None and behind > limit:
                    problems.append(
                        f"lag: group {load.group} is {behind:,} entries behind on {info.stream} "
                        f"(LOGOS_MAX_LAG {limit:,})"
                    )
        return problems

    def bar_checks(self) -> dict[str, Any]:
        """The bar guard's counts by symbol, for /status."""
        guard = self.bar_guard
        return {
            "non_monotonic": {symbol: dict(kinds) for symbol, kinds in sorted(guard.non_monotonic.items())},
            "refused": {symbol: dict(kinds) for symbol, kinds in sorted(guard.refused.items())},
            "resumed_after_gap": dict(sorted(guard.resumptions.items())),
            "future_tolerance_seconds": guard.future_tolerance.total_seconds(),
            "max_gap_seconds": guard.max_gap.total_seconds() if guard.max_gap else None,
        }

    async def _heartbeat(self) -> None:
        while not self._stop.is_set():
            if await self.bus.ping(timeout_seconds=1.0):
                with contextlib.suppress(Exception):
                    await self.refresh_loads()
                    await asyncio.wait_for(self.publish(self.names.status, self.status_message()), 2.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.heartbeat_seconds)


def _counted(stats: ConsumerStats, message: Message, delivery: Delivery) -> None:
    """Count an input the causal inbox handled after holding it, as the consumer counts the others."""
    stats.count_handled(delivery.stream, delivery.entry_id, getattr(message, "type", type(message).__name__))
