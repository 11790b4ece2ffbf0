from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from logos.backtest.metrics import annualization, compute_metrics, drawdown, infer_calendar, periods_per_year
from logos.execution.ledger import ClosedLot, OpenLot

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def trip(net: str) -> ClosedLot:
    return ClosedLot(
        "X", "long", Decimal(1), Decimal(100), Decimal(100) + Decimal(net), T0, T0, Decimal(net), Decimal(0)
    )


def open_trip(net: str) -> OpenLot:
    return OpenLot("X", "long", Decimal(1), Decimal(100), Decimal(100) + Decimal(net), T0, Decimal(net), Decimal(0))


def test_periods_per_year_when_crypto_equity_or_daily_then_matching_calendar() -> None:
    crypto = pd.date_range("2024-01-01", periods=3 * 1440, freq="min", tz="UTC")  # Mon-Wed, around the clock
    assert periods_per_year(crypto) == pytest.approx(525_960)
    assert infer_calendar(crypto).kind == "24/7" and infer_calendar(crypto).bar_seconds == 60
    sessions = pd.DatetimeIndex(
        [
            day + pd.Timedelta(minutes=870 + m)
            for day in pd.date_range("2024-01-02", periods=3, tz="UTC")
            for m in range(390)
        ]
    )
    assert periods_per_year(sessions) == 390 * 252
    assert infer_calendar(sessions).kind == "sessions" and infer_calendar(sessions).bars_per_day == 390
    assert periods_per_year(pd.bdate_range("2024-01-01", periods=30, tz="UTC")) == pytest.approx(252)
    assert periods_per_year(pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC")) == pytest.approx(365.25)


def test_metrics_when_known_curve_then_formulas_hold() -> None:
    equity = np.array([100.0, 110.0, 99.0, 99.0, 120.0, 108.0])
    index = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    positions = np.array([0, 1, 1, 0, 1, 1])
    # 6 bars at 5 a year: a span of 1.2 years, long enough for every annualized figure
    metrics = compute_metrics(equity, index, positions, [trip("10"), trip("-4"), trip("6")], 500.0, 6, 3.0, ppy=5)
    returns = equity[1:] / equity[:-1] - 1
    assert metrics.total_return == pytest.approx(0.08)
    assert metrics.span_days == pytest.approx(1.2 * 365.25)
    assert metrics.cagr == pytest.approx(1.08 ** (5 / 6) - 1)
    per_bar = returns.mean() / returns.std(ddof=1)
    assert metrics.sharpe == pytest.approx(per_bar * math.sqrt(5))
    assert metrics.sharpe_standard_error == pytest.approx(math.sqrt((1 + per_bar**2 / 2) / 5) * math.sqrt(5))
    assert metrics.volatility == pytest.approx(returns.std(ddof=1) * math.sqrt(5))
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2))
    assert metrics.sortino == pytest.approx(returns.mean() / downside * math.sqrt(5))
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


def test_metrics_when_span_under_30_days_then_annualized_figures_none_with_reasons() -> None:
    index = pd.date_range("2024-01-01", periods=2 * 1440, freq="min", tz="UTC")  # two days, around the clock
    equity = 100_000 * np.exp(np.cumsum(np.random.default_rng(1).normal(0.0001, 0.001, index.size)))
    metrics = compute_metrics(equity, index, np.ones(index.size), [], 0.0, 0, 0.0)
    assert metrics.cagr is None and metrics.sharpe is None and metrics.sortino is None and metrics.volatility is None
    assert metrics.total_return != 0 and metrics.span_days == pytest.approx(2.0)
    assert metrics.calendar == "24/7" and metrics.periods_per_year == pytest.approx(525_960)
    assert annualization(metrics)["not_annualized"] == {
        "cagr": "span 2 days < 365 days",
        "sharpe": "span 2 days < 30 days",
        "sortino": "span 2 days < 30 days",
        "volatility": "span 2 days < 30 days",
    }


def test_metrics_when_span_between_30_and_365_days_then_ratios_but_no_cagr() -> None:
    index = pd.bdate_range("2024-01-01", periods=63, tz="UTC")  # a quarter of trading days
    equity = 100.0 * np.exp(np.cumsum(np.random.default_rng(2).normal(0.001, 0.01, index.size)))
    metrics = compute_metrics(equity, index, np.ones(index.size), [], 0.0, 0, 0.0)
    assert metrics.calendar == "sessions" and metrics.span_days == pytest.approx(63 / 252 * 365.25)
    assert metrics.cagr is None and metrics.sharpe is not None and metrics.volatility is not None
    assert list(annualization(metrics)["not_annualized"]) == ["cagr"]


def test_metrics_when_open_trip_then_counted_in_trades_and_win_rate() -> None:
    equity = np.array([100.0, 101.0, 103.0])
    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    metrics = compute_metrics(equity, index, np.ones(3), [trip("-1"), open_trip("3")], 0.0, 3, 0.0)
    assert metrics.trades == 2 and metrics.open_trades == 1
    assert metrics.win_rate == pytest.approx(0.5) and metrics.average_trade_pnl == pytest.approx(1.0)
