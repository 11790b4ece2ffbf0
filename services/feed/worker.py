"""The feed's bus side: publishes bars from its provider (replay today) and obeys control."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from logos.bus import BackendUnavailable, Bus, Delivery
from logos.bus.consumer import Backoff
from logos.contracts import Control, Message
from logos.data.fixtures import fixture_path
from logos.data.loading import load_bars
from logos.streams import Group
from services.feed.config import FeedSettings
from services.feed.replay import replay_bars
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.feed")
SETTLE_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


class FeedWorker(ServiceWorker):
    service = "feed"

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        assert isinstance(settings, FeedSettings)
        self.feed_settings = settings
        self.last_control: Control | None = None
        self.replayed = 0
        self.replay_total: int | None = None
        self.replay_finished = False

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(Group.FEED, [self.names.control], self.handle)]

    def loops(self) -> list[Any]:
        return [self._replay()] if self.feed_settings.provider == "replay" else []

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
        pipeline = [*self.names.all_bars(), *self.names.all_intents(), self.names.orders, self.names.fills,
                    self.names.account]  # fmt: skip
        await self._wait_for_groups()
        log.info("replaying %d bars of %s from %s", self.replay_total, ", ".join(frames), source)
        for bar in replay_bars(frames, settings.logos.symbol_specs()):
            if self.stopping.is_set():
                return
            await self._until_done(functools.partial(self.publish, self.names.bars_for(bar.symbol), bar))
            self.replayed += 1
            settle = functools.partial(self.bus.wait_until_quiet, pipeline, SETTLE_TIMEOUT_SECONDS, poll_seconds=0.001)
            if settings.replay_lockstep and not await self._until_done(settle):
                log.warning("replay: the pipeline did not settle within %ss after %s", SETTLE_TIMEOUT_SECONDS, bar.id)
            if settings.replay_speed > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 1 / settings.replay_speed)
        self.replay_finished = True
        log.info("replay finished: %d bars", self.replayed)

    async def _until_done(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``, waiting out any outage of the bus (a replay pauses; it never skips a bar)."""
        backoff = Backoff(initial=0.1, maximum=2.0)
        while True:
            try:
                return await operation()
            except BackendUnavailable as exc:
                delay = backoff.next_delay()
                log.warning("replay paused: %s; retrying in %.1fs", exc, delay)
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
        return {
            "provider": self.feed_settings.provider,
            "replayed": self.replayed,
            "replay_total": self.replay_total,
            "replay_finished": self.replay_finished,
        }
