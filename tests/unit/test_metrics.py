from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from logos.backtest.metrics import compute_metrics, drawdown, periods_per_year
from logos.execution.ledger import ClosedLot

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def trip(net: str) -> ClosedLot:
    return ClosedLot(
        "X", "long", Decimal(1), Decimal(100), Decimal(100) + Decimal(net), T0, T0, Decimal(net), Decimal(0)
    )


def test_periods_per_year_when_crypto_equity_or_daily_then_matching_calendar() -> None:
    crypto = pd.date_range("2024-01-01", periods=3 * 1440, freq="min", tz="UTC")  # Mon-Wed, around the clock
    assert periods_per_year(crypto) == pytest.approx(525_960)
    sessions = pd.DatetimeIndex(
        [
            day + pd.Timedelta(minutes=870 + m)
            for day in pd.date_range("2024-01-02", periods=3, tz="UTC")
            for m in range(390)
        ]
    )
    assert periods_per_year(sessions) == 390 * 252
    assert periods_per_year(pd.bdate_range("2024-01-01", periods=30, tz="UTC")) == pytest.approx(252)
    assert periods_per_year(pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC")) == pytest.approx(365.25)


def test_metrics_when_known_curve_then_formulas_hold() -> None:
    equity = np.array([100.0, 110.0, 99.0, 99.0, 120.0, 108.0])
    index = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    positions = np.array([0, 1, 1, 0, 1, 1])
    metrics = compute_metrics(equity, index, positions, [trip("10"), trip("-4"), trip("6")], 500.0, 6, 3.0, ppy=365)
    returns = equity[1:] / equity[:-1] - 1
    assert metrics.total_return == pytest.approx(0.08)
    assert metrics.cagr == pytest.approx(1.08 ** (365 / 6) - 1)
    assert metrics.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert metrics.sortino == pytest.approx(returns.mean() / downside * math.sqrt(365))
    assert metrics.max_drawdown == pytest.approx(99 / 110 - 1)
    assert metrics.max_drawdown_bars == 2 and metrics.max_drawdown_duration == "3 days 00:00:00"
    assert metrics.win_rate == pytest.approx(2 / 3) and metrics.profit_factor == pytest.approx(16 / 4)
    assert metrics.average_trade_pnl == pytest.approx(4)
    assert metrics.exposure == pytest.approx(4 / 6) and metrics.turnover == pytest.approx(500 / equity.mean())
    assert metrics.trades == 3 and metrics.fills == 6 and metrics.fees == 3.0


def test_metrics_when_flat_and_no_trades_then_undefined_ratios_are_none() -> None:
    equity = np.full(10, 1000.0)
    metrics = compute_metrics(equity, pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC"), np.zeros(10), [],
                              0.0, 0, 0.0)  # fmt: skip
    assert metrics.sharpe is None and metrics.sortino is None and metrics.win_rate is None
    assert metrics.profit_factor is None and metrics.max_drawdown == 0 and metrics.total_return == 0
    assert metrics.as_dict()["sharpe"] is None


def test_drawdown_when_new_highs_then_zero_and_below_peak_negative() -> None:
    assert drawdown(np.array([1.0, 2.0, 1.0, 3.0])).tolist() == [0.0, 0.0, -0.5, 0.0]
