"""The executor's own hard limits: per-order and per-position notional, the order rate, their defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from logos.contracts import Order
from logos.risk.limits import DEFAULT_LIMITS, ConfiguredLimits, RiskLimits
from services.cli import app
from services.executor.config import ExecutorSettings
from services.executor.hard_limits import HardLimitGate, HardLimits
from tests.support.cli_process import run_logos

D = Decimal
NOW = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
LIMITS = HardLimits(max_order_notional=D(50_000), max_position_notional=D(100_000), max_orders_per_minute=3)


def order(target: str, ts: datetime = NOW, price: str = "104", number: int = 0) -> Order:
    return Order(id=f"d{number}", ts=ts, intent_id=f"i{number}", symbol="AAPL", target_quantity=D(target),
                 reference_price=D(price), strategy="s")  # fmt: skip


def test_admit_when_the_probe_forges_a_target_of_2000_then_refused_by_the_order_notional_with_numbers() -> None:
    gate = HardLimitGate(LIMITS)
    refusal = gate.admit(order("2000"), D(191), D(104))
    assert refusal is not None and refusal.limit == "max_order_notional"
    assert refusal.detail == ("order of 1809 AAPL at 104 is worth 188136, above the executor's hard limit 50000")
    assert gate.refused == 1 and gate.last == [("d0", refusal)]


def test_admit_when_the_position_after_the_order_is_too_large_then_refused_by_the_position_notional() -> None:
    refusal = HardLimitGate(LIMITS).admit(order("1000"), D(600), D(104))  # 41,600 of order, 104,000 of position
    assert refusal is not None and refusal.limit == "max_position_notional"
    assert "position of 1000 AAPL (from 600) at 104 would be worth 104000" in refusal.detail


def test_admit_when_a_position_over_the_limit_is_reduced_then_never_refused_by_the_position_limit() -> None:
    gate = HardLimitGate(LIMITS)
    assert gate.admit(order("1760"), D(2000), D(104)) is None  # 208,000 -> 183,040: still over, but smaller
    assert gate.admit(order("-1760", number=1), D(2000), D(104)) is not None  # through zero is no reduction


def test_admit_when_priced_then_the_executors_own_mark_counts_not_the_orders_reference_price() -> None:
    gate = HardLimitGate(LIMITS)
    assert gate.admit(order("600", price="1"), D(0), D(104)) is not None  # a forged low reference price
    assert gate.admit(order("400", price="104"), D(0), None) is None  # no bar yet: the reference price


def test_admit_when_more_orders_than_the_rate_in_a_minute_of_their_clock_then_refused_until_it_passes() -> None:
    gate = HardLimitGate(LIMITS)
    for number in range(3):
        assert gate.admit(order(str(10 + number), NOW + timedelta(seconds=number), number=number), D(0), D(104)) is None
    burst = gate.admit(order("20", NOW + timedelta(seconds=30), number=4), D(0), D(104))
    assert burst is not None and burst.limit == "max_orders_per_minute"
    assert "3 orders sent in the minute before 2024-03-04T14:30:30+00:00" in burst.detail
    assert gate.admit(order("20", NOW + timedelta(seconds=61), number=5), D(0), D(104)) is None


def test_admit_when_the_target_is_already_held_then_passes_and_is_not_counted() -> None:
    gate = HardLimitGate(HardLimits(D(1), D(1), 1))
    assert gate.admit(order("2000"), D(2000), D(104)) is None
    assert gate.admit(order("2000", number=1), D(2000), D(104)) is None


def test_defaults_when_nothing_set_then_twice_risks_defaults_above_every_risk_default() -> None:
    limits = ExecutorSettings().hard_limits(DEFAULT_LIMITS)
    assert limits == HardLimits(D(50_000), D(100_000), 120)
    assert limits.below(DEFAULT_LIMITS) == []


def test_defaults_when_risks_limits_raised_in_the_environment_then_the_executors_follow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISK_LIMITS__MAX_ORDER_NOTIONAL", "1000000")
    monkeypatch.setenv("RISK_LIMITS__MAX_ORDERS_PER_MINUTE", "off")
    risk = ConfiguredLimits().limits
    limits = ExecutorSettings().hard_limits(risk)
    assert limits == HardLimits(D(2_000_000), D(100_000), 120)  # an off rule: twice risk's default
    assert limits.below(risk) == [
        "RISK_LIMITS__MAX_ORDERS_PER_MINUTE is off: the executor refuses every order above its own "
        "EXECUTOR_MAX_ORDERS_PER_MINUTE=120"
    ]


def test_below_when_an_executor_limit_is_set_under_risks_then_named_with_both_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXECUTOR_MAX_ORDER_NOTIONAL", "20000")
    risk = RiskLimits(max_order_notional=D(25_000), max_position_notional=D(50_000), max_orders_per_minute=60)
    assert ExecutorSettings().hard_limits(risk).below(risk) == [
        "EXECUTOR_MAX_ORDER_NOTIONAL=20000 is below RISK_LIMITS__MAX_ORDER_NOTIONAL=25000: the executor refuses "
        "orders risk approves; raise it, or lower risk's"
    ]


def test_validate_config_when_an_executor_limit_sits_below_risks_then_ok_with_a_warning_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXECUTOR_MAX_POSITION_NOTIONAL", "40000")
    result = CliRunner().invoke(app, ["validate-config"])
    assert result.exit_code == 0, result.output
    assert "executor hard limits: max_order_notional=50000, max_position_notional=40000, max_orders_per_minute=120" in (
        result.output
    )
    assert (
        "warning: EXECUTOR_MAX_POSITION_NOTIONAL=40000 is below RISK_LIMITS__MAX_POSITION_NOTIONAL=50000: the "
        "executor refuses orders risk approves; raise it, or lower risk's"
    ) in result.output


def test_validate_config_when_defaults_then_no_hard_limit_warning() -> None:
    result = CliRunner().invoke(app, ["validate-config"])
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.output


def test_serve_when_a_hard_limit_is_not_a_number_then_one_line_and_exit_2() -> None:
    completed = run_logos("serve", "executor", env={"EXECUTOR_MAX_ORDERS_PER_MINUTE": "0"})
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.splitlines() == [
        "error: executor: EXECUTOR_MAX_ORDERS_PER_MINUTE: Input should be greater than or equal to 1"
    ]
