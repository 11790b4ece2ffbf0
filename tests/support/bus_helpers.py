"""Small helpers for driving consumers in tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from logos.contracts import Bar, OrderIntent

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def bar(index: int, symbol: str = "BTC/USDT") -> Bar:
    price = Decimal(100 + index)
    return Bar(
        id=f"{symbol}-{index}",
        symbol=symbol,
        ts=T0,
        open=price,
        high=price + 1,
        low=price - 1,
        close=price,
        volume=Decimal(1),
        source="test",
    )


def intent(index: int, symbol: str = "AAPL") -> OrderIntent:
    return OrderIntent(
        id=f"intent-{index}",
        symbol=symbol,
        target_quantity=Decimal(index),
        reference_price=Decimal("100"),
        bar_ts=T0,
        strategy="test",
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until ``check`` holds, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
