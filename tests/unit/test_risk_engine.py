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


def test_stale_data_on_the_data_clock_when_every_symbol_shares_a_gap_then_fresh_as_each_takes_its_turn() -> None:
    risk = engine(stale_after_seconds=180)
    symbols = ["AAPL", "MSFT", "NVDA"]
    close = NOW.replace(hour=20, minute=59)  # the last bar of a session
    for symbol in symbols:
        risk.on_bar(symbol, close, D(100))
    opening = close + timedelta(hours=17, minutes=31)  # the next session's first bar
    for symbol in symbols:  # the canonical order: time, then symbol; risk evaluates after every bar
        risk.on_bar(symbol, opening, D(100))
        assert risk.evaluate(opening) == [] and risk.state is TradingState.ACTIVE, symbol
    assert risk.stale_symbols(opening) == set()


def test_stale_data_on_the_data_clock_when_one_symbol_stops_then_stale_once_it_missed_its_turn() -> None:
    risk = engine(stale_after_seconds=120)
    for minute in range(3):
        for symbol in ("AAPL", "MSFT"):
            risk.on_bar(symbol, NOW + timedelta(minutes=minute), D(100))
    at = NOW + timedelta(minutes=5)  # MSFT goes on; AAPL, which comes first, has no bar at 15:03, 15:04, 15:05
    for minute in (3, 4):
        risk.on_bar("MSFT", NOW + timedelta(minutes=minute), D(100))
    assert risk.stale_symbols(NOW + timedelta(minutes=4)) == set()  # 2 minutes behind: within the limit
    risk.on_bar("MSFT", at, D(100))
    assert risk.stale_symbols(at) == {"AAPL"}  # it had its turn at 15:05 and missed it: 3 minutes behind
    (event,) = risk.evaluate(at)
    assert event.cause == "stale_data" and "AAPL" in event.detail


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


def probe_engine(**limits: object) -> RiskEngine:
    """The probe's account: limits 25,000 per order and 50,000 per position, AAPL at 104, whole shares."""
    risk = RiskEngine(
        RiskLimits(**({"max_order_notional": D(25_000), "max_position_notional": D(50_000)} | limits)),
        lot_sizes={"AAPL": D(1)},
    )
    risk.on_bar("AAPL", NOW, D(104))
    return risk


def held(risk: RiskEngine, quantity: str, ts: datetime = NOW) -> None:
    """The executor's account shows ``quantity`` AAPL."""
    risk.on_account(account("100000", ts, AAPL=quantity))


def test_check_when_reduction_worth_more_than_the_order_limit_then_first_slice_approved() -> None:
    risk = probe_engine()
    held(risk, "2000")
    decision = risk.check(intent("191", price="104"), NOW)
    assert decision.approved and decision.slice_number == 1
    assert decision.target_quantity == D(1760) and decision.order_quantity == D(-240)  # 240 x 104 = 24,960
    assert {"max_order_notional", "max_position", "max_gross_exposure"} <= set(decision.checks_passed)


def test_next_slices_when_account_shows_each_slice_held_then_next_until_target_reached() -> None:
    risk = probe_engine()
    held(risk, "2000")
    targets = [risk.check(intent("191", price="104"), NOW).target_quantity]
    assert risk.next_slices(NOW) == []  # the first slice is still working
    for minute in range(1, 20):
        assert targets[-1] is not None
        held(risk, str(targets[-1]), NOW + timedelta(minutes=minute))
        slices = risk.next_slices(NOW + timedelta(minutes=minute))
        if not slices:
            break
        (step,) = slices
        assert step.number == len(targets) + 1 and step.intent.target_quantity == D(191)
        assert abs(step.target_quantity - targets[-1]) * step.reference_price <= D(25_000)
        targets.append(step.target_quantity)
    assert targets == [D(n) for n in (1760, 1520, 1280, 1040, 800, 560, 320, 191)]
    assert risk.reductions == {}


def test_next_slices_when_a_newer_intent_or_a_halt_comes_then_the_reduction_stops() -> None:
    risk = probe_engine()
    held(risk, "2000")
    risk.check(intent("0", price="104"), NOW)
    assert risk.check(intent("1900", price="104"), NOW).approved  # a newer target replaces the reduction
    held(risk, "1760")
    assert risk.next_slices(NOW) == [] and risk.reductions == {}
    risk.check(intent("0", price="104"), NOW)
    risk.kill(NOW, "drill")
    held(risk, "1520")
    assert risk.next_slices(NOW) == []
    risk.resume(NOW, "drill over")
    assert risk.next_slices(NOW) == []  # a resume does not restart it: the next intent does


def test_reduction_when_trading_is_reducing_then_passes_every_notional_check() -> None:
    risk = probe_engine(max_gross_exposure=D(100_000), max_net_exposure=D(100_000))
    held(risk, "2000")
    (event,) = risk.evaluate(NOW)
    assert risk.state is TradingState.REDUCING and event.cause == "limit_breach"
    decision = risk.check(intent("1900", price="104"), NOW)  # 10,400 of order: not sliced
    assert decision.approved and decision.slice_number is None and decision.target_quantity == D(1900)
    assert risk.check(intent("2100", price="104"), NOW).reason is DenialReason.REDUCING_ONLY


def test_limit_breach_when_position_never_approved_then_reducing_with_numbers_until_within_limits() -> None:
    risk = probe_engine()
    assert risk.check(intent("191", price="104"), NOW).approved
    held(risk, "191")
    assert risk.evaluate(NOW) == []
    held(risk, "2000")  # a forged order took it there
    (event,) = risk.evaluate(NOW)
    assert event.state is TradingState.REDUCING and event.cause == "limit_breach"
    assert "position 2000 of AAPL is worth 208000 at 104, above max_position_notional 50000" in event.detail
    assert "not approved by risk: AAPL" in risk.reducing_details["limit_breach"]
    held(risk, "1000")
    assert risk.evaluate(NOW) == [] and risk.state is TradingState.REDUCING  # still 104,000
    held(risk, "480")  # 49,920
    (recovered,) = risk.evaluate(NOW)
    assert recovered.state is TradingState.ACTIVE and "limit_breach" not in risk.reducing_causes


def test_limit_breach_when_price_drifts_over_an_approved_position_then_not_a_breach() -> None:
    risk = probe_engine()
    assert risk.check(intent("230", price="104"), NOW).approved
    held(risk, "230")
    assert risk.check(intent("450", price="104"), NOW).approved  # 46,800
    held(risk, "450")
    risk.on_bar("AAPL", NOW + timedelta(minutes=1), D(130))  # 58,500
    assert risk.evaluate(NOW + timedelta(minutes=1)) == [] and risk.state is TradingState.ACTIVE


def test_limit_breach_when_gross_exposure_over_its_limit_then_raised_even_within_each_position_limit() -> None:
    risk = probe_engine(max_gross_exposure=D(60_000))
    risk.on_bar("MSFT", NOW, D(100))
    risk.on_account(account("100000", AAPL="400", MSFT="400"))  # 41,600 + 40,000, neither approved
    (event,) = risk.evaluate(NOW)
    assert event.cause == "limit_breach" and "gross exposure 81600 is above max_gross_exposure 60000" in event.detail


def test_limit_breach_when_already_reducing_for_another_cause_then_raised_as_its_own_change() -> None:
    risk = probe_engine(stale_after_seconds=60)
    risk.on_bar("MSFT", NOW + timedelta(minutes=5), D(100))
    (stale,) = risk.evaluate(NOW + timedelta(minutes=5))
    assert stale.cause == "stale_data"
    held(risk, "2000", NOW + timedelta(minutes=5))
    (breach,) = risk.evaluate(NOW + timedelta(minutes=5))
    assert breach.state is TradingState.REDUCING and breach.cause == "limit_breach"
    assert risk.evaluate(NOW + timedelta(minutes=5)) == []  # raised once
