"""The feed's bus side: publishes bars from its provider (a replay, or a live provider it polls) and obeys control."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from logos.bus import BackendUnavailable, Bus, Delivery
from logos.bus.codec import InvalidEntry, decode
from logos.bus.consumer import Backoff
from logos.contracts import Bar, Control, Message, utc_now
from logos.data.fixtures import fixture_path
from logos.data.loading import load_bars
from logos.live.bar_guard import replay_refusals
from logos.streams import Group
from services.feed.bar_cache import BarCache
from services.feed.config import LIVE_PROVIDERS, FeedSettings
from services.feed.freshness import FreshnessClock
from services.feed.providers import BarProvider, build_provider
from services.feed.replay import CreditWindow, replay_bars
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.feed")
SETTLE_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


class FeedWorker(ServiceWorker):
    service = "feed"
    clock: Callable[[], datetime] = staticmethod(utc_now)

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        assert isinstance(settings, FeedSettings)
        self.feed_settings = settings
        self.last_control: Control | None = None
        self.replayed = 0
        self.replay_total: int | None = None
        self.replay_finished = False
        self.replay_refused = 0
        self.provider: BarProvider | None = None
        self.freshness: FreshnessClock | None = None
        self.cache: BarCache | None = None
        self.last_poll_at: datetime | None = None
        self.poll_failures = 0
        self.cache_failures = 0
        self.next_seq = 1  # the sequence number of the next bar published (canonical order, no gaps)

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(Group.FEED, [self.names.control], self.handle)]

    def loops(self) -> list[Any]:
        if self.feed_settings.provider == "replay":
            return [self._replay()]
        if self.feed_settings.provider in LIVE_PROVIDERS:
            return [self._poll_live()]
        return []

    def make_provider(self) -> BarProvider:
        """Return the live provider the settings name."""
        return build_provider(self.feed_settings)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        """Remember the latest operator command (a halted stack keeps its data fresh)."""
        if isinstance(message, Control):
            self.last_control = message
            log.info("control %s from %s: %s", message.command.value, message.issued_by, message.reason)

    async def _replay(self) -> None:
        settings = self.feed_settings
        source = fixture_path(settings.replay_fixture) if settings.replay_fixture else settings.replay_data
        if source is None:
            log.error("replay: set FEED_REPLAY_FIXTURE or FEED_REPLAY_DATA; nothing to replay")
            return
        frames = load_bars(source)
        if settings.replay_symbols:
            frames = {symbol: frames[symbol] for symbol in settings.replay_symbols if symbol in frames}
        self.replay_total = sum(len(frame) for frame in frames.values())
        # a replay's bars are historical: none is dated after the wall clock, none lies outside its own span
        logos = settings.logos
        refused = replay_refusals(
            {symbol: [ts.to_pydatetime() for ts in frame.index] for symbol, frame in frames.items()},
            self.clock(),
            timedelta(seconds=logos.bar_future_tolerance_seconds),
            timedelta(seconds=logos.max_bar_gap_seconds) if logos.max_bar_gap_seconds else None,
        )
        await self._wait_for_groups()
        log.info("replaying %d bars of %s from %s", self.replay_total, ", ".join(frames), source)
        # a resumed session (services/runtime/session_identity.py) goes on after its last published bar
        newest = await self._until_done(self._last_published)
        published = (newest.ts, newest.symbol) if newest is not None else None
        if newest is not None:
            log.info("resuming the replay after %s (bar %s)", newest.id, newest.seq)
        pipeline = [*self.names.all_bars(), *self.names.all_intents(), self.names.orders, self.names.fills,
                    self.names.account]  # fmt: skip
        window = CreditWindow(self.bus, logos.replay_window) if logos.replay_window else None
        if window is not None:
            await self._until_done(window.start)
        try:
            for bar in replay_bars(frames, settings.logos.symbol_specs()):
                if self.stopping.is_set():
                    return
                if published is not None and (bar.ts, bar.symbol) <= published:
                    self.replayed += 1  # published before the restart, in canonical order
                    self.next_seq += 1
                    continue
                if newest is not None and newest.seq is not None:
                    self.next_seq, newest = newest.seq + 1, None  # numbered on from the last bar published
                reason = refused.get((bar.symbol, bar.ts))
                if reason is not None:
                    log.warning("replay: %s; not published", reason)
                    self.replay_refused += 1
                    continue
                # at most the window ahead of the executor (its watermarks say how far it is)
                while window is not None and not await window.admit(self.next_seq, SETTLE_TIMEOUT_SECONDS):
                    if self.stopping.is_set():
                        return
                    log.warning("replay: the executor has not moved for %ss (done through bar %d)",
                                SETTLE_TIMEOUT_SECONDS, window.done)  # fmt: skip
                await self._until_done(
                    functools.partial(self.publish, self.names.bars_for(bar.symbol), self._numbered(bar))
                )
                self.replayed += 1
                if settings.replay_speed > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), 1 / settings.replay_speed)
            # finished means handled: the executor is done with the last bar, and what its decisions cause is too
            while window is not None and not self.stopping.is_set():
                if await window.reached(self.next_seq - 1, SETTLE_TIMEOUT_SECONDS):
                    settle = functools.partial(self.bus.wait_until_quiet, pipeline, SETTLE_TIMEOUT_SECONDS, 0.001)
                    await self._until_done(settle)
                    break
                log.warning("replay: the executor has not moved for %ss (done through bar %d of %d)",
                            SETTLE_TIMEOUT_SECONDS, window.done, self.next_seq - 1)  # fmt: skip
        finally:
            if window is not None:
                await window.close()
        self.replay_finished = True
        # the feed never appends to the control stream (only risk and the operator's signed control path do):
        # `logos stack replay-check` asks the executor for the session's files once it has every bar
        log.info("replay finished: %d bars", self.replayed)

    def _numbered(self, bar: Bar) -> Bar:
        """``bar`` with the next sequence number: every bar the feed publishes has its place in one order."""
        numbered = bar.model_copy(update={"seq": self.next_seq})
        self.next_seq += 1
        return numbered

    async def _last_published(self) -> Bar | None:
        """The newest bar on the bar streams (time, then symbol): where a resumed feed goes on, and its number."""
        newest: Bar | None = None
        for stream in self.names.all_bars():
            for entry in await self.bus.backend.read_backwards(stream, "+", 100):
                try:
                    bar = decode(entry.fields or {}, self.names.accepted_types(stream))
                except InvalidEntry:
                    continue  # garbage someone appended: it went to the dead-letter stream
                if isinstance(bar, Bar):
                    if newest is None or (bar.ts, bar.symbol) > (newest.ts, newest.symbol):
                        newest = bar
                    break
        return newest

    async def _poll_live(self) -> None:
        settings = self.feed_settings
        provider = self.provider = self.make_provider()
        self.freshness = FreshnessClock(
            provider.symbols, timedelta(seconds=settings.stale_after_seconds), started=self.clock()
        )
        if settings.cache:
            self.cache = BarCache(settings.logos.paths.bar_cache, provider.source)
        newest = await self._until_done(self._last_published)
        if newest is not None and newest.seq is not None:
            self.next_seq = newest.seq + 1  # a restarted feed numbers on from the last bar it published
        closer = asyncio.create_task(self._close_on_stop(provider))
        log.info("polling %s every %ss for %s", provider.source, settings.poll_seconds, ", ".join(provider.symbols))
        try:
            while not self.stopping.is_set():
                try:
                    bars = await asyncio.to_thread(provider.poll)
                except Exception:  # a provider bug must not end the feed; the next poll starts afresh
                    self.poll_failures += 1
                    log.exception("%s: a poll failed", provider.source)
                    bars = []
                if not await self._publish_live(bars):
                    return
                self.last_poll_at = self.clock()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), settings.poll_seconds)
        finally:
            closer.cancel()
            provider.close()

    async def _publish_live(self, bars: list[Bar]) -> bool:
        """Publish ``bars`` in order, waiting out bus outages, then cache them; False once stopping."""
        assert self.freshness is not None
        published: list[Bar] = []
        for bar in bars:
            try:
                numbered = bar.model_copy(update={"seq": self.next_seq})
                await self._until_done(functools.partial(self.publish, self.names.bars_for(bar.symbol), numbered))
                self.next_seq += 1
            except BackendUnavailable:
                break  # stopping during an outage: what was published is still cached
            self.freshness.observe(bar.symbol, bar.ts)
            published.append(bar)
        if self.cache is not None and published:
            try:
                await asyncio.to_thread(self.cache.append, published)
            except (OSError, ValueError) as exc:  # a full disk costs the recording, not the feed
                self.cache_failures += 1
                log.error("bar cache: cannot write %d bars: %s", len(published), exc)
        return not self.stopping.is_set()

    async def _close_on_stop(self, provider: BarProvider) -> None:
        # A poll runs in a thread; closing the provider cuts its retry waits short.
        await self.stopping.wait()
        provider.close()

    async def _until_done(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``, waiting out any outage of the bus (publishing pauses; it never skips a bar)."""
        backoff = Backoff(initial=0.1, maximum=2.0)
        while True:
            try:
                return await operation()
            except BackendUnavailable as exc:
                delay = backoff.next_delay()
                log.warning("bus unavailable, publishing paused: %s; retrying in %.1fs", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                if self.stopping.is_set():
                    raise

    async def _wait_for_groups(self) -> None:
        wanted = set(self.feed_settings.replay_groups)
        while not self.stopping.is_set():
            present: set[str] = set()
            for stream in self.names.all_bars():
                infos = await self._until_done(functools.partial(self.bus.backend.groups, stream))
                present |= {info.group for info in infos}
            if wanted <= present:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.2)

    def details(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "provider": self.feed_settings.provider,
            "replayed": self.replayed,
            "replay_total": self.replay_total,
            "replay_finished": self.replay_finished,
            "replay_refused": self.replay_refused,
        }
        if self.provider is not None and self.freshness is not None:
            found["live"] = {
                **self.provider.describe(),
                "freshness": self.freshness.report(self.clock()),
                "stale_after_seconds": self.feed_settings.stale_after_seconds,
                "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None,
                "poll_failures": self.poll_failures,
                "cache": {
                    "directory": str(self.cache.directory) if self.cache else None,
                    "bars_appended": self.cache.appended if self.cache else 0,
                    "failures": self.cache_failures,
                },
            }
        return found

    def data_problems(self) -> list[str]:
        """Describe each configured symbol that is stale or skipped for good, one line each."""
        if self.provider is None or self.freshness is None:
            return []  # a replay, or a live feed that has not started polling
        skipped = self.provider.skipped
        lines = [f"{symbol} is skipped: {reason}" for symbol, reason in skipped.items()]
        return lines + self.freshness.problems(self.clock(), ignore=skipped)

    def ready_problems(self) -> list[str]:
        return self.data_problems()

    def warnings(self) -> list[str]:
        return super().warnings() + self.data_problems()
