"""Performance metrics of an equity curve and its round trips; the formulas are in docs/BACKTESTING.md.

Per-bar returns are r_t = E_t / E_{t-1} - 1 on the equity curve E, and ``periods_per_year`` is the
number of bars in a year in the data's calendar (see :func:`infer_calendar`). Annualized figures need
a long enough sample: CAGR at least a year (returns over shorter periods are not annualized, as GIPS
requires), Sharpe, Sortino and volatility at least 30 days; below that they are None and
:func:`unannualized` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from logos.execution.ledger import ClosedLot, OpenLot

MINUTES_PER_YEAR_24_7 = 365.25 * 24 * 60
DAYS_PER_YEAR = 365.25
TRADING_DAYS_PER_YEAR = 252
MIN_DAYS_FOR_CAGR = 365
MIN_DAYS_FOR_RATIOS = 30
RATIOS = ("sharpe", "sortino", "volatility")
ROUND_THE_CLOCK_SECONDS = 20 * 3600


@dataclass(frozen=True)
class Calendar:
    """How bars fill a year, as inferred from their timestamps."""

    kind: str  # "24/7" (bars around the clock, weekends included) or "sessions" (trading days only)
    bar_seconds: float
    bars_per_day: float
    days_per_year: float

    @property
    def periods_per_year(self) -> float:
        return self.bars_per_day * self.days_per_year


UNKNOWN_CALENDAR = Calendar("unknown", 0.0, 1.0, 1.0)


def infer_calendar(index: pd.DatetimeIndex) -> Calendar:
    """Infer the data's calendar from the bar spacing and the days the bars cover.

    Round-the-clock data (bars on weekends, days covered for 20 hours or more, or 20 hours of bars
    without a gap) counts 365.25 days a year at the median bar spacing; session data (equities)
    counts 252 trading days of as many bars as the median trading day holds. Daily or slower bars
    count 365.25 or 252 days the same way.
    """
    if len(index) < 2:
        return UNKNOWN_CALENDAR
    nanoseconds = index.as_unit("ns").asi8
    steps = np.diff(nanoseconds)
    even = bool((steps == steps[0]).all())
    # evenly spaced bars (the usual case) have their one step as the median, without a partition
    step = float(steps[0] if even else np.median(steps)) / 1e9
    if step <= 0:
        return UNKNOWN_CALENDAR
    if even and step < 86_400 and steps.size * step >= ROUND_THE_CLOCK_SECONDS:
        return Calendar("24/7", step, 86_400 / step, DAYS_PER_YEAR)  # a market that never closed for 20 hours
    days = nanoseconds // 86_400_000_000_000
    if np.all(days[1:] >= days[:-1]):  # sorted, as validated data is: count runs without sorting
        starts = np.concatenate([[0], np.flatnonzero(np.diff(days)) + 1])
        covered, bars_per_day = days[starts], np.diff(np.append(starts, days.size))
    else:
        covered, bars_per_day = np.unique(days, return_counts=True)
    weekend = bool(((covered + 3) % 7 >= 5).any())  # 1970-01-01 was a Thursday
    if step >= 86_400:  # daily bars or slower
        days_per_year = DAYS_PER_YEAR if weekend else TRADING_DAYS_PER_YEAR
        return Calendar("24/7" if weekend else "sessions", step, 86_400 / step, days_per_year)
    typical_day = float(np.median(bars_per_day))
    if weekend or typical_day * step >= ROUND_THE_CLOCK_SECONDS:
        return Calendar("24/7", step, 86_400 / step, DAYS_PER_YEAR)
    return Calendar("sessions", step, typical_day, TRADING_DAYS_PER_YEAR)


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars in a year at this index's frequency, in the calendar :func:`infer_calendar` finds."""
    return infer_calendar(index).periods_per_year


@dataclass(frozen=True)
class TripResults:
    """The round trips as the metrics read them: each one's ``float(net_pnl)`` (closed first) and how many are open."""

    net_pnls: np.ndarray
    open: int


@dataclass(frozen=True)
class Metrics:
    """Every reported metric; ratios are fractions (0.05 = 5 %)."""

    start_equity: float
    end_equity: float
    total_return: float
    cagr: float | None
    sharpe: float | None
    sharpe_standard_error: float | None
    sortino: float | None
    volatility: float | None
    max_drawdown: float
    max_drawdown_bars: int
    max_drawdown_duration: str
    trades: int
    open_trades: int
    win_rate: float | None
    profit_factor: float | None
    average_trade_pnl: float | None
    exposure: float
    turnover: float
    fills: int
    fees: float
    bars: int
    periods_per_year: float
    calendar: str
    bar_seconds: float
    span_days: float

    def as_dict(self) -> dict[str, Any]:
        return {key: _rounded(value) for key, value in asdict(self).items()}


def unannualized(span_days: float) -> dict[str, str]:
    """Say which annualized figures a sample of ``span_days`` leaves out, and why."""
    reasons: dict[str, str] = {}
    if span_days < MIN_DAYS_FOR_CAGR:
        reasons["cagr"] = f"span {span_days:.3g} days < {MIN_DAYS_FOR_CAGR} days"
    if span_days < MIN_DAYS_FOR_RATIOS:
        for name in RATIOS:
            reasons[name] = f"span {span_days:.3g} days < {MIN_DAYS_FOR_RATIOS} days"
    return reasons


def annualization(metrics: Metrics) -> dict[str, Any]:
    """Return the rule annualized figures met or missed: the span each needs, and which were left out why."""
    return {
        "min_days": {"cagr": MIN_DAYS_FOR_CAGR, **{name: MIN_DAYS_FOR_RATIOS for name in RATIOS}},
        "not_annualized": unannualized(metrics.span_days),
    }


def _rounded(value: Any) -> Any:
    # 12 significant digits: stable text across platforms, far below any meaningful difference
    if isinstance(value, float):
        return float(f"{value:.12g}") if math.isfinite(value) else None
    return value


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Fraction below the running peak at every bar (0 at a new high, negative below it)."""
    peak = np.maximum.accumulate(equity)
    # in place: a million-bar curve makes 8 MB per temporary (0 where there is no positive peak yet)
    positive = peak > 0
    depth: np.ndarray = np.divide(equity, peak, out=peak, where=positive)
    if not positive.all():
        depth[~positive] = 1.0
    depth -= 1.0
    return depth


def _longest_underwater(depth: np.ndarray) -> tuple[int, int, int]:
    """Return (length, start, end) of the longest run of bars below a previous peak."""
    underwater = np.concatenate([[False], depth < 0, [False]])
    edges = np.flatnonzero(np.diff(underwater.astype(np.int8)))
    if edges.size == 0:
        return 0, 0, 0
    starts, ends = edges[::2], edges[1::2]
    longest = int(np.argmax(ends - starts))
    return int(ends[longest] - starts[longest]), int(starts[longest]), int(ends[longest])


def _sharpe_standard_error(per_bar_sharpe: float, returns: int, ppy: float) -> float:
    # Lo (2002), i.i.d. returns: SE of the per-bar ratio is sqrt((1 + SR^2 / 2) / n), scaled like the ratio
    return math.sqrt((1.0 + per_bar_sharpe**2 / 2.0) / returns) * math.sqrt(ppy)


def compute_metrics(
    equity: np.ndarray,
    index: pd.DatetimeIndex,
    positions: np.ndarray,
    round_trips: Sequence[ClosedLot | OpenLot] | TripResults,
    traded_notional: float,
    fills: int,
    fees: float,
    ppy: float | None = None,
    calendar: Calendar | None = None,
) -> Metrics:
    """Compute every metric of one backtest; ``round_trips`` may hold open lots marked to market."""
    calendar = calendar or infer_calendar(index)
    ppy = ppy or calendar.periods_per_year
    start, end = float(equity[0]), float(equity[-1])
    total_return = end / start - 1.0
    years = equity.size / ppy
    span_days = years * DAYS_PER_YEAR
    left_out = unannualized(span_days)
    cagr = None
    if "cagr" not in left_out and years > 0 and end > 0:
        cagr = (end / start) ** (1.0 / years) - 1.0
    sharpe = sharpe_standard_error = sortino = volatility = None
    if equity.size > 2 and "sharpe" not in left_out:
        returns = np.divide(equity[1:], equity[:-1])
        returns -= 1.0
        deviation = float(np.std(returns, ddof=1))
        volatility = deviation * math.sqrt(ppy)
        mean = float(np.mean(returns))
        if deviation > 0:
            sharpe = mean / deviation * math.sqrt(ppy)
            sharpe_standard_error = _sharpe_standard_error(mean / deviation, returns.size, ppy)
        # in place, the last use of the returns: a fresh 8 MB array per temporary costs more than the arithmetic
        np.square(np.minimum(returns, 0.0, out=returns), out=returns)
        downside = float(np.sqrt(np.mean(returns)))
        sortino = mean / downside * math.sqrt(ppy) if downside > 0 else None
    depth = drawdown(equity)
    length, first, last = _longest_underwater(depth)
    duration = str(index[min(last, len(index) - 1)] - index[first - 1]) if length and first > 0 else "0 days 00:00:00"
    if isinstance(round_trips, TripResults):
        net, open_trades = round_trips.net_pnls, round_trips.open
    else:
        net = np.array([float(trip.net_pnl) for trip in round_trips])
        open_trades = sum(1 for trip in round_trips if trip.status == "open")
    wins, losses = net[net > 0], net[net < 0]
    profit_factor = float(wins.sum() / -losses.sum()) if losses.size else None
    return Metrics(
        start_equity=start,
        end_equity=end,
        total_return=total_return,
        cagr=cagr,
        sharpe=sharpe,
        sharpe_standard_error=sharpe_standard_error,
        sortino=sortino,
        volatility=volatility,
        max_drawdown=float(depth.min()) if depth.size else 0.0,
        max_drawdown_bars=length,
        max_drawdown_duration=duration,
        trades=int(net.size),
        open_trades=open_trades,
        win_rate=float(wins.size / net.size) if net.size else None,
        profit_factor=profit_factor,
        average_trade_pnl=float(net.mean()) if net.size else None,
        exposure=float(np.count_nonzero(positions) / positions.size) if positions.size else 0.0,
        turnover=traded_notional / float(np.mean(equity)) if equity.size and np.mean(equity) > 0 else 0.0,
        fills=fills,
        fees=fees,
        bars=int(equity.size),
        periods_per_year=ppy,
        calendar=calendar.kind,
        bar_seconds=calendar.bar_seconds,
        span_days=span_days,
    )
