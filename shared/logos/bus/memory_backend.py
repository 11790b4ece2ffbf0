"""Stream primitives in process memory, with Redis semantics, for in-process runs and unit tests."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from logos.bus.backend import BackendUnavailable, Claimed, GroupInfo, GroupMissing, RawEntry, Trimmed
from logos.bus.codec import copied

IdKey = tuple[int, int]


def _key(entry_id: str) -> IdKey:
    if entry_id in ("-", "0"):
        return (0, 0)
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


@dataclass
class _Pending:
    consumer: str
    deliveries: int
    delivered_at: float


@dataclass
class _Group:
    last_delivered: IdKey = (0, 0)
    pending: dict[str, _Pending] = field(default_factory=dict)
    entries_read: int = 0  # as Redis counts: entries delivered, so one trimmed unread is never counted


@dataclass
class _Stream:
    keys: list[IdKey] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    fields: list[dict[str, str]] = field(default_factory=list)
    groups: dict[str, _Group] = field(default_factory=dict)
    sequence: int = 0  # also the number of entries ever added

    def entry(self, entry_id: str) -> dict[str, str] | None:
        index = bisect_right(self.keys, _key(entry_id)) - 1
        return self.fields[index] if index >= 0 and self.ids[index] == entry_id else None


class MemoryBackend:
    """A single-process stand-in for Redis streams; ``available`` simulates an outage.

    A blocked reader waits on the streams it reads only, and an append wakes only those readers: an
    in-process session runs several consumers, and waking all of them on every entry cost more than
    handling the entries.
    """

    hands_over = True  # entries keep the frozen message they encode (logos.bus.codec.Carried)

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._readers: dict[str, set[asyncio.Future[None]]] = {}  # per stream: blocked readers to wake
        self._watchers: set[asyncio.Future[None]] = set()  # woken by any append or acknowledgement
        self._markers: dict[str, float] = {}  # key -> when it expires (monotonic seconds)
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise BackendUnavailable("in-memory bus marked unavailable")

    def _stream(self, name: str) -> _Stream:
        return self._streams.setdefault(name, _Stream())

    def _group(self, stream: str, group: str) -> _Group:
        state = self._streams.get(stream)
        if state is None or group not in state.groups:
            raise GroupMissing(f"NOGROUP no stream {stream!r} or group {group!r}")
        return state.groups[group]

    async def add(self, stream: str, fields: dict[str, str], maxlen: int) -> str:
        self._check()
        state = self._stream(stream)
        state.sequence += 1
        key = (state.sequence, 0)
        entry_id = f"{key[0]}-{key[1]}"
        state.keys.append(key)
        state.ids.append(entry_id)
        state.fields.append(copied(fields))
        excess = len(state.keys) - maxlen
        if excess > 0:
            del state.keys[:excess], state.ids[:excess], state.fields[:excess]
        _wake(self._readers.pop(stream, ()))
        self._activity()
        return entry_id

    async def ensure_group(self, stream: str, group: str) -> None:
        self._check()
        state = self._stream(stream)
        if group not in state.groups:  # made at id 0: what the stream no longer holds counts as read
            state.groups[group] = _Group(entries_read=state.sequence - len(state.keys))

    async def read_group(
        self, group: str, consumer: str, positions: dict[str, str], count: int, block_seconds: float
    ) -> list[RawEntry]:
        deadline = time.monotonic() + block_seconds
        while True:
            self._check()
            entries = self._read_group_now(group, consumer, positions, count)
            blocking = any(position == ">" for position in positions.values())
            remaining = deadline - time.monotonic()
            if entries or not blocking or remaining <= 0:
                return entries
            await self._wait(positions, remaining)

    def _read_group_now(self, group: str, consumer: str, positions: dict[str, str], count: int) -> list[RawEntry]:
        entries: list[RawEntry] = []
        now = time.monotonic()
        for stream, position in positions.items():
            state_group = self._group(stream, group)
            state = self._streams[stream]
            if position == ">":
                start = bisect_right(state.keys, state_group.last_delivered)
                for index in range(start, min(start + count, len(state.keys))):
                    entry_id = state.ids[index]
                    state_group.last_delivered = state.keys[index]
                    state_group.entries_read += 1
                    state_group.pending[entry_id] = _Pending(consumer, 1, now)
                    entries.append(RawEntry(stream, entry_id, copied(state.fields[index])))
            else:
                after = _key(position)
                own = sorted(
                    (entry_id for entry_id, pending in state_group.pending.items() if pending.consumer == consumer),
                    key=_key,
                )
                for entry_id in [entry_id for entry_id in own if _key(entry_id) > after][:count]:
                    pending = state_group.pending[entry_id]
                    pending.deliveries += 1
                    pending.delivered_at = now
                    fields = state.entry(entry_id)
                    entries.append(RawEntry(stream, entry_id, copied(fields) if fields else None))
        return entries

    async def _wait(self, streams: Iterable[str], seconds: float) -> None:
        """Wait until one of ``streams`` gets an entry, or ``seconds`` pass."""
        waiter = asyncio.get_running_loop().create_future()
        names = list(streams)
        for stream in names:
            self._readers.setdefault(stream, set()).add(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError:
            pass
        finally:
            for stream in names:
                self._readers.get(stream, set()).discard(waiter)

    def _activity(self) -> None:
        if self._watchers:  # every append and acknowledgement passes here; most have no one waiting
            watchers, self._watchers = self._watchers, set()
            _wake(watchers)

    async def wait_for_activity(self, seconds: float) -> None:
        """Return after the next append or acknowledgement, or after ``seconds``."""
        waiter = asyncio.get_running_loop().create_future()
        self._watchers.add(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError:
            self._watchers.discard(waiter)

    async def autoclaim(
        self,
        stream: str,
        group: str,
        consumer: str,
        min_idle_seconds: float,
        start: str,
        count: int,
        keep: frozenset[str] = frozenset(),
    ) -> Claimed:
        self._check()
        state_group = self._group(stream, group)
        state = self._streams[stream]
        now = time.monotonic()
        candidates = sorted((entry_id for entry_id in state_group.pending if _key(entry_id) >= _key(start)), key=_key)
        claimed: list[RawEntry] = []
        trimmed: list[str] = []
        next_start = "0-0"
        for position, entry_id in enumerate(candidates):
            if len(claimed) + len(trimmed) >= count:
                next_start = candidates[position]
                break
            pending = state_group.pending[entry_id]
            if now - pending.delivered_at < min_idle_seconds:
                continue
            if entry_id in keep:
                pending.consumer, pending.delivered_at = consumer, now
                continue
            fields = state.entry(entry_id)
            if fields is None:
                del state_group.pending[entry_id]
                trimmed.append(entry_id)
                continue
            pending.consumer, pending.deliveries, pending.delivered_at = consumer, pending.deliveries + 1, now
            claimed.append(RawEntry(stream, entry_id, copied(fields)))
        return Claimed(next_start, claimed, trimmed)

    async def delivery_counts(self, stream: str, group: str, entry_ids: list[str]) -> dict[str, int]:
        self._check()
        pending = self._group(stream, group).pending
        return {entry_id: pending[entry_id].deliveries for entry_id in entry_ids if entry_id in pending}

    async def ack(self, stream: str, group: str, entry_id: str) -> None:
        self._check()
        self._group(stream, group).pending.pop(entry_id, None)
        self._activity()

    async def add_many_and_ack(
        self, entries: Sequence[tuple[str, dict[str, str]]], maxlen: int, group: str, acks: Sequence[tuple[str, str]]
    ) -> None:
        self._check()
        for target, fields in entries:
            await self.add(target, fields, maxlen)
        for stream, entry_id in acks:
            self._group(stream, group).pending.pop(entry_id, None)
        self._activity()

    async def add_once_and_ack(
        self,
        target: str,
        fields: dict[str, str],
        maxlen: int,
        marker: str,
        marker_ttl_seconds: float,
        stream: str,
        group: str,
        entry_id: str,
    ) -> bool:
        self._check()
        now = time.monotonic()
        self._markers = {key: expires for key, expires in self._markers.items() if expires > now}
        added = marker not in self._markers
        if added:
            await self.add(target, fields, maxlen)
            self._markers[marker] = now + marker_ttl_seconds
        await self.ack(stream, group, entry_id)
        return added

    async def read(self, positions: dict[str, str], count: int, block_seconds: float) -> list[RawEntry]:
        deadline = time.monotonic() + block_seconds
        resolved = {
            stream: (self._stream(stream).ids[-1] if position == "$" and self._stream(stream).ids else position)
            for stream, position in positions.items()
        }
        resolved = {stream: "0-0" if position == "$" else position for stream, position in resolved.items()}
        while True:
            self._check()
            entries = []
            for stream, position in resolved.items():
                state = self._stream(stream)
                start = bisect_right(state.keys, _key(position))
                for index in range(start, min(start + count, len(state.keys))):
                    entries.append(RawEntry(stream, state.ids[index], copied(state.fields[index])))
            remaining = deadline - time.monotonic()
            if entries or remaining <= 0:
                return entries
            await self._wait(resolved, remaining)

    async def groups(self, stream: str) -> list[GroupInfo]:
        self._check()
        state = self._streams.get(stream)
        if state is None:
            return []
        return [
            GroupInfo(
                stream,
                len(group.pending),
                state.sequence - group.entries_read,
                name,
                f"{group.last_delivered[0]}-{group.last_delivered[1]}",
                length=len(state.keys),
                first_id=state.ids[0] if state.ids else None,
                last_id=f"{state.sequence}-0",
                oldest_pending=min(group.pending, key=_key) if group.pending else None,
            )
            for name, group in state.groups.items()
        ]

    async def trim(self, stream: str, maxlen: int) -> Trimmed:
        self._check()
        state = self._streams.get(stream)
        excess = len(state.keys) - maxlen if state else 0
        if state is None or excess <= 0:
            return Trimmed(0, held_back=False)
        removable = len(state.keys)
        for group in state.groups.values():
            if group.pending:
                horizon = min(_key(entry_id) for entry_id in group.pending)
            else:
                horizon = (group.last_delivered[0], group.last_delivered[1] + 1)
            removable = min(removable, bisect_left(state.keys, horizon))
        cut = min(excess, removable)
        del state.keys[:cut], state.ids[:cut], state.fields[:cut]
        return Trimmed(cut, held_back=removable < excess)

    async def groups_of(self, streams: Sequence[str]) -> list[GroupInfo]:
        infos: list[GroupInfo] = []
        for stream in streams:
            infos += await self.groups(stream)
        return infos

    async def read_backwards(self, stream: str, end: str, count: int) -> list[RawEntry]:
        self._check()
        state = self._streams.get(stream)
        if state is None:
            return []
        if end == "+":
            stop = len(state.keys)
        elif end.startswith("("):  # exclusive, as Redis reads it
            stop = bisect_left(state.keys, _key(end[1:]))
        else:
            stop = bisect_right(state.keys, _key(end))
        start = max(0, stop - count)
        return [RawEntry(stream, state.ids[i], copied(state.fields[i])) for i in range(stop - 1, start - 1, -1)]

    async def length(self, stream: str) -> int:
        self._check()
        state = self._streams.get(stream)
        return len(state.keys) if state else 0

    async def ping(self, timeout_seconds: float) -> bool:
        return self.available

    async def close(self) -> None:
        return None


def _wake(waiters: Iterable[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
