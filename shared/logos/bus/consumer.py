"""The consumer-group loop: read, validate, handle, acknowledge; reclaim, dead-letter, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from logos.auth import Unauthenticated
from logos.bus.backend import BackendUnavailable, GroupMissing, RawEntry
from logos.bus.codec import InvalidEntry, decode, encode
from logos.bus.dead_letter import MARKER_TTL_SECONDS, dead_letter_for, reason_digest
from logos.bus.options import ConsumerOptions, ConsumerStats
from logos.bus.outbox import CURRENT_OUTBOX, Outbox
from logos.contracts import Message

if TYPE_CHECKING:
    from logos.bus.bus import Bus

log = logging.getLogger("logos.bus")


@dataclass(frozen=True)
class Delivery:
    """Where a message came from, how often it has been delivered (1 on the first try) and who signed it.

    ``signer`` is the key id whose signature the bus checked (logos.auth), None on a stream it does not verify.
    """

    stream: str
    entry_id: str
    deliveries: int
    signer: str | None = None
    fields: dict[str, str] | None = None  # the entry as read, for a handler that dead-letters it later


Handler = Callable[[Message, Delivery], Awaitable[None]]


class Deferred(Exception):  # a signal to the loop, not an error
    """Raised by a handler that keeps an entry to handle later and acknowledges it itself.

    The loop neither acknowledges nor counts the entry: it stays pending, so a crash before the
    handler acknowledges it delivers it again. The handler publishes its outputs with the
    acknowledgement (:meth:`Bus.publish_and_ack`) once it has handled it, or dead-letters it
    (:func:`dead_letter`).
    """


class Refused(Exception):
    """Raised by a handler for a message that must never be acted on (unauthenticated, from the future, ...).

    The entry is dead-lettered at once with ``reason`` (no retry: a second delivery would be refused
    the same way) and acknowledged; the handler has published nothing for it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Backoff:
    """Exponential backoff with jitter (between half and all of the ceiling), reset after a success."""

    def __init__(self, initial: float = 0.1, maximum: float = 5.0) -> None:
        self._initial, self._maximum, self._attempt = initial, maximum, 0

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._initial * 2**self._attempt)
        self._attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


class ConsumerLoop:
    """One consumer of one group over one or more streams, until ``stop`` is set."""

    def __init__(
        self,
        bus: Bus,
        group: str,
        consumer: str,
        streams: list[str],
        handler: Handler,
        options: ConsumerOptions,
        stats: ConsumerStats,
        held: Callable[[str], frozenset[str]] | None = None,
        after_read: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``held(stream)``: the entries of ``stream`` the handler has deferred; redelivery and reclaiming skip them.

        ``after_read()`` runs after the entries of each read were handed to the handler.
        """
        if not streams:
            raise ValueError("a consumer needs at least one stream")
        self._bus, self._backend = bus, bus.backend
        self._group, self._consumer, self._streams = group, consumer, list(streams)
        self._accepted = {stream: bus.names.accepted_types(stream) for stream in streams}
        self._handler, self._options, self.stats = handler, options, stats
        self._held, self._after_read = held, after_read

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        prepared = False
        next_reclaim = 0.0
        loop = asyncio.get_running_loop()
        self.stats.running = True
        try:
            while not stop.is_set():
                try:
                    if not prepared:
                        for stream in self._streams:
                            await self._backend.ensure_group(stream, self._group)
                        # entries this consumer read before a restart come first
                        await self._redeliver_own_pending()
                        prepared = True
                        self._set_connected(True)
                    if loop.time() >= next_reclaim:
                        await self._reclaim()
                        next_reclaim = loop.time() + self._options.reclaim_interval_seconds
                    entries = await self._backend.read_group(
                        self._group,
                        self._consumer,
                        {stream: ">" for stream in self._streams},
                        self._options.batch_size,
                        self._options.block_seconds,
                    )
                    for entry in entries:
                        await self._deliver(entry, deliveries=1)
                    if entries and self._after_read is not None:
                        await self._after_read()
                    backoff.reset()
                except (BackendUnavailable, GroupMissing) as exc:
                    prepared = False
                    self._set_connected(False)
                    delay = backoff.next_delay()
                    log.warning("consumer %s/%s: %s; retrying in %.2fs", self._group, self._consumer, exc, delay)
                    await _sleep_unless(stop, delay)
        finally:
            self.stats.running = False

    def _set_connected(self, connected: bool) -> None:
        if connected and not self.stats.connected:
            log.info("consumer %s/%s connected to %s", self._group, self._consumer, ", ".join(self._streams))
        if not connected and self.stats.connected:
            self.stats.reconnects += 1
        self.stats.connected = connected

    async def _redeliver_own_pending(self) -> None:
        for stream in self._streams:
            after = "0"
            while True:
                entries = await self._backend.read_group(
                    self._group, self._consumer, {stream: after}, self._options.batch_size, 0
                )
                if not entries:
                    break
                await self._deliver_counted(stream, entries)
                after = entries[-1].entry_id

    async def _reclaim(self) -> None:
        for stream in self._streams:
            start = "0-0"
            while True:
                claimed = await self._backend.autoclaim(
                    stream,
                    self._group,
                    self._consumer,
                    self._options.reclaim_idle_seconds,
                    start,
                    self._options.batch_size,
                    self._kept(stream),
                )
                if claimed.trimmed_ids:
                    self.stats.trimmed_before_handled += len(claimed.trimmed_ids)
                    log.error(
                        "%d pending entries of %s were trimmed before %s handled them: %s",
                        len(claimed.trimmed_ids),
                        stream,
                        self._group,
                        ", ".join(claimed.trimmed_ids[:5]),
                    )
                self.stats.reclaimed += len(claimed.entries)
                await self._deliver_counted(stream, claimed.entries)
                if claimed.next_start == "0-0":
                    break
                start = claimed.next_start

    def _kept(self, stream: str) -> frozenset[str]:
        """The entries of ``stream`` the handler holds (deferred): reclaiming leaves them alone."""
        return self._held(stream) if self._held is not None else frozenset()

    async def _deliver_counted(self, stream: str, entries: list[RawEntry]) -> None:
        kept = self._kept(stream)
        if kept:  # a deferred entry waits in the handler, not stuck: leave it there
            entries = [entry for entry in entries if entry.entry_id not in kept]
        live = [entry for entry in entries if entry.fields is not None]
        for entry in entries:
            if entry.fields is None:  # trimmed while pending: drop it from the pending list
                await self._backend.ack(stream, self._group, entry.entry_id)
        counts = await self._backend.delivery_counts(stream, self._group, [entry.entry_id for entry in live])
        for entry in live:
            await self._deliver(entry, deliveries=counts.get(entry.entry_id, 1))
        if live and self._after_read is not None:
            await self._after_read()

    async def _deliver(self, entry: RawEntry, deliveries: int) -> None:
        fields = entry.fields or {}
        limit = self._options.max_deliveries
        if deliveries > limit:
            # its consumers kept dying while handling it; do not risk another crash
            await self._dead_letter(entry, deliveries, f"delivered {deliveries} times without an acknowledgement")
            return
        try:
            message = decode(fields, self._accepted[entry.stream])
        except InvalidEntry as exc:
            await self._dead_letter(entry, deliveries, f"invalid entry: {exc}")
            return
        try:
            signer = self._bus.authenticate(entry.stream, fields)  # a valid message, but whose?
        except Unauthenticated as exc:
            await self._refuse(entry, deliveries, f"unauthenticated: {exc}")
            return
        delivery = Delivery(entry.stream, entry.entry_id, deliveries, signer, fields)
        outbox = Outbox()
        token = CURRENT_OUTBOX.set(outbox)
        try:
            await self._handler(message, delivery)
        except (BackendUnavailable, GroupMissing, asyncio.CancelledError):
            raise  # not the message's fault: it stays pending and is delivered again
        except Deferred:
            return  # the handler acknowledges it (with its outputs) once it has handled it
        except Refused as exc:
            await self._refuse(entry, deliveries, exc.reason)
            return
        except Exception as exc:
            self.stats.handler_failures += 1
            log.warning(
                "handler of %s failed on %s %s (delivery %d of %d): %r",
                self._group,
                entry.stream,
                entry.entry_id,
                deliveries,
                limit,
                exc,
            )
            if deliveries >= limit:
                await self._dead_letter(entry, deliveries, f"handler failed on delivery {deliveries}: {exc!r}")
            return
        finally:
            outbox.closed = True  # a failed handler's messages are dropped: its entry is delivered again
            CURRENT_OUTBOX.reset(token)
        await self._bus.publish_and_ack(outbox, entry.stream, self._group, entry.entry_id)
        self.stats.count_handled(entry.stream, entry.entry_id, fields["type"])

    async def _refuse(self, entry: RawEntry, deliveries: int, reason: str) -> None:
        """Dead-letter an entry that must never be acted on, counted by the reason's first word."""
        kind = reason.partition(":")[0]
        self.stats.refused[kind] = self.stats.refused.get(kind, 0) + 1
        await self._dead_letter(entry, deliveries, reason)

    async def _dead_letter(self, entry: RawEntry, deliveries: int, reason: str) -> None:
        await dead_letter(self._bus, entry, self._group, self._consumer, deliveries, reason)
        self.stats.dead_lettered += 1


async def dead_letter(bus: Bus, entry: RawEntry, group: str, consumer: str, deliveries: int, reason: str) -> None:
    """Move ``entry`` to the dead-letter stream with ``reason`` and acknowledge it for ``group``, in one step."""
    letter = dead_letter_for(entry, group, consumer, deliveries, reason)
    names = bus.names
    recorded = await bus.backend.add_once_and_ack(
        names.dlq,
        encode(letter),
        bus.maxlen,
        names.dead_letter_marker(entry.stream, entry.entry_id, reason_digest(letter)),
        MARKER_TTL_SECONDS,
        entry.stream,
        group,
        entry.entry_id,
    )
    shown = "dead-lettered" if recorded else "dead-lettered (already recorded by another group)"
    log.error("%s %s %s for %s: %s", shown, entry.stream, entry.entry_id, group, letter.reason)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
