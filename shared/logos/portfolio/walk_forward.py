"""The portfolio backtest: estimate on a trailing window, rebalance on a schedule or on drift, fill, book.

At each decision bar t the allocator sees the returns of the ``lookback`` bars up to and including
t (never later); the rebalancer turns its weights into orders at t's prices, and the fill model fills
them at the next bar's price (``next_open``: a wide file holds one price per bar, so the next bar's
price stands for its open) or at t's price (``close``, optimistic). The FIFO ledger books every fill.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from logos.backtest.metrics import compute_metrics, periods_per_year
from logos.contracts import Side
from logos.execution.fill_model import FillModel, FillModelConfig, FillTiming
from logos.execution.ledger import FifoLedger
from logos.portfolio.allocators import Allocation, Allocator, FallbackRefused, allocate
from logos.portfolio.choices import Schedule
from logos.portfolio.constraints import PortfolioConstraints
from logos.portfolio.position_manager import PlannedOrder, RebalanceConfig, plan_rebalance
from logos.portfolio.prices import simple_returns
from logos.portfolio.risk_model import effective_number_of_assets, ledoit_wolf_covariance, risk_contributions
from logos.symbols import SymbolSpec

log = logging.getLogger("logos.portfolio")
ZERO = Decimal(0)


class PortfolioBacktestConfig(BaseModel):
    """Everything a portfolio backtest depends on; config.yaml records it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    lookback: int = Field(default=252, ge=20, description="Bars of returns each estimate sees.")
    schedule: Schedule = Field(default=Schedule.MONTHLY, description="Rebalance at the first bar of each period.")
    drift_band: float | None = Field(
        default=None, gt=0, le=1, description="Also rebalance when a weight drifts this far from its target."
    )
    cash: Decimal = Field(default=Decimal(1_000_000), gt=0)
    fills: FillModelConfig = Field(default_factory=FillModelConfig)
    constraints: PortfolioConstraints = Field(default_factory=PortfolioConstraints)
    rebalance: RebalanceConfig = Field(default_factory=RebalanceConfig)
    strict: bool = Field(default=False, description="Stop at an optimizer failure instead of falling back.")


@dataclass
class PortfolioResult:
    """The walk-forward's output: per-bar series, targets, fills and metrics."""

    index: pd.DatetimeIndex
    assets: tuple[str, ...]
    equity: np.ndarray
    cash: np.ndarray
    weights: np.ndarray  # held weights at each bar's close, bars x assets
    turnover: np.ndarray  # Σ|Δw| traded at each bar
    targets: list[tuple[datetime, Allocation]]
    ledger: FifoLedger
    slippage_cost: Decimal
    skipped: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def _period(index: pd.DatetimeIndex, schedule: Schedule) -> np.ndarray:
    if schedule is Schedule.DAILY:
        return np.arange(len(index))
    if schedule is Schedule.WEEKLY:
        calendar = index.isocalendar()
        return np.asarray(calendar["year"].to_numpy() * 100 + calendar["week"].to_numpy(), dtype=np.int64)
    return np.asarray(index.year * 100 + index.month, dtype=np.int64)


def _decimal_prices(prices: pd.DataFrame, specs: dict[str, SymbolSpec]) -> list[dict[str, Decimal]]:
    rows: list[dict[str, Decimal]] = []
    columns = [str(column) for column in prices.columns]
    quantizers = [specs[column].quantize_price for column in columns]
    for values in prices.to_numpy():
        rows.append({
            column: quantize(Decimal(repr(float(value))))
            for column, quantize, value in zip(columns, quantizers, values, strict=True)
        })  # fmt: skip
    return rows


def run_portfolio_backtest(
    prices: pd.DataFrame,
    allocator: Allocator,
    config: PortfolioBacktestConfig,
    specs: dict[str, SymbolSpec] | None = None,
    progress: Callable[[int], None] | None = None,
) -> PortfolioResult:
    """Walk forward over ``prices`` (dates x assets) and return the run."""
    assets = tuple(str(column) for column in prices.columns)
    if len(prices) <= config.lookback + 1:
        raise ValueError(f"--lookback {config.lookback} needs more than {config.lookback + 1} bars; the data has "
                         f"{len(prices)}")  # fmt: skip
    specs = {asset: (specs or {}).get(asset) or SymbolSpec(symbol=asset) for asset in assets}
    index = pd.DatetimeIndex(prices.index)
    marks = _decimal_prices(prices, specs)
    returns = simple_returns(prices)
    periods = _period(index, config.schedule)
    model = FillModel(config.fills)
    ledger = FifoLedger(cash=config.cash)
    bars = len(index)
    equity = np.empty(bars)
    cash = np.empty(bars)
    held = np.zeros((bars, len(assets)))
    turnover = np.zeros(bars)
    targets: list[tuple[datetime, Allocation]] = []
    skipped: dict[str, int] = {}
    slippage = ZERO
    pending: tuple[PlannedOrder, ...] = ()
    target_weights: np.ndarray | None = None
    next_timing = config.fills.timing is FillTiming.NEXT_OPEN
    for bar in range(bars):
        stamp = index[bar].to_pydatetime()
        if pending:
            slippage += _execute(pending, marks[bar], stamp, specs, model, ledger)
            pending = ()
        value = ledger.cash + sum((ledger.position(a) * marks[bar][a] for a in ledger.positions), ZERO)
        current = np.array([float(ledger.position(a) * marks[bar][a]) for a in assets]) / float(value)
        decide = bar >= config.lookback and (not next_timing or bar + 1 < bars)
        if decide:
            scheduled = target_weights is None or periods[bar] != periods[bar - 1]
            drifted = (
                config.drift_band is not None
                and target_weights is not None
                and float(np.abs(current - target_weights).max()) > config.drift_band
            )
            decide = scheduled or drifted
        if decide:
            window = returns.iloc[bar - config.lookback : bar]  # returns up to and including bar t
            try:
                allocation = allocate(allocator, window, config.constraints, current, config.strict)
            except FallbackRefused as exc:
                raise FallbackRefused(f"{stamp.date()}: {exc}") from exc
            if allocation.fallback_note:
                log.warning("%s: %s", stamp.date(), allocation.fallback_note)
            targets.append((stamp, allocation))
            target_weights = allocation.weights
            plan = plan_rebalance(
                {a: ledger.position(a) for a in assets}, ledger.cash, marks[bar],
                dict(zip(assets, (float(w) for w in allocation.weights), strict=True)), specs, config.fills,
                config.rebalance,
            )  # fmt: skip
            turnover[bar + 1 if next_timing else bar] += plan.turnover
            for item in plan.skipped:
                reason = item.reason.split(" is ")[-1] if " is " in item.reason else item.reason
                skipped[reason] = skipped.get(reason, 0) + 1
            if next_timing:
                pending = plan.orders
            else:
                slippage += _execute(plan.orders, marks[bar], stamp, specs, model, ledger)
                value = ledger.cash + sum((ledger.position(a) * marks[bar][a] for a in ledger.positions), ZERO)
        equity[bar] = float(value)
        cash[bar] = float(ledger.cash)
        held[bar] = [float(ledger.position(a) * marks[bar][a]) / float(value) for a in assets]
        if progress is not None and (bar % 50 == 0 or bar == bars - 1):
            progress(bar + 1)
    result = PortfolioResult(index, assets, equity, cash, held, turnover, targets, ledger, slippage, skipped)
    result.metrics = _metrics(result, returns, config)
    return result


def _execute(
    orders: tuple[PlannedOrder, ...],
    marks: dict[str, Decimal],
    stamp: datetime,
    specs: dict[str, SymbolSpec],
    model: FillModel,
    ledger: FifoLedger,
) -> Decimal:
    """Fill each order at this bar's price through the fill model; return the slippage paid."""
    slippage = ZERO
    for number, order in enumerate(orders):
        reference = marks[order.symbol]
        match = model.fill_market(specs[order.symbol], order.side, order.quantity, reference)
        ledger.apply(stamp, order.symbol, order.side, match.quantity, match.price, match.fee,
                     f"{stamp:%Y%m%d}-{number:03d}-{order.symbol}")  # fmt: skip
        moved = match.price - reference if order.side is Side.BUY else reference - match.price
        slippage += moved * match.quantity
    return slippage


def fallbacks(result: PortfolioResult) -> list[dict[str, str]]:
    """Every rebalance whose allocator failed: the date, the allocator used instead and the reason."""
    return [
        {
            "date": stamp.date().isoformat(),
            "method": allocation.method,
            "fallback": allocation.fallback or "",
            "reason": allocation.fallback_reason,
        }
        for stamp, allocation in result.targets
        if allocation.fallback_reason
    ]


def _metrics(result: PortfolioResult, returns: pd.DataFrame, config: PortfolioBacktestConfig) -> dict[str, Any]:
    ledger = result.ledger
    traded = float(sum((execution.quantity * execution.price for execution in ledger.executions), ZERO))
    gross = np.abs(result.weights).sum(axis=1)
    ppy = periods_per_year(result.index)
    base = compute_metrics(
        result.equity, result.index, gross, ledger.closed, traded, len(ledger.executions),
        float(ledger.fees_paid), ppy,
    ).as_dict()  # fmt: skip
    years = len(result.index) / ppy
    fees = float(ledger.fees_paid)
    effective = [effective_number_of_assets(allocation.weights) for _, allocation in result.targets]
    portfolio: dict[str, Any] = {
        "rebalances": len(result.targets),
        "fallbacks": sum(1 for _, allocation in result.targets if allocation.fallback_reason),
        "turnover_total": float(result.turnover.sum()),
        "turnover_annual": float(result.turnover.sum() / years) if years > 0 else 0.0,
        "fees_paid": fees,
        "slippage_paid": float(result.slippage_cost),
        "costs_paid": fees + float(result.slippage_cost),
        "costs_paid_bps_of_start": (fees + float(result.slippage_cost)) / float(config.cash) * 1e4,
        "effective_assets_mean": float(np.mean(effective)) if effective else 0.0,
        "skipped_trades": dict(sorted(result.skipped.items())),
    }
    if result.targets:
        last_stamp, last = result.targets[-1]
        position = int(result.index.searchsorted(pd.Timestamp(last_stamp)))
        window = returns.iloc[position - config.lookback : position]
        contributions = risk_contributions(last.weights, ledoit_wolf_covariance(window))
        portfolio["effective_assets_last"] = effective_number_of_assets(last.weights)
        portfolio["last_rebalance"] = last_stamp.isoformat()
        portfolio["last_weights"] = dict(zip(result.assets, (float(w) for w in last.weights), strict=True))
        portfolio["risk_contributions"] = dict(zip(result.assets, (float(c) for c in contributions), strict=True))
    return base | {key: _round(value) for key, value in portfolio.items()}


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {key: _round(item) for key, item in value.items()}
    return value
