"""Every pre-trade guard and every breaker, tripped in a paper session over a real Redis.

Each scenario is bars (small generated frames) plus risk limits, and where needed a scripted step
(an operator's command, an intent after a breaker tripped). The denial must be on the orders stream
with its reason and explanation, and in the session's session.md; a breaker's state change must be
on the orders stream and in session.md's trading-state table.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from logos.contracts import Control, ControlCommand, DenialReason, OrderRejected, TradingState
from logos.data.fixtures import fixture_catalog
from logos.risk.limits import RiskLimits
from logos.streams import StreamNames
from tests.support.bus_helpers import eventually
from tests.support.risk_sessions import DAY, RedisSession, bar, frame, intent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
D = Decimal
FLAT = [100.0] * 3
Script = Callable[[RedisSession], Awaitable[None]]


async def replay_flat(session: RedisSession) -> None:
    """buy_and_hold on AAPL at 100: one intent for 100 shares (notional 10,000) on the first bar."""
    await session.replay({"AAPL": frame(FLAT)})


async def replay_two_symbols(session: RedisSession) -> None:
    """buy_and_hold on AAPL and MSFT: two intents in the same minute."""
    await session.replay({"AAPL": frame(FLAT), "MSFT": frame(FLAT)})


async def kill_then_replay(session: RedisSession) -> None:
    await session.risk.control(ControlCommand.KILL, "drill", "test")  # what POST /kill does
    await replay_flat(session)


async def halt_then_replay(session: RedisSession) -> None:
    await session.send_control(Control(command=ControlCommand.HALT, reason="venue maintenance"))
    await replay_flat(session)


async def feed_goes_stale_then_intent(session: RedisSession) -> None:
    """MSFT's bars go on, AAPL's stop: five minutes later AAPL is stale and trading is REDUCING."""
    await session.send_bar(bar("AAPL", DAY))
    await session.send_bar(bar("MSFT", DAY))
    await session.send_bar(bar("MSFT", DAY + timedelta(minutes=5)))
    await session.send_intent(intent("AAPL", "50", DAY + timedelta(minutes=5)))


async def stale_bar_then_intent(session: RedisSession) -> None:
    """Wall clock: the last bar ages past stale_after_seconds before the breakers run again."""
    sent = datetime.now(UTC)
    await session.send_bar(bar("AAPL", sent))  # its account snapshot ran the breakers: still fresh

    async def aged() -> bool:
        return datetime.now(UTC) - sent > timedelta(seconds=2.2)

    await eventually(aged, what="the last bar to age")
    await session.send_intent(intent("AAPL", "50", sent))


async def market_falls_within_the_day_then_intent(session: RedisSession) -> None:
    """500 shares at 100, then 80 within the same day: equity 100,000 -> 90,000 (10 %)."""
    await session.replay({"AAPL": frame([100.0, 100.0, 90.0, 80.0])})
    await session.send_intent(intent("AAPL", "600", DAY + timedelta(minutes=4), "80"))


async def market_falls_from_an_earlier_peak_then_intent(session: RedisSession) -> None:
    """Peak on day one (130); day two opens at 110 and stays: 8.7 % below the peak, flat within the day."""
    day_one = frame([100.0, 100.0, 130.0])
    day_two = frame([110.0, 110.0, 110.0], start=DAY + timedelta(days=1))
    await session.replay({"AAPL": day_one})
    await session.replay({"AAPL": day_two})
    await session.send_intent(intent("AAPL", "600", DAY + timedelta(days=1, minutes=2), "110"))


async def venue_rejects_then_intent(session: RedisSession) -> None:
    """The venue takes at most 50 shares an order: both 100-share entries are rejected."""
    await replay_two_symbols(session)
    await session.send_intent(intent("AAPL", "10", DAY + timedelta(minutes=3)))


@dataclass(frozen=True)
class Scenario:
    limits: dict[str, Any]
    script: Script
    reason: DenialReason
    detail: str  # words of the denial's explanation
    cause: str | None = None  # the trading-state change the scenario causes
    state: TradingState | None = None
    session: dict[str, Any] | None = None  # RedisSession options beyond the limits


GUARDS = {
    "max_order_notional": Scenario({"max_order_notional": D(5000)}, replay_flat, DenialReason.MAX_ORDER_NOTIONAL,
                                   "exceeds 5000"),
    "max_gross_exposure": Scenario({"max_gross_exposure": D(5000)}, replay_flat, DenialReason.MAX_GROSS_EXPOSURE,
                                   "would exceed 5000"),
    "max_net_exposure": Scenario({"max_net_exposure": D(5000)}, replay_flat, DenialReason.MAX_NET_EXPOSURE,
                                 "would exceed 5000"),
    "max_position": Scenario({"max_position_notional": D(5000)}, replay_flat, DenialReason.MAX_POSITION,
                             "of AAPL would exceed 5000"),
    "order_rate": Scenario({"max_orders_per_minute": 1}, replay_two_symbols, DenialReason.ORDER_RATE,
                           "1 orders approved in the last minute (limit 1)"),
    "symbol_not_allowed": Scenario({"allowed_symbols": frozenset({"MSFT"})}, replay_flat,
                                   DenialReason.SYMBOL_NOT_ALLOWED, "AAPL is not among the allowed symbols"),
    "stale_data": Scenario({"stale_after_seconds": 2.0}, stale_bar_then_intent, DenialReason.STALE_DATA,
                           "older than 2s", session={"strategy": None, "clock": "wall", "evaluate_seconds": 60}),
    "kill_switch": Scenario({}, kill_then_replay, DenialReason.KILL_SWITCH, "the kill switch is engaged",
                            "kill_switch", TradingState.HALTED),
    "trading_state_halted": Scenario({}, halt_then_replay, DenialReason.TRADING_HALTED,
                                     "trading is halted (venue maintenance (by operator, signed with control-key))",
                                     "operator", TradingState.HALTED),
    "trading_state_reducing": Scenario({"stale_after_seconds": 120}, feed_goes_stale_then_intent,
                                       DenialReason.REDUCING_ONLY, "trading is reducing (stale_data)", "stale_data",
                                       TradingState.REDUCING, session={"strategy": None}),
}  # fmt: skip
BREAKERS = {
    "intraday_drawdown": Scenario({"max_intraday_drawdown": D("0.05")}, market_falls_within_the_day_then_intent,
                                  DenialReason.TRADING_HALTED, "below the day's start",
                                  "intraday_drawdown", TradingState.HALTED, session={"sizing": "notional:50000"}),
    "drawdown_from_peak": Scenario({"max_intraday_drawdown": D("0.05"), "max_drawdown": D("0.05")},
                                   market_falls_from_an_earlier_peak_then_intent, DenialReason.TRADING_HALTED,
                                   "below its peak", "drawdown", TradingState.HALTED,
                                   session={"sizing": "notional:50000"}),
    "reject_rate": Scenario({"max_reject_rate": D("0.5"), "reject_window": 2}, venue_rejects_then_intent,
                            DenialReason.REDUCING_ONLY, "trading is reducing (reject_rate)", "reject_rate",
                            TradingState.REDUCING),
    "stale_data": Scenario({"stale_after_seconds": 120, "recover_automatically": False},
                           feed_goes_stale_then_intent, DenialReason.REDUCING_ONLY,
                           "trading is reducing (stale_data); target 50 would not shrink position 0", "stale_data",
                           TradingState.REDUCING, session={"strategy": None}),
}  # fmt: skip
CASES = [pytest.param(s, id=f"guard-{name}") for name, s in GUARDS.items()]
CASES += [pytest.param(s, id=f"breaker-{name}") for name, s in BREAKERS.items()]


def venue_catalog(path: Path, max_quantity: str) -> Path:
    """The fixture symbols' rules, with a venue that takes at most ``max_quantity`` per order."""
    specs = [spec.model_copy(update={"max_quantity": D(max_quantity)}) for spec in fixture_catalog().values()]
    path.write_text(json.dumps([spec.model_dump(mode="json") for spec in specs]))
    return path


@pytest.mark.parametrize("scenario", CASES)
async def test_session_when_guard_or_breaker_trips_then_denial_on_stream_and_in_session_md(
    redis_url: str, names: StreamNames, tmp_path: Path, scenario: Scenario
) -> None:
    options = dict(scenario.session or {})
    if scenario.cause == "reject_rate":
        options["venue_catalog"] = venue_catalog(tmp_path / "venue.json", "50")
    session = await RedisSession(redis_url, names, RiskLimits(**scenario.limits), **options).start()
    try:
        await scenario.script(session)
        denials = await session.denials()
        changes = await session.state_changes()
    finally:
        directory = await session.stop()

    assert denials, "nothing was denied"
    denial = denials[-1]
    assert denial.reason is scenario.reason and scenario.detail in denial.detail, denial
    summary = (directory / "session.md").read_text()
    assert f"| {denial.symbol} | {scenario.reason.value} | {denial.detail} |" in summary
    assert f"- {scenario.reason.value}: {sum(d.reason is scenario.reason for d in denials)} denied" in summary
    if scenario.cause is None:
        assert changes == [] and "no change of trading state during the session" in summary
        return
    (change,) = [c for c in changes if c.cause == scenario.cause]
    assert change.trading_state is scenario.state and denial.trading_state is scenario.state
    killed = "on" if change.kill_switch else "off"
    row = f"| {change.ts.isoformat()} | {scenario.state.value} | {killed} | {scenario.cause} | {change.detail} |"
    assert row in summary


async def test_stale_feed_when_bars_return_then_trading_recovers_and_session_records_both_changes(
    redis_url: str, names: StreamNames
) -> None:
    limits = RiskLimits(stale_after_seconds=120, recover_automatically=True)
    session = await RedisSession(redis_url, names, limits, strategy=None).start()
    try:
        await feed_goes_stale_then_intent(session)
        await session.send_bar(bar("AAPL", DAY + timedelta(minutes=6)))  # the feed is back
        await session.send_intent(intent("AAPL", "50", DAY + timedelta(minutes=6)))
        decisions = await session.orders_stream()
    finally:
        directory = await session.stop()
    kinds = [(type(m).__name__, getattr(m, "reason", None) or getattr(m, "cause", None)) for m in decisions]
    assert kinds == [
        ("TradingStateChanged", "stale_data"),
        ("OrderDenied", DenialReason.REDUCING_ONLY),
        ("TradingStateChanged", "recovered"),
        ("Order", None),
    ]
    summary = (directory / "session.md").read_text()
    assert "| reducing | off | stale_data | no fresh bar for AAPL |" in summary
    assert "| active | off | recovered | every breaker that reduced trading has cleared |" in summary
    assert (directory / "orders.csv").read_text().count("\n") == 2  # header and the one order


async def test_reject_rate_when_venue_rejects_then_orders_recorded_as_rejected(
    redis_url: str, names: StreamNames, tmp_path: Path
) -> None:
    limits = RiskLimits(max_reject_rate=D("0.5"), reject_window=2)
    catalog = venue_catalog(tmp_path / "venue.json", "50")
    session = await RedisSession(redis_url, names, limits, venue_catalog=catalog).start()
    try:
        await replay_two_symbols(session)
        rejections = [m for m in await session.stream(names.fills) if isinstance(m, OrderRejected)]
    finally:
        directory = await session.stop()
    orders = (directory / "orders.csv").read_text()
    assert orders.count(",rejected,") == 2, orders
    assert (directory / "trades.csv").read_text().count("\n") == 1  # nothing filled
    assert "exceeds the venue's maximum 50" in (directory / "state.jsonl").read_text()
    assert sorted((r.symbol, r.reason) for r in rejections) == [
        ("AAPL", "quantity 100 of AAPL exceeds the venue's maximum 50"),
        ("MSFT", "quantity 100 of MSFT exceeds the venue's maximum 50"),
    ]
