"""The stream primitives the bus is built on, implemented by Redis and by an in-memory store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class BackendUnavailable(ConnectionError):
    """The stream store cannot be reached right now; retry later."""


class GroupMissing(RuntimeError):
    """A consumer group (or its stream) vanished, e.g. after the store lost its data."""


@dataclass(frozen=True)
class RawEntry:
    """One stream entry as stored; ``fields`` is None when the entry was trimmed away."""

    stream: str
    entry_id: str
    fields: dict[str, str] | None


@dataclass(frozen=True)
class Claimed:
    """Result of one reclaim pass over a stream."""

    next_start: str
    entries: list[RawEntry]
    trimmed_ids: list[str]


def id_key(entry_id: str) -> tuple[int, int]:
    """Order stream ids as Redis does: milliseconds, then sequence (``-`` and ``0`` come first)."""
    if entry_id in ("-", "0"):
        return (0, 0)
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


@dataclass(frozen=True)
class GroupInfo:
    """A consumer group on one stream; the stream's own figures are there when the store read them too."""

    stream: str
    pending: int
    lag: int | None  # None: the store cannot tell (group missing, or entries deleted under it)
    group: str = ""
    last_delivered: str | None = None
    length: int | None = None  # entries the stream holds now
    first_id: str | None = None  # its oldest entry (None: empty, or not read)
    last_id: str | None = None  # the last id it ever gave
    oldest_pending: str | None = None

    def lost(self) -> int | None:
        """Entries trimmed before the group read them, as far as the figures show; None if they cannot tell.

        The store's lag is entries added minus entries the group read, so entries trimmed unread stay
        in it for good, while what is left to read is at most the stream's length: the difference is
        exact once the group has read everything (or when it is still before the oldest entry), and
        a lower bound in between.
        """
        if self.lag is None or self.length is None:
            return None
        if self.last_delivered is not None and self.last_delivered == self.last_id:
            return self.lag  # nothing is left to read: all of the lag is entries that are gone
        return max(self.lag - self.length, 0)

    def behind(self) -> int | None:
        """Entries still there for the group to read (its lag without what was lost)."""
        if self.lag is None:
            return None
        return max(self.lag - (self.lost() or 0), 0)

    def pending_trimmed(self) -> bool:
        """Tell whether an entry the group was delivered but never acknowledged is gone from the stream."""
        if self.oldest_pending is None:
            return False
        if self.length == 0:
            return True
        return self.first_id is not None and id_key(self.oldest_pending) < id_key(self.first_id)


@dataclass(frozen=True)
class Trimmed:
    """What one trim of a stream did: entries removed, and whether unacknowledged entries held it back."""

    removed: int
    held_back: bool


class StreamBackend(Protocol):
    """Redis-stream semantics: append, consumer groups, pending lists, claiming, acknowledging."""

    async def add(self, stream: str, fields: dict[str, str], maxlen: int) -> str: ...

    async def ensure_group(self, stream: str, group: str) -> None: ...

    async def read_group(
        self, group: str, consumer: str, positions: dict[str, str], count: int, block_seconds: float
    ) -> list[RawEntry]: ...

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
        """Claim entries idle for ``min_idle_seconds`` for ``consumer``, counting a delivery for each.

        ``keep``: ids the consumer holds on purpose (deferred): they are not returned and their
        delivery count does not grow, so waiting is never mistaken for failing.
        """
        ...

    async def delivery_counts(self, stream: str, group: str, entry_ids: list[str]) -> dict[str, int]: ...

    async def ack(self, stream: str, group: str, entry_id: str) -> None: ...

    async def add_many_and_ack(
        self, entries: Sequence[tuple[str, dict[str, str]]], maxlen: int, group: str, acks: Sequence[tuple[str, str]]
    ) -> None:
        """Append ``entries`` (stream, fields) in order and acknowledge ``acks`` (stream, entry id), all or nothing."""
        ...

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
        """Append to ``target`` and set ``marker`` unless it is set, acknowledge, all at once; tell if appended."""
        ...

    async def trim(self, stream: str, maxlen: int) -> Trimmed:
        """Cut ``stream`` towards ``maxlen`` entries, never an entry a group has not acknowledged.

        A group's horizon is its oldest pending entry or, with nothing pending, the entry after the
        last one it was delivered; the stream is cut below the lowest horizon of its groups only. A
        stream no group reads is cut to ``maxlen``.
        """
        ...

    async def read(self, positions: dict[str, str], count: int, block_seconds: float) -> list[RawEntry]: ...

    async def groups(self, stream: str) -> list[GroupInfo]:
        """The groups of ``stream`` with the stream's length, first and last ids and each oldest pending id."""
        ...

    async def groups_of(self, streams: Sequence[str]) -> list[GroupInfo]:
        """The groups of every one of ``streams``, in one round trip where the store allows it."""
        ...

    async def read_backwards(self, stream: str, end: str, count: int) -> list[RawEntry]:
        """Entries of ``stream`` up to ``end`` (an id, ``(id`` to exclude it, or ``+``), newest first."""
        ...

    async def length(self, stream: str) -> int: ...

    async def ping(self, timeout_seconds: float) -> bool: ...

    async def wait_for_activity(self, seconds: float) -> None:
        """Return once entries may have been added or acknowledged (at the latest after ``seconds``)."""
        ...

    async def close(self) -> None: ...
