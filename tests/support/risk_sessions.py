"""A paper session over a real Redis, driven bar by bar: ml (optional), risk and the executor as workers.

The test plays the feed (and, where a scenario needs it, the strategy or the operator): it publishes
bars, intents or control messages and waits until every consumer group has read and acknowledged
everything before the next step, so each scenario is deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from logos.bus import Bus, decode
from logos.contracts import Bar, Control, Message, OrderDenied, OrderIntent, TradingStateChanged
from logos.risk.limits import RiskLimits
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.executor.config import ExecutorSettings
from services.executor.worker import ExecutorWorker
from services.feed.replay import replay_bars
from services.ml.config import MLSettings
from services.ml.worker import MLWorker
from services.risk.config import RiskSettings
from services.risk.worker import RiskWorker
from services.runtime.worker import ServiceWorker
from tests.support.bus_helpers import signing

DAY = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
SESSION_ID = "risk-gate"


def frame(closes: Sequence[float], start: datetime = DAY, step: timedelta = timedelta(minutes=1)) -> pd.DataFrame:
    """One symbol's minute bars: open = close, a cent of range either side."""
    index = pd.DatetimeIndex([start + step * i for i in range(len(closes))], name="timestamp")
    return pd.DataFrame(
        {
            "open": closes,
            "high": [c + 0.01 for c in closes],
            "low": [c - 0.01 for c in closes],
            "close": closes,
            "volume": [1000.0] * len(closes),
        },
        index=index,
    )


def bar(symbol: str, ts: datetime, price: str = "100") -> Bar:
    value = Decimal(price)
    return Bar(id=f"{symbol}@{ts.isoformat()}", ts=ts, symbol=symbol, open=value, high=value, low=value,
               close=value, volume=Decimal(1000), source="test")  # fmt: skip


def intent(symbol: str, target: str, ts: datetime, price: str = "100") -> OrderIntent:
    return OrderIntent(id=f"scripted|{symbol}|{target}|{ts.isoformat()}", symbol=symbol,
                       target_quantity=Decimal(target), reference_price=Decimal(price), bar_ts=ts,
                       strategy="scripted")  # fmt: skip


@dataclass
class RedisSession:
    """ml (when a strategy is given), risk and the executor on one Redis prefix; the test drives them."""

    redis_url: str
    names: StreamNames
    limits: RiskLimits
    strategy: str | None = "buy_and_hold"
    sizing: str = "notional:10000"
    clock: str = "data"
    evaluate_seconds: float = 1.0
    venue_catalog: Path | None = None  # symbol rules the (paper) venue enforces, when they differ from ml's
    bus: Bus = field(init=False)
    workers: list[ServiceWorker] = field(init=False, default_factory=list)
    risk: RiskWorker = field(init=False)
    executor: ExecutorWorker = field(init=False)

    def logos(self, **overrides: Any) -> LogosSettings:
        return LogosSettings(redis_url=self.redis_url, stream_prefix=self.names.prefix,  # type: ignore[arg-type]
                             read_block_seconds=0.05, reclaim_idle_seconds=0.5, **overrides)  # fmt: skip

    async def start(self) -> RedisSession:
        logos = self.logos()
        self.bus = Bus.redis(self.redis_url, self.names, block_seconds=0.05)
        if self.strategy:
            ml = MLSettings(logos=logos, strategy=self.strategy, sizing=self.sizing)  # type: ignore[call-arg]
            self.workers.append(MLWorker(ml, self.bus))
        await self.start_risk()
        venue = self.logos(catalog=self.venue_catalog) if self.venue_catalog else logos
        executor = ExecutorSettings(logos=venue, session_id=SESSION_ID)  # type: ignore[call-arg]
        self.executor = ExecutorWorker(executor, self.bus)
        self.workers.append(self.executor)
        for worker in self.workers:
            if worker is not self.risk:
                await worker.start()
        await self.connected()
        await self.settle()
        return self

    async def connected(self) -> None:
        """Wait until every worker's groups exist: a bar sent before would be quiet to a group not yet there."""
        for _ in range(2000):
            if all(worker.connected() for worker in self.workers):
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the workers did not connect within 10 s")

    async def start_risk(self) -> None:
        """Start (or restart) the risk worker; its trading state comes back from risk_state.json."""
        settings = RiskSettings(logos=self.logos(), limits=self.limits, clock=self.clock,  # type: ignore[call-arg]
                                evaluate_seconds=self.evaluate_seconds)  # fmt: skip
        self.risk = RiskWorker(settings, self.bus)
        self.workers = [w for w in self.workers if not isinstance(w, RiskWorker)] + [self.risk]
        await self.risk.start()
        await self.connected()

    async def stop_risk(self) -> None:
        await self.risk.stop()

    def consumed(self) -> list[str]:
        return sorted({stream for w in self.workers for s in w.subscriptions() for stream in s.streams})

    async def settle(self) -> None:
        """Wait until every group has read and acknowledged everything."""
        assert await self.bus.wait_until_quiet(self.consumed(), timeout_seconds=30, poll_seconds=0.01)

    async def replay(self, frames: dict[str, pd.DataFrame]) -> None:
        for replayed in replay_bars(frames, self.logos().symbol_specs()):
            await self.send_bar(replayed)

    async def send_bar(self, sent: Bar) -> None:
        await self.bus.publish(self.names.bars_for(sent.symbol), sent)
        await self.settle()

    async def send_intent(self, sent: OrderIntent) -> None:
        await self.bus.publish(self.names.intents_for(sent.symbol), sent)
        await self.settle()

    async def send_control(self, sent: Control) -> None:
        await signing(self.bus).publish(self.names.control, sent)  # as the command line's control path does
        await self.settle()

    async def stream(self, name: str) -> list[Message]:
        raw = await self.bus.backend.read({name: "0"}, 10_000, 0.01)
        return [decode(entry.fields or {}, self.names.accepted_types(name)) for entry in raw]

    async def orders_stream(self) -> list[Message]:
        return await self.stream(self.names.orders)

    async def denials(self) -> list[OrderDenied]:
        return [m for m in await self.orders_stream() if isinstance(m, OrderDenied)]

    async def state_changes(self) -> list[TradingStateChanged]:
        return [m for m in await self.orders_stream() if isinstance(m, TradingStateChanged)]

    async def stop(self) -> Path:
        """Stop every worker (the executor writes the session's files) and return the session directory."""
        for worker in reversed(self.workers):
            await worker.stop()
        await self.bus.close()
        return self.executor.recorder.directory
