"""Small helpers for driving consumers in tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from logos.auth import Authenticator
from logos.bus import Bus
from logos.contracts import Bar, OrderIntent
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.settings import LogosSettings

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


def signing(bus: Bus) -> Bus:
    """``bus`` publishing as risk and the command line do: orders and control commands signed with the home's keys.

    A test standing in for risk (an approved Order) or the operator (a Control) publishes through it;
    one that forges a message publishes on ``bus`` itself.
    """
    store = LogosSettings().secrets
    keys = {name: store.require(name, "the test").encode("utf-8") for name in (ORDERS_KEY, CONTROL_KEY)}
    return bus.with_authenticator(Authenticator(bus.names, signing=keys))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until ``check`` holds, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
