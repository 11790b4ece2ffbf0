"""The bus every service uses: publish, consume through a group, tail, and inspect streams."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from logos.auth import Authenticator, Unauthenticated
from logos.bus.backend import BackendUnavailable, GroupInfo, StreamBackend
from logos.bus.codec import Carried, InvalidEntry, decode, encode
from logos.bus.consumer import Backoff, ConsumerLoop, Handler
from logos.bus.memory_backend import MemoryBackend
from logos.bus.options import ConsumerOptions, ConsumerStats
from logos.bus.outbox import CURRENT_OUTBOX, Outbox
from logos.contracts import Message
from logos.streams import StreamNames

log = logging.getLogger("logos.bus")
T = TypeVar("T")


QUIET_POLL_FLOOR_SECONDS = 0.001  # the in-memory backend returns at the next acknowledgement, well before
HARD_MAXLEN_FACTOR = 10  # the last-resort cap on an append, when none is given: ten times the normal length


class BusUnavailable(BackendUnavailable):
    """The bus stayed unreachable for longer than the caller was willing to wait."""


@dataclass(frozen=True)
class Tailed:
    """A message read by :meth:`Bus.tail`, with its entry id."""

    stream: str
    entry_id: str
    message: Message


class Bus:
    """Typed access to the streams of one deployment; the backend is Redis or process memory.

    Streams are kept near ``maxlen`` entries without ever losing one a group has not acknowledged:
    an append caps its stream only at ``hard_maxlen`` (the last resort against a group that stopped
    reading, far above ``maxlen``), and every ``trim_seconds`` the streams this bus appended to are
    cut towards ``maxlen`` below the oldest entry any of their groups still needs. The cut runs
    beside the appends, never on their path.
    """

    def __init__(
        self,
        backend: StreamBackend,
        names: StreamNames,
        *,
        maxlen: int = 100_000,
        hard_maxlen: int | None = None,
        trim_seconds: float = 1.0,
        publish_timeout_seconds: float = 30.0,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.backend = backend
        self._hands_over = getattr(backend, "hands_over", False)  # one process: entries carry their message
        # signs what this process publishes on the signed streams and checks what it reads there (logos.auth)
        self.authenticator = authenticator
        self.names = names
        self.maxlen = maxlen
        self.hard_maxlen = max(hard_maxlen or maxlen * HARD_MAXLEN_FACTOR, maxlen)
        self.trim_seconds = trim_seconds
        self.publish_timeout_seconds = publish_timeout_seconds
        self._untrimmed: set[str] = set()
        self._trimmer: asyncio.Task[None] | None = None
        self._trim_owner: Bus | None = None  # a view made by with_authenticator trims through the bus it came from

    @classmethod
    def redis(cls, url: str, names: StreamNames, *, block_seconds: float = 1.0, **kwargs: float) -> Bus:
        """Return a bus on the Redis server at ``url``; nothing connects until first use."""
        # redis-py loads here, when a bus on Redis is made: the settings (and so every command) import this package
        from logos.bus.redis_backend import RedisBackend

        backend = RedisBackend.from_url(url, block_seconds=block_seconds, correction_prefix=names.lag_corrections)
        return cls(backend, names, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def memory(cls, names: StreamNames | None = None, **kwargs: float) -> Bus:
        """Return a bus held in this process's memory, for in-process runs and tests."""
        return cls(MemoryBackend(), names or StreamNames(), **kwargs)  # type: ignore[arg-type]

    def with_authenticator(self, authenticator: Authenticator | None) -> Bus:
        """Return a bus on the same store that signs and verifies with ``authenticator`` (one per service)."""
        view = Bus(
            self.backend,
            self.names,
            maxlen=self.maxlen,
            hard_maxlen=self.hard_maxlen,
            trim_seconds=self.trim_seconds,
            publish_timeout_seconds=self.publish_timeout_seconds,
            authenticator=authenticator,
        )
        view._trim_owner = self._trim_owner or self
        return view

    def authenticate(self, stream: str, fields: dict[str, str]) -> str | None:
        """Return the signer of an entry read from ``stream`` (None: not verified here); raise Unauthenticated."""
        return None if self.authenticator is None else self.authenticator.verify(stream, fields)

    async def publish(self, stream: str, message: Message) -> str:
        """Append ``message`` to ``stream`` (signed there if it must be); retry while the store is away."""
        fields = encode(message)
        if fields["type"] not in self.names.accepted_types(stream):
            raise ValueError(f"a {fields['type']} does not belong on {stream}")
        if self.authenticator is not None:
            fields = self.authenticator.sign(stream, fields)
        if self._hands_over:
            fields = Carried(fields, message)  # one process: the consumer takes the message, not its JSON
        outbox = CURRENT_OUTBOX.get()
        if outbox is not None and not outbox.closed:
            outbox.entries.append((stream, fields))
            return ""  # appended with the handler's acknowledgement; the entry id is Redis's to give then
        entry_id = await self._retrying(lambda: self.backend.add(stream, fields, self.hard_maxlen))
        self._appended(stream)
        return entry_id

    async def publish_and_ack(self, outbox: Outbox, stream: str, group: str, entry_id: str) -> None:
        """Append what a handler published and acknowledge its entry, in one transaction."""
        await self.publish_and_ack_all(outbox, group, [(stream, entry_id)])

    async def publish_and_ack_all(self, outbox: Outbox, group: str, acks: Sequence[tuple[str, str]]) -> None:
        """Append what a batch of handlers published and acknowledge its entries (stream, id), in one transaction."""
        entries = outbox.entries
        if not entries and len(acks) == 1:
            stream, entry_id = acks[0]
            await self.backend.ack(stream, group, entry_id)
            return
        await self._retrying(lambda: self.backend.add_many_and_ack(entries, self.hard_maxlen, group, acks))
        for target in {target for target, _ in entries}:
            self._appended(target)

    async def publish_outbox(self, outbox: Outbox) -> None:
        """Append what a handler published without acknowledging anything (its entry went elsewhere)."""
        for target, fields in outbox.entries:
            await self._retrying(functools.partial(self.backend.add, target, fields, self.hard_maxlen))
            self._appended(target)

    def _appended(self, stream: str) -> None:
        """Note that ``stream`` grew; the trimmer cuts it within ``trim_seconds``."""
        if self._trim_owner is not None:
            self._trim_owner._appended(stream)
            return
        self._untrimmed.add(stream)
        if self._trimmer is None or self._trimmer.done():
            self._trimmer = asyncio.get_running_loop().create_task(self._trim_untrimmed(), name="logos-bus-trim")

    async def _trim_untrimmed(self) -> None:
        """Cut the streams appended to since the last pass; one held back by a slow group is tried again."""
        held: set[str] = set()
        while self._untrimmed:
            await asyncio.sleep(self.trim_seconds)
            streams, self._untrimmed = self._untrimmed, set()
            for stream in sorted(streams):
                try:
                    trimmed = await self.backend.trim(stream, self.maxlen)
                except BackendUnavailable:
                    self._untrimmed.add(stream)  # the next pass tries again
                    continue
                except Exception:
                    log.exception("could not trim %s", stream)
                    continue
                if trimmed.held_back:
                    self._untrimmed.add(stream)
                    if stream not in held:
                        log.info(
                            "%s is longer than %d entries: a group has not acknowledged the rest", stream, self.maxlen
                        )
                    held.add(stream)
                else:
                    held.discard(stream)

    async def trim_now(self, streams: Sequence[str]) -> None:
        """Cut ``streams`` towards ``maxlen`` at once, as the periodic trimmer would."""
        for stream in streams:
            await self.backend.trim(stream, self.maxlen)

    async def consume(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        handler: Handler,
        stop: asyncio.Event,
        *,
        options: ConsumerOptions | None = None,
        stats: ConsumerStats | None = None,
        held: Callable[[str], frozenset[str]] | None = None,
        after_read: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Handle every entry of ``streams`` for ``group`` until ``stop`` is set.

        An entry is acknowledged only after ``handler`` returns. A failing entry is retried after
        ``reclaim_idle_seconds`` and dead-lettered after ``max_deliveries``; an invalid one is
        dead-lettered at once. Connection loss is waited out with backoff. A handler may defer an entry
        (:class:`~logos.bus.consumer.Deferred`) and acknowledge it later; ``holding`` then tells which
        entries of a stream it still holds, so they are neither redelivered nor reclaimed from it, and
        ``after_read`` runs once every entry of a read was handed over (a handler that defers them all
        handles the batch there).
        """
        loop = ConsumerLoop(
            self,
            group,
            consumer,
            list(streams),
            handler,
            options or ConsumerOptions(),
            stats or ConsumerStats(),
            held,
            after_read,
        )
        await loop.run(stop)

    async def tail(self, streams: Sequence[str], stop: asyncio.Event, *, start: str = "$") -> AsyncIterator[Tailed]:
        """Yield messages appended to ``streams`` (outside any group), skipping invalid entries."""
        positions = dict.fromkeys(streams, start)
        backoff = Backoff()
        while not stop.is_set():
            try:
                entries = await self.backend.read(positions, 100, 1.0)
            except BackendUnavailable as exc:
                log.warning("tail: %s", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            for entry in entries:
                positions[entry.stream] = entry.entry_id
                try:
                    self.authenticate(entry.stream, entry.fields or {})
                    message = decode(entry.fields or {}, self.names.accepted_types(entry.stream))
                except (InvalidEntry, Unauthenticated) as exc:
                    log.warning("tail: skipping %s %s: %s", entry.stream, entry.entry_id, exc)
                    continue
                yield Tailed(entry.stream, entry.entry_id, message)

    async def group_info(self, group: str, streams: Sequence[str]) -> list[GroupInfo]:
        """Return pending count and lag of ``group`` on each stream (zero pending, unknown lag if it is absent)."""
        infos = []
        for stream in streams:
            found = [info for info in await self.backend.groups(stream) if info.group == group]
            infos.append(found[0] if found else GroupInfo(stream, pending=0, lag=None, group=group))
        return infos

    async def history(self, stream: str, group: str, count: int) -> list[Message]:
        """The last ``count`` valid messages ``group`` has already been delivered on ``stream``, oldest first.

        A restarted consumer rebuilds its in-memory state from them; what it has not been delivered
        yet still comes through the group.
        """
        (info,) = await self.group_info(group, [stream])
        if info.last_delivered in (None, "0-0"):
            return []
        entries = await self.backend.read_backwards(stream, info.last_delivered or "+", count)
        messages = []
        for entry in reversed(entries):
            try:
                self.authenticate(stream, entry.fields or {})  # a forged entry must not rebuild any state either
                messages.append(decode(entry.fields or {}, self.names.accepted_types(stream)))
            except (InvalidEntry, Unauthenticated):
                continue  # it went to the dead-letter stream when it was delivered
        return messages

    async def acknowledged(self, stream: str, group: str, count: int) -> list[Message]:
        """The last ``count`` valid messages of ``stream`` that ``group`` has handled and acknowledged, oldest first.

        What a group acknowledges is a prefix of what it was delivered when it handles each stream in
        order: the entries before its oldest pending one (or everything delivered, if none is pending).
        A restarted service reads where it stood from them.
        """
        (info,) = await self.group_info(group, [stream])
        if info.last_delivered in (None, "0-0"):
            return []
        first = info.oldest_pending
        end = f"({first}" if first is not None else (info.last_delivered or "+")
        messages = []
        for entry in reversed(await self.backend.read_backwards(stream, end, count)):
            try:
                self.authenticate(stream, entry.fields or {})
                messages.append(decode(entry.fields or {}, self.names.accepted_types(stream)))
            except (InvalidEntry, Unauthenticated):
                continue
        return messages

    async def quiet(self, streams: Sequence[str]) -> bool:
        """Tell whether every consumer group of ``streams`` has read and acknowledged everything."""
        return not any(info.pending or info.lag is None or info.lag for info in await self.backend.groups_of(streams))

    async def wait_until_quiet(self, streams: Sequence[str], timeout_seconds: float, poll_seconds: float = 0.0) -> bool:
        """Wait until :meth:`quiet` holds (the end of a replay); False if it did not within the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        while loop.time() < deadline:
            if await self.quiet(streams):
                return True
            await self.backend.wait_for_activity(max(poll_seconds, QUIET_POLL_FLOOR_SECONDS))
        return False

    async def length(self, stream: str) -> int:
        return await self.backend.length(stream)

    async def ping(self, timeout_seconds: float = 0.5) -> bool:
        return await self.backend.ping(timeout_seconds)

    async def close(self) -> None:
        if self._trimmer is not None and not self._trimmer.done():
            self._trimmer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._trimmer
        await self.backend.close()

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()  # the common case: no retry machinery on the hot path
        except BackendUnavailable:
            pass
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(BackendUnavailable),
                wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.1),
                stop=stop_after_delay(self.publish_timeout_seconds),
                reraise=True,
            ):
                with attempt:
                    return await operation()
        except BackendUnavailable as exc:
            raise BusUnavailable(f"bus unreachable for {self.publish_timeout_seconds:.0f}s: {exc}") from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")
