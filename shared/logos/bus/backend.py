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


@dataclass(frozen=True)
class GroupInfo:
    stream: str
    pending: int
    lag: int | None  # None: the store cannot tell (group missing, or entries trimmed under it)
    group: str = ""
    last_delivered: str | None = None


class StreamBackend(Protocol):
    """Redis-stream semantics: append, consumer groups, pending lists, claiming, acknowledging."""

    async def add(self, stream: str, fields: dict[str, str], maxlen: int) -> str: ...

    async def ensure_group(self, stream: str, group: str) -> None: ...

    async def read_group(
        self, group: str, consumer: str, positions: dict[str, str], count: int, block_seconds: float
    ) -> list[RawEntry]: ...

    async def autoclaim(
        self, stream: str, group: str, consumer: str, min_idle_seconds: float, start: str, count: int
    ) -> Claimed: ...

    async def delivery_counts(self, stream: str, group: str, entry_ids: list[str]) -> dict[str, int]: ...

    async def ack(self, stream: str, group: str, entry_id: str) -> None: ...

    async def add_many_and_ack(
        self, entries: Sequence[tuple[str, dict[str, str]]], maxlen: int, stream: str, group: str, entry_id: str
    ) -> None:
        """Append ``entries`` (stream, fields) in order and acknowledge ``entry_id``, all or nothing."""
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

    async def read(self, positions: dict[str, str], count: int, block_seconds: float) -> list[RawEntry]: ...

    async def groups(self, stream: str) -> list[GroupInfo]: ...

    async def groups_of(self, streams: Sequence[str]) -> list[GroupInfo]:
        """The groups of every one of ``streams``, in one round trip where the store allows it."""
        ...

    async def read_backwards(self, stream: str, end: str, count: int) -> list[RawEntry]: ...

    async def length(self, stream: str) -> int: ...

    async def ping(self, timeout_seconds: float) -> bool: ...

    async def wait_for_activity(self, seconds: float) -> None:
        """Return once entries may have been added or acknowledged (at the latest after ``seconds``)."""
        ...

    async def close(self) -> None: ...
