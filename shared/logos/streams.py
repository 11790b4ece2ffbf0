"""Stream and consumer-group names: the only place they are spelled.

Every name is built from a prefix (``logos`` by default, one per test run in the test suite).
Per-symbol streams (bars, intents) are sharded by a stable hash of the symbol. Today one process
reads every shard; the layout is what lets several replicas of feed or ml each own a set of shards
later, with every symbol's messages still in order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from logos.contracts import MESSAGE_TYPES

DEFAULT_PREFIX = "logos"


class Group:
    """Consumer-group names: one per consuming service."""

    FEED = "feed"
    ML = "ml"
    RISK = "risk"
    EXECUTOR = "executor"
    BRAIN = "brain"


def shard_of(symbol: str, shards: int) -> int:
    """Return the shard that owns ``symbol``: stable across processes, hosts and releases."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    return zlib.crc32(symbol.encode("utf-8")) % shards


@dataclass(frozen=True)
class StreamNames:
    """The stream names of one deployment (or one test), derived from its prefix."""

    prefix: str = DEFAULT_PREFIX
    shards: int = 1

    def __post_init__(self) -> None:
        if not self.prefix or any(ch.isspace() for ch in self.prefix):
            raise ValueError(f"stream prefix must be a non-empty word, got {self.prefix!r}")
        if self.shards < 1:
            raise ValueError(f"shards must be at least 1, got {self.shards}")

    def bars(self, shard: int = 0) -> str:
        return self._sharded("bars", shard)

    def intents(self, shard: int = 0) -> str:
        return self._sharded("intents", shard)

    def bars_for(self, symbol: str) -> str:
        return self.bars(shard_of(symbol, self.shards))

    def intents_for(self, symbol: str) -> str:
        return self.intents(shard_of(symbol, self.shards))

    def all_bars(self) -> list[str]:
        return [self.bars(shard) for shard in range(self.shards)]

    def all_intents(self) -> list[str]:
        return [self.intents(shard) for shard in range(self.shards)]

    @property
    def orders(self) -> str:
        return f"{self.prefix}:orders"

    @property
    def fills(self) -> str:
        return f"{self.prefix}:fills"

    @property
    def account(self) -> str:
        return f"{self.prefix}:account"

    @property
    def signals(self) -> str:
        return f"{self.prefix}:signals"

    @property
    def status(self) -> str:
        return f"{self.prefix}:status"

    @property
    def control(self) -> str:
        return f"{self.prefix}:control"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}:dlq"

    @property
    def lag_corrections(self) -> str:
        """Prefix of the keys that keep groups' lag right after Redis lost their read counts (a restart)."""
        return f"{self.prefix}:session:lag"

    def dead_letter_marker(self, stream: str, entry_id: str, reason_digest: str) -> str:
        """Return the key that records one failure of one entry as dead-lettered (a key, not a stream)."""
        return f"{self.dlq}:seen:{stream}:{entry_id}:{reason_digest}"

    def all(self) -> list[str]:
        """Return every stream of the deployment."""
        fixed = [self.orders, self.fills, self.account, self.signals, self.status, self.control, self.dlq]
        return self.all_bars() + self.all_intents() + fixed

    def accepted_types(self, stream: str) -> frozenset[str]:
        """Return the message types a stream may carry; anything else is dead-lettered."""
        topic = self._topic(stream)
        accepted = _TOPIC_TYPES.get(topic)
        if accepted is None:
            raise ValueError(f"{stream!r} is not a stream of prefix {self.prefix!r}")
        return accepted

    def _sharded(self, topic: str, shard: int) -> str:
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} is outside 0..{self.shards - 1}")
        return f"{self.prefix}:{topic}:{shard}"

    def _topic(self, stream: str) -> str:
        head = f"{self.prefix}:"
        if not stream.startswith(head):
            return ""
        topic, _, shard = stream[len(head) :].partition(":")
        if topic in _SHARDED_TOPICS:
            return topic if shard.isdigit() and int(shard) < self.shards else ""
        return "" if shard else topic


_SHARDED_TOPICS = frozenset({"bars", "intents"})
_TOPIC_TYPES: dict[str, frozenset[str]] = {
    "bars": frozenset({"bar"}),
    # a service's watermark (logos.contracts.Watermark) follows the outputs it covers on its output streams
    "intents": frozenset({"order_intent", "watermark"}),
    # risk's decisions, approvals and denials, and its trading-state changes, in the order it made them
    "orders": frozenset({"order", "order_denied", "trading_state_changed", "watermark"}),
    # what the venue did with approved orders: executions and rejections
    "fills": frozenset({"fill", "order_rejected", "watermark"}),
    "account": frozenset({"account_snapshot", "watermark"}),
    "signals": frozenset({"signal"}),
    "status": frozenset({"service_status"}),
    "control": frozenset({"control"}),
    "dlq": frozenset({"dead_letter"}),
}
assert set().union(*_TOPIC_TYPES.values()) == set(MESSAGE_TYPES), "every message type needs a stream"
