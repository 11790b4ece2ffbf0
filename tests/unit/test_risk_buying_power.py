"""Risk denies a buy that opens or grows a position with more than the account's cash (and its tolerance)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from logos.contracts import AccountSnapshot, DenialReason, Fill, OpenOrder, OrderIntent, Position, Side
from logos.risk.engine import RiskEngine
from logos.risk.limits import DEFAULT_LIMITS, RiskLimits
from logos.risk.remedies import remedy

D = Decimal
NOW = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
TWO_PERCENT = D("0.02")


def intent(target: str, symbol: str = "AAPL", price: str = "100") -> OrderIntent:
    return OrderIntent(symbol=symbol, target_quantity=D(target), reference_price=D(price), bar_ts=NOW, strategy="s")


def account(cash: str, **positions: str) -> AccountSnapshot:
    """An account holding ``cash`` and ``positions`` (each marked at 100)."""
    held = tuple(
        Position(symbol=symbol, quantity=D(quantity), average_price=D(100), market_price=D(100), unrealized_pnl=D(0))
        for symbol, quantity in positions.items()
    )
    equity = D(cash) + sum((position.quantity * 100 for position in held), D(0))
    return AccountSnapshot(ts=NOW, cash=D(cash), equity=equity, positions=held)


def risk_with(cash: str, tolerance: Decimal | None = TWO_PERCENT, **positions: str) -> RiskEngine:
    risk = RiskEngine(RiskLimits(buying_power_tolerance=tolerance))
    risk.on_account(account(cash, **positions))
    return risk


def test_all_in_buy_when_flat_then_approved_and_buying_power_listed() -> None:
    decision = risk_with("100000").check(intent("1000"), NOW)  # equity:1.0 when flat: the whole cash
    assert decision.approved and "buying_power" in decision.checks_passed
    assert decision.checks_passed.index("buying_power") < decision.checks_passed.index("order_rate")


def test_buy_when_cost_within_the_tolerance_over_cash_then_approved() -> None:
    assert risk_with("100000").check(intent("1020"), NOW).approved  # 102,000 = cash x 1.02


def test_buy_when_cost_beyond_the_tolerance_then_denied_with_cost_cash_and_tolerance() -> None:
    decision = risk_with("100000").check(intent("1021"), NOW)
    assert not decision.approved and decision.reason is DenialReason.INSUFFICIENT_CASH
    assert decision.detail == (
        "buying 1021 AAPL at 100 costs 102100, more than the cash 100000 with the buying_power_tolerance of 2% "
        "allows (102000.00)"
    )
    assert "buying_power" not in decision.checks_passed


def test_buy_when_cash_is_committed_to_another_position_then_denied() -> None:
    risk = risk_with("10000", AAPL="900")  # 90,000 of AAPL, 10,000 of cash
    decision = risk.check(intent("500", symbol="MSFT"), NOW)
    assert decision.reason is DenialReason.INSUFFICIENT_CASH and "costs 50000" in decision.detail
    assert "the cash 10000" in decision.detail


def test_growing_buy_when_only_the_difference_is_affordable_then_approved() -> None:
    risk = risk_with("10000", AAPL="900")
    assert risk.check(intent("1000"), NOW).approved  # 100 more at 100: within the cash
    assert risk.check(intent("1010"), NOW).reason is DenialReason.INSUFFICIENT_CASH


def test_buy_when_it_covers_a_short_then_approved_as_a_reduction() -> None:
    risk = risk_with("0", AAPL="-500")
    assert risk.check(intent("0"), NOW).approved
    assert risk.check(intent("-100"), NOW).approved


def test_buy_when_it_flips_a_short_to_long_then_its_whole_cost_is_checked() -> None:
    risk = risk_with("1000", AAPL="-5")  # the short's proceeds are part of the cash
    assert risk.check(intent("5"), NOW).approved  # 10 bought for 1,000
    assert risk.check(intent("6"), NOW).reason is DenialReason.INSUFFICIENT_CASH


def test_sell_when_cash_is_zero_then_never_denied_for_cash() -> None:
    risk = risk_with("0", AAPL="10")
    assert risk.check(intent("0"), NOW).approved and risk.check(intent("-10"), NOW).approved


def test_buy_when_no_account_snapshot_yet_then_the_check_passes() -> None:
    decision = RiskEngine(RiskLimits()).check(intent("1000000"), NOW)
    assert decision.approved and "buying_power" in decision.checks_passed


def test_buy_when_tolerance_is_off_then_any_cost_passes() -> None:
    assert risk_with("100", tolerance=None).check(intent("1000"), NOW).approved


def test_buy_when_tolerance_is_zero_then_the_cash_is_the_limit() -> None:
    risk = risk_with("1000", tolerance=D(0))
    assert risk.check(intent("10"), NOW).approved
    assert risk.check(intent("10.01"), NOW).reason is DenialReason.INSUFFICIENT_CASH


def test_buy_when_cash_is_negative_then_denied() -> None:
    assert risk_with("-5").check(intent("1"), NOW).reason is DenialReason.INSUFFICIENT_CASH


def test_cash_when_a_later_snapshot_arrives_then_the_check_uses_it() -> None:
    risk = risk_with("1000")
    assert risk.check(intent("20"), NOW).reason is DenialReason.INSUFFICIENT_CASH
    risk.on_account(account("5000"))
    assert risk.check(intent("20"), NOW).approved


def test_default_limits_when_read_then_tolerance_is_two_percent_and_remedy_names_it() -> None:
    assert DEFAULT_LIMITS.buying_power_tolerance == D("0.02") == RiskLimits().buying_power_tolerance
    assert "RISK_LIMITS__BUYING_POWER_TOLERANCE" in remedy(DenialReason.INSUFFICIENT_CASH)


def test_exposure_when_another_symbols_order_still_works_then_counted_against_the_limit() -> None:
    risk = RiskEngine(RiskLimits(max_gross_exposure=D(30_000), buying_power_tolerance=None))
    risk.on_bar("BTC-USD", NOW, D(40_000))
    # BTC's entry was approved on this bar and works until BTC's next bar: nothing is held yet
    working = (OpenOrder(symbol="BTC-USD", quantity=D("0.5")),)
    risk.on_account(AccountSnapshot(ts=NOW, cash=D(100_000), equity=D(100_000), open_orders=working))
    decision = risk.check(intent("10", symbol="ETH-USD", price="2000"), NOW)

    assert not decision.approved and decision.reason is DenialReason.MAX_GROSS_EXPOSURE
    assert decision.detail == "gross exposure 40000.0 would exceed 30000"  # 0.5 BTC at 40,000, 10 ETH at 2,000


def test_buying_power_when_another_symbols_buy_still_works_then_its_cash_is_spoken_for() -> None:
    risk = RiskEngine(RiskLimits(buying_power_tolerance=TWO_PERCENT))
    risk.on_bar("BTC-USD", NOW, D(40_000))
    working = (OpenOrder(symbol="BTC-USD", quantity=D("0.5")),)
    risk.on_account(AccountSnapshot(ts=NOW, cash=D(30_000), equity=D(30_000), open_orders=working))
    decision = risk.check(intent("6", symbol="ETH-USD", price="2000"), NOW)

    assert not decision.approved and decision.reason is DenialReason.INSUFFICIENT_CASH
    assert "more than the cash 10000.0 left after working buys of 20000.0" in decision.detail


def test_working_order_when_filled_then_no_longer_counted() -> None:
    risk = RiskEngine(RiskLimits(max_gross_exposure=D(30_000), buying_power_tolerance=None))
    risk.on_bar("BTC-USD", NOW, D(40_000))
    working = (OpenOrder(symbol="BTC-USD", quantity=D("0.5")),)
    risk.on_account(AccountSnapshot(ts=NOW, cash=D(100_000), equity=D(100_000), open_orders=working))
    risk.on_fill(Fill(order_id="o1", symbol="BTC-USD", side=Side.BUY, quantity=D("0.5"), price=D(40_000)))

    assert risk.open_orders == {}
    assert risk.positions == {"BTC-USD": D("0.5")}
