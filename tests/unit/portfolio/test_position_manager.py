from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from logos.contracts import Side
from logos.execution.fill_model import FillModel, FillModelConfig
from logos.execution.ledger import FifoLedger
from logos.portfolio.position_manager import RebalanceConfig, plan_rebalance
from logos.symbols import SymbolSpec

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]
SPECS = {
    "AAA": SymbolSpec(symbol="AAA"),
    "BBB": SymbolSpec(symbol="BBB", lot_size=Decimal("0.001"), fractionable=True),
    "CCC": SymbolSpec(symbol="CCC", min_notional=Decimal(500)),
    "DDD": SymbolSpec(symbol="DDD", lot_size=Decimal("0.1")),
}
prices_strategy = st.fixed_dictionaries({symbol: st.decimals("1", "900", places=2) for symbol in SYMBOLS})
holdings_strategy = st.fixed_dictionaries({symbol: st.integers(0, 400).map(Decimal) for symbol in SYMBOLS})
weights_strategy = st.lists(st.floats(0, 1), min_size=4, max_size=4).map(
    lambda raw: {symbol: value / max(sum(raw), 1.0) for symbol, value in zip(SYMBOLS, raw, strict=True)}
)
fills_strategy = st.builds(
    FillModelConfig,
    slippage_bps=st.decimals("0", "50", places=1),
    taker_fee_bps=st.decimals("0", "30", places=1),
)
config_strategy = st.builds(
    RebalanceConfig,
    no_trade_band=st.floats(0, 0.1),
    turnover_penalty=st.floats(0, 20),
    max_turnover=st.one_of(st.none(), st.floats(0.01, 2.0)),
    min_order_notional=st.decimals("0", "200", places=0),
)


@settings(max_examples=150, deadline=None)
@given(holdings_strategy, st.decimals("0", "100000", places=2), prices_strategy, weights_strategy, fills_strategy,
       config_strategy)  # fmt: skip
def test_rebalancer_when_any_book_then_band_turnover_and_costs_hold(
    holdings: dict[str, Decimal],
    cash: Decimal,
    prices: dict[str, Decimal],
    targets: dict[str, float],
    fills: FillModelConfig,
    config: RebalanceConfig,
) -> None:
    plan = plan_rebalance(holdings, cash, prices, targets, SPECS, fills, config)
    equity = cash + sum(holdings[s] * prices[s] for s in SYMBOLS)
    traded = {order.symbol for order in plan.orders}
    for symbol in SYMBOLS:
        drift = targets[symbol] - float(holdings[symbol] * prices[symbol]) / float(equity) if equity > 0 else 0.0
        if abs(drift) <= config.no_trade_band:
            assert symbol not in traded  # never trades inside the no-trade band
    if config.max_turnover is not None:
        assert plan.turnover <= config.max_turnover + 1e-12
    for order in plan.orders:
        spec = SPECS[order.symbol]
        assert spec.quantize_quantity(order.quantity) == order.quantity
        assert order.quantity * order.expected_price >= max(spec.min_notional, config.min_order_notional)
        if order.side is Side.SELL and targets[order.symbol] >= 0:
            assert order.quantity <= holdings[order.symbol]  # long targets never flip a book short
    # executed through the fill model and the ledger at the reference prices, costs are the plan's
    model = FillModel(fills)
    stamp = datetime(2024, 1, 2, tzinfo=UTC)
    ledger = FifoLedger(cash=cash + sum(holdings[s] * prices[s] for s in SYMBOLS))
    for symbol, quantity in holdings.items():
        if quantity:  # the starting book, bought without fees
            ledger.apply(stamp, symbol, Side.BUY, quantity, prices[symbol], Decimal(0))
    assert ledger.cash == cash
    for order in plan.orders:
        match = model.fill_market(SPECS[order.symbol], order.side, order.quantity, order.reference_price)
        assert (match.price, match.fee) == (order.expected_price, order.expected_fee)
        ledger.apply(stamp, order.symbol, order.side, match.quantity, match.price, match.fee)
    assert ledger.fees_paid == plan.expected_fees
    signed = sum((o.quantity * o.expected_price * (1 if o.side is Side.BUY else -1) for o in plan.orders), Decimal(0))
    assert ledger.cash == cash - signed - plan.expected_fees
    assert ledger.cash >= 0  # buys never spend more than the cash left after the sells


def test_rebalancer_when_drift_is_in_band_then_it_is_skipped_with_the_reason() -> None:
    holdings = {"AAA": Decimal(50), "DDD": Decimal(50)}
    prices = {"AAA": Decimal(100), "DDD": Decimal(100)}
    plan = plan_rebalance(
        holdings, Decimal(0), prices, {"AAA": 0.52, "DDD": 0.48}, SPECS, FillModelConfig(),
        RebalanceConfig(no_trade_band=0.03),
    )  # fmt: skip
    assert plan.orders == ()
    assert [(item.symbol, "no-trade band" in item.reason) for item in plan.skipped] == [("AAA", True), ("DDD", True)]


def test_rebalancer_when_order_is_under_min_notional_then_dropped_with_the_reason() -> None:
    plan = plan_rebalance(
        {}, Decimal(10_000), {"CCC": Decimal(10)}, {"CCC": 0.03}, SPECS, FillModelConfig(taker_fee_bps=Decimal(0))
    )
    assert plan.orders == ()
    assert "under the minimum 500" in plan.skipped[0].reason


def test_rebalancer_when_target_is_zero_then_closes_the_whole_position() -> None:
    plan = plan_rebalance(
        {"BBB": Decimal("3.217")}, Decimal(0), {"BBB": Decimal("41.13")}, {"BBB": 0.0}, SPECS, FillModelConfig()
    )
    assert [(order.side.value, order.quantity) for order in plan.orders] == [("sell", Decimal("3.217"))]


def test_rebalancer_when_penalized_then_small_drifts_are_not_worth_trading() -> None:
    fills = FillModelConfig(taker_fee_bps=Decimal(10), slippage_bps=Decimal(10))  # 20 bps a trade
    plan = plan_rebalance(
        {"AAA": Decimal(100)}, Decimal(10_000), {"AAA": Decimal(100)}, {"AAA": 0.503}, SPECS, fills,
        RebalanceConfig(turnover_penalty=2.0),  # drifts under 2 x 0.002 = 0.004 do not trade
    )  # fmt: skip
    assert plan.orders == ()
    assert "turnover penalty" in plan.skipped[0].reason
