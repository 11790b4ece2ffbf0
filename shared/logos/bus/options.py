"""How a consumer reads, and what it has done so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from logos.contracts import utc_now


@dataclass(frozen=True)
class ConsumerOptions:
    """Read and redelivery policy of one consumer."""

    batch_size: int = 100
    block_seconds: float = 1.0
    max_deliveries: int = 5
    reclaim_idle_seconds: float = 30.0

    @property
    def reclaim_interval_seconds(self) -> float:
        """How often to look for stuck entries: twice per idle threshold, at most 20 times a second."""
        return max(self.reclaim_idle_seconds / 2, 0.05)


@dataclass
class LastEntry:
    stream: str
    entry_id: str
    type: str
    at: datetime


@dataclass
class ConsumerStats:
    """Counters one consumer keeps; services expose them on /status and /metrics."""

    handled: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # by the reason's first word, e.g. "unauthenticated"
    handler_failures: int = 0
    reclaimed: int = 0
    trimmed_before_handled: int = 0
    reconnects: int = 0
    connected: bool = False
    running: bool = False
    last: LastEntry | None = None

    @property
    def handled_total(self) -> int:
        return sum(self.handled.values())

    def count_handled(self, stream: str, entry_id: str, message_type: str) -> None:
        """Count an entry handled and acknowledged (by the consumer, or later by a handler that held it)."""
        self.handled[message_type] = self.handled.get(message_type, 0) + 1
        self.last = LastEntry(stream, entry_id, message_type, utc_now())
