"""From current holdings and target weights to cost-aware, quantized orders (the rebalancer).

For each asset the drift is d = w_target - w_current (weights of equity at the reference prices):

1. no-trade band: an asset with |d| <= ``no_trade_band`` is not traded;
2. turnover penalty: d shrinks toward 0 by κ = ``turnover_penalty`` x (fee + slippage rate), the
   solution of min ½(w - w_target)² + κ|w - w_current| — a trade must be worth its cost;
3. turnover cap: when Σ|d| exceeds ``max_turnover`` every d is scaled down by the same factor;
4. quantities d x equity / price floor to the symbol's lot (a target of 0 closes the position);
5. orders under the symbol's or the configured minimum notional are dropped with the reason;
6. buys never spend more cash than there is after the sells (scaled down, then floored again).

Fees and slippage are estimated by the backtest's fill model, so an order filled at its reference
price costs exactly what the plan says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from logos.contracts import Side
from logos.execution.fill_model import BPS, FillModel, FillModelConfig
from logos.symbols import SymbolSpec

ZERO = Decimal(0)


class RebalanceConfig(BaseModel):
    """How eagerly the rebalancer trades toward its targets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no_trade_band: float = Field(default=0.0, ge=0, le=1, description="Drift (in weight) left untraded.")
    turnover_penalty: float = Field(
        default=0.0, ge=0, le=1000, description="Multiple of the cost rate each traded weight must beat."
    )
    max_turnover: float | None = Field(default=None, gt=0, description="Cap on Σ|Δw| of one rebalance.")
    min_order_notional: Decimal = Field(default=ZERO, ge=0, description="Orders below this notional are dropped.")


@dataclass(frozen=True)
class PlannedOrder:
    """One market order of the plan, with the fill the model expects at the reference price."""

    symbol: str
    side: Side
    quantity: Decimal
    reference_price: Decimal
    expected_price: Decimal
    expected_fee: Decimal

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.expected_price


@dataclass(frozen=True)
class SkippedTrade:
    symbol: str
    reason: str


@dataclass(frozen=True)
class RebalancePlan:
    orders: tuple[PlannedOrder, ...]
    skipped: tuple[SkippedTrade, ...]
    equity: Decimal
    turnover: float  # Σ |quantity x reference price| / equity of the orders kept

    @property
    def expected_fees(self) -> Decimal:
        return sum((order.expected_fee for order in self.orders), ZERO)


def cost_rate(fills: FillModelConfig) -> float:
    """Fee plus slippage per unit of traded notional, as a fraction (10 bps = 0.001)."""
    return float((fills.taker_fee_bps + fills.slippage_bps) * BPS)


def plan_rebalance(
    holdings: Mapping[str, Decimal],
    cash: Decimal,
    prices: Mapping[str, Decimal],
    targets: Mapping[str, float],
    specs: Mapping[str, SymbolSpec],
    fills: FillModelConfig,
    config: RebalanceConfig | None = None,
) -> RebalancePlan:
    """Return the orders that move ``holdings`` toward ``targets`` (weights of equity) at ``prices``."""
    config = config or RebalanceConfig()
    # estimates never draw from the executing model's random jitter
    estimator = FillModel(fills.model_copy(update={"slippage_jitter_bps": ZERO}))
    symbols = sorted(set(targets) | {symbol for symbol, quantity in holdings.items() if quantity})
    equity = cash + sum((holdings.get(symbol, ZERO) * prices[symbol] for symbol in symbols), ZERO)
    if equity <= 0:
        return RebalancePlan((), tuple(SkippedTrade(s, "equity is not positive") for s in symbols), equity, 0.0)
    equity_float = float(equity)
    drifts: dict[str, float] = {}
    skipped: list[SkippedTrade] = []
    penalty = config.turnover_penalty * cost_rate(fills)
    for symbol in symbols:
        current = float(holdings.get(symbol, ZERO) * prices[symbol]) / equity_float
        drift = float(targets.get(symbol, 0.0)) - current
        if abs(drift) <= config.no_trade_band:
            if drift:
                skipped.append(SkippedTrade(symbol, f"drift {drift:+.6f} is inside the no-trade band"))
            continue
        shrunk = max(abs(drift) - penalty, 0.0)
        if shrunk == 0.0:
            skipped.append(SkippedTrade(symbol, f"drift {drift:+.6f} does not beat the turnover penalty"))
            continue
        drifts[symbol] = shrunk if drift > 0 else -shrunk
    total = sum(abs(drift) for drift in drifts.values())
    if config.max_turnover is not None and total > config.max_turnover:
        scale = config.max_turnover / total
        drifts = {symbol: drift * scale for symbol, drift in drifts.items()}
    quantities: dict[str, Decimal] = {}
    for symbol, drift in drifts.items():
        held = holdings.get(symbol, ZERO)
        spec = specs[symbol]
        target = float(targets.get(symbol, 0.0))
        if target == 0.0 and abs(drift) >= abs(float(held * prices[symbol]) / equity_float) - 1e-15:
            change = -held  # closing a position: exactly, without a dust lot
        else:
            change = _signed_floor(Decimal(repr(drift)) * equity / prices[symbol], spec)
            if target >= 0 and held + change < 0 and held >= 0:
                change = -held  # a rebalance toward a long target never turns the position short
        if change == 0:
            skipped.append(SkippedTrade(symbol, f"drift {drift:+.6f} rounds to zero lots of {spec.lot_size}"))
            continue
        quantities[symbol] = change
    minimum = config.min_order_notional
    quantities = _drop_small(quantities, prices, specs, estimator, minimum, skipped)
    funded = _fund_buys(quantities, cash, prices, specs, estimator)
    for symbol in [s for s, change in funded.items() if change == 0]:
        skipped.append(SkippedTrade(symbol, "no cash left for this buy"))
        del funded[symbol]
    funded = _drop_small(funded, prices, specs, estimator, minimum, skipped)
    orders: list[PlannedOrder] = []
    for symbol in sorted(funded, key=lambda name: (funded[name] > 0, name)):  # sells first
        change = funded[symbol]
        side = Side.BUY if change > 0 else Side.SELL
        match = estimator.fill_market(specs[symbol], side, abs(change), prices[symbol])
        orders.append(PlannedOrder(symbol, side, abs(change), prices[symbol], match.price, match.fee))
    turnover = float(sum((order.quantity * order.reference_price for order in orders), ZERO)) / equity_float
    return RebalancePlan(tuple(orders), tuple(sorted(skipped, key=lambda item: item.symbol)), equity, turnover)


def _drop_small(
    quantities: dict[str, Decimal],
    prices: Mapping[str, Decimal],
    specs: Mapping[str, SymbolSpec],
    estimator: FillModel,
    minimum: Decimal,
    skipped: list[SkippedTrade],
) -> dict[str, Decimal]:
    """Keep the orders at or above their symbol's (and the configured) minimum notional and quantity."""
    kept: dict[str, Decimal] = {}
    for symbol, change in quantities.items():
        spec = specs[symbol]
        side = Side.BUY if change > 0 else Side.SELL
        match = estimator.fill_market(spec, side, abs(change), prices[symbol])
        floor = max(spec.min_notional, minimum)
        notional = match.quantity * match.price
        if notional < floor:
            skipped.append(SkippedTrade(symbol, f"notional {notional:.2f} is under the minimum {floor}"))
        elif abs(change) < spec.min_quantity:
            skipped.append(SkippedTrade(symbol, f"quantity {abs(change)} is under the minimum {spec.min_quantity}"))
        else:
            kept[symbol] = change
    return kept


def _signed_floor(quantity: Decimal, spec: SymbolSpec) -> Decimal:
    quantized = spec.quantize_quantity(abs(quantity))
    if spec.max_quantity is not None:
        quantized = min(quantized, spec.max_quantity)
    return quantized if quantity >= 0 else -quantized


def _fund_buys(
    quantities: dict[str, Decimal],
    cash: Decimal,
    prices: Mapping[str, Decimal],
    specs: Mapping[str, SymbolSpec],
    estimator: FillModel,
) -> dict[str, Decimal]:
    """Scale the buys down (then floor them again) when they would spend more than the cash after sells."""

    def cost(symbol: str, change: Decimal) -> Decimal:
        side = Side.BUY if change > 0 else Side.SELL
        match = estimator.fill_market(specs[symbol], side, abs(change), prices[symbol])
        return match.quantity * match.price + match.fee if change > 0 else -(match.quantity * match.price) + match.fee

    sells = sum((cost(symbol, change) for symbol, change in quantities.items() if change < 0), ZERO)
    buys = {symbol: change for symbol, change in quantities.items() if change > 0}
    needed = sum((cost(symbol, change) for symbol, change in buys.items()), ZERO)
    available = cash - sells
    if needed <= available or not buys:
        return quantities
    scale = max(available, ZERO) / needed
    funded = dict(quantities)
    for symbol, change in buys.items():
        funded[symbol] = specs[symbol].quantize_quantity(change * scale)
    # flooring can leave a fee's worth too much in rare cases: drop lots from the largest buy until it fits
    while sum((cost(s, c) for s, c in funded.items() if c > 0), ZERO) > available:
        largest = max((s for s, c in funded.items() if c > 0), key=lambda s: funded[s] * prices[s], default=None)
        if largest is None:
            break
        funded[largest] = max(funded[largest] - specs[largest].lot_size, ZERO)
    return funded
