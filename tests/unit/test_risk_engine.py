"""Every risk rule and breaker with a scenario that trips it, the trading states and the kill switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from logos.contracts import AccountSnapshot, DenialReason, Fill, OrderIntent, Position, Side, TradingState
from logos.risk.engine import RiskEngine, RiskState
from logos.risk.limits import RiskLimits

D = Decimal
NOW = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def intent(target: str, symbol: str = "AAPL", price: str = "100") -> OrderIntent:
    return OrderIntent(symbol=symbol, target_quantity=D(target), reference_price=D(price), bar_ts=NOW, strategy="s")


def account(equity: str, ts: datetime = NOW, **positions: str) -> AccountSnapshot:
    held = tuple(
        Position(symbol=s, quantity=D(q), average_price=D(100), market_price=D(100), unrealized_pnl=D(0))
        for s, q in positions.items()
    )
    return AccountSnapshot(ts=ts, cash=D(equity), equity=D(equity), positions=held)


def engine(**limits: object) -> RiskEngine:
    return RiskEngine(RiskLimits(**limits))  # type: ignore[arg-type]


def test_check_when_within_every_limit_then_approved_with_checks_listed() -> None:
    decision = engine(max_order_notional=D(10_000)).check(intent("10"), NOW)
    assert decision.approved and decision.reason is None and decision.order_quantity == D(10)
    assert decision.checks_passed[0] == "kill_switch" and "max_order_notional" in decision.checks_passed


@pytest.mark.parametrize(
    ("limits", "target", "reason", "words"),
    [
        ({"max_order_notional": D(500)}, "10", DenialReason.MAX_ORDER_NOTIONAL, "order notional 1000 exceeds 500"),
        ({"max_position_notional": D(800)}, "10", DenialReason.MAX_POSITION, "would exceed 800"),
        ({"max_gross_exposure": D(900)}, "10", DenialReason.MAX_GROSS_EXPOSURE, "gross exposure 1000"),
        ({"max_net_exposure": D(900)}, "-10", DenialReason.MAX_NET_EXPOSURE, "net exposure -1000"),
        ({"allowed_symbols": frozenset({"MSFT"})}, "1", DenialReason.SYMBOL_NOT_ALLOWED, "AAPL is not among"),
    ],
)
def test_check_when_rule_broken_then_denied_with_reason_and_numbers(
    limits: dict[str, object], target: str, reason: DenialReason, words: str
) -> None:
    decision = engine(**limits).check(intent(target), NOW)
    assert not decision.approved and decision.reason is reason and words in decision.detail


def test_order_rate_when_too_many_in_a_minute_then_denied_until_window_passes() -> None:
    risk = engine(max_orders_per_minute=2)
    assert risk.check(intent("1"), NOW).approved and risk.check(intent("2"), NOW).approved
    denied = risk.check(intent("3"), NOW + timedelta(seconds=30))
    assert denied.reason is DenialReason.ORDER_RATE and "2 orders approved in the last minute" in denied.detail
    assert risk.check(intent("3"), NOW + timedelta(seconds=61)).approved


def test_exposure_when_position_reduced_then_allowed_even_above_limit() -> None:
    risk = engine(max_gross_exposure=D(500))
    risk.on_account(account("10000", AAPL="10"))
    assert risk.check(intent("5"), NOW).approved  # shrinking is always welcome
    assert risk.check(intent("12"), NOW).reason is DenialReason.MAX_GROSS_EXPOSURE


def test_stale_data_when_feed_silent_then_reducing_and_only_reductions_pass_until_fresh() -> None:
    risk = engine(stale_after_seconds=120)
    risk.on_account(account("10000", AAPL="10"))
    risk.on_bar("AAPL", NOW, D(100))
    later = NOW + timedelta(minutes=5)
    (event,) = risk.evaluate(later)
    assert risk.state is TradingState.REDUCING and event.cause == "stale_data" and "AAPL" in event.detail
    denied = risk.check(intent("20"), later)
    assert denied.reason is DenialReason.REDUCING_ONLY and "stale_data" in denied.detail
    assert risk.check(intent("0"), later).approved
    risk.on_bar("AAPL", later, D(101))
    (recovered,) = risk.evaluate(later)
    assert recovered.state is TradingState.ACTIVE and risk.check(intent("20"), later).approved


def test_stale_data_when_policy_keeps_reducing_then_no_automatic_recovery() -> None:
    risk = engine(stale_after_seconds=60, recover_automatically=False)
    risk.on_bar("AAPL", NOW, D(100))
    risk.evaluate(NOW + timedelta(minutes=2))
    risk.on_bar("AAPL", NOW + timedelta(minutes=2), D(100))
    assert risk.evaluate(NOW + timedelta(minutes=2)) == [] and risk.state is TradingState.REDUCING


def test_intraday_drawdown_when_breached_then_halted_until_operator_resumes() -> None:
    risk = engine(max_intraday_drawdown=D("0.05"))
    risk.on_account(account("10000"))
    risk.on_account(account("9400", NOW + timedelta(hours=1)))
    (event,) = risk.evaluate(NOW + timedelta(hours=1))
    assert event.state is TradingState.HALTED and event.cause == "intraday_drawdown" and "6.00%" in event.detail
    denied = risk.check(intent("0"), NOW)
    assert denied.reason is DenialReason.TRADING_HALTED and "intraday_drawdown" not in denied.detail
    assert "below the day's start" in denied.detail
    risk.evaluate(NOW + timedelta(hours=2))
    assert risk.state is TradingState.HALTED  # breakers never lift a halt
    risk.resume(NOW + timedelta(hours=2), "reviewed")
    assert risk.state is TradingState.ACTIVE and risk.evaluate(NOW + timedelta(hours=2)) == []


def test_drawdown_from_peak_when_breached_then_halted() -> None:
    risk = engine(max_drawdown=D("0.10"))
    risk.on_account(account("10000"))
    risk.on_account(account("12000", NOW + timedelta(days=1)))
    risk.on_account(account("10700", NOW + timedelta(days=2)))
    (event,) = risk.evaluate(NOW + timedelta(days=2))
    assert event.cause == "drawdown" and risk.state is TradingState.HALTED and "peak 12000" in event.detail


def test_reject_rate_when_venue_keeps_rejecting_then_reducing() -> None:
    risk = engine(max_reject_rate=D("0.5"), reject_window=4)
    for rejected in (True, False, True, False):
        risk.on_order_outcome(rejected)
    (event,) = risk.evaluate(NOW)
    assert event.cause == "reject_rate" and risk.state is TradingState.REDUCING
    for _ in range(4):
        risk.on_order_outcome(False)
    assert risk.evaluate(NOW)[0].state is TradingState.ACTIVE


def test_kill_switch_when_engaged_then_everything_denied_and_survives_restore() -> None:
    risk = engine()
    risk.kill(NOW, "drill")
    decision = risk.check(intent("0"), NOW)
    assert decision.reason is DenialReason.KILL_SWITCH and risk.state is TradingState.HALTED
    restored = RiskEngine.restore(risk.limits, RiskState.model_validate_json(risk.snapshot().model_dump_json()))
    assert restored.killed and restored.check(intent("1"), NOW).reason is DenialReason.KILL_SWITCH
    restored.resume(NOW, "drill over")
    assert restored.check(intent("1"), NOW).approved


def test_fills_when_applied_then_position_view_moves_and_snapshot_replaces_it() -> None:
    risk = engine()
    risk.on_fill(Fill(order_id="o", symbol="AAPL", side=Side.BUY, quantity=D(3), price=D(100)))
    risk.on_fill(Fill(order_id="o", symbol="AAPL", side=Side.SELL, quantity=D(1), price=D(100)))
    assert risk.check(intent("2"), NOW).order_quantity == 0
    risk.on_account(account("1000", AAPL="5"))
    assert risk.check(intent("2"), NOW).order_quantity == D(-3)
