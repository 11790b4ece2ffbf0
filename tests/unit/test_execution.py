"""Order lifecycle, fill model, FIFO ledger (with hypothesis invariants) and the translator."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logos.contracts import Liquidity, OrderType, Side
from logos.execution.fill_model import BarPrices, FillModel, FillModelConfig, FillTiming
from logos.execution.ledger import FifoLedger
from logos.execution.order_states import TERMINAL, TRANSITIONS, InvalidTransition, OrderStatus, check_transition
from logos.orders.sizing import EquityFraction, FixedNotional, SizingError, VolatilityTarget, parse_sizing
from logos.orders.translator import Caps, Refusal, translate
from logos.symbols import SymbolSpec

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
D = Decimal
SPEC = SymbolSpec(symbol="X", tick_size=D("0.01"), lot_size=D("0.001"), min_notional=D("10"))

# -- order lifecycle -----------------------------------------------------------------------------

EXPECTED_TRANSITIONS = {
    ("new", "denied"), ("new", "submitted"),
    ("submitted", "accepted"), ("submitted", "rejected"), ("submitted", "partially_filled"), ("submitted", "filled"),
    ("accepted", "partially_filled"), ("accepted", "filled"), ("accepted", "cancel_pending"),
    ("accepted", "canceled"), ("accepted", "expired"),
    ("partially_filled", "partially_filled"), ("partially_filled", "filled"), ("partially_filled", "cancel_pending"),
    ("partially_filled", "canceled"), ("partially_filled", "expired"),
    ("cancel_pending", "canceled"), ("cancel_pending", "partially_filled"), ("cancel_pending", "filled"),
    ("cancel_pending", "expired"),
}  # fmt: skip


def test_transition_table_when_read_then_exactly_the_documented_moves() -> None:
    actual = {(source.value, target.value) for source, targets in TRANSITIONS.items() for target in targets}
    assert actual == EXPECTED_TRANSITIONS
    assert {status.value for status in TERMINAL} == {"denied", "filled", "canceled", "rejected", "expired"}


@pytest.mark.parametrize("source", list(OrderStatus))
@pytest.mark.parametrize("target", list(OrderStatus))
def test_transition_when_attempted_then_allowed_only_if_in_table(source: OrderStatus, target: OrderStatus) -> None:
    if (source.value, target.value) in EXPECTED_TRANSITIONS:
        assert check_transition(source, target) is target
    else:
        with pytest.raises(InvalidTransition, match=f"cannot go from {source} to {target}"):
            check_transition(source, target)


# -- fill model ----------------------------------------------------------------------------------


def bar(
    open_: str = "100", high: str = "101", low: str = "99", close: str = "100.5", volume: str = "1000"
) -> BarPrices:
    return BarPrices(T0, D(open_), D(high), D(low), D(close), D(volume))


def test_market_fill_when_next_open_then_open_plus_slippage_and_taker_fee() -> None:
    model = FillModel(FillModelConfig(slippage_bps=D(5), taker_fee_bps=D(10)))
    match = model.match(SPEC, Side.BUY, D("2"), bar())
    assert match is not None
    assert match.price == D("100.05") and match.quantity == D(2) and match.liquidity is Liquidity.TAKER
    assert match.fee == D("0.2001")  # 2 x 100.05 x 10 bps
    sell = model.match(SPEC, Side.SELL, D("2"), bar(open_="100.03"))
    assert sell is not None and sell.price == D("99.97")  # 99.979985: adverse, floored to the tick


def test_market_fill_when_close_timing_then_close_price() -> None:
    match = FillModel(FillModelConfig(timing=FillTiming.CLOSE)).match(SPEC, Side.BUY, D(1), bar())
    assert match is not None and match.price == D("100.5")


def test_participation_cap_when_order_large_then_partial_fill_of_capped_volume() -> None:
    model = FillModel(FillModelConfig(participation_cap=D("0.1")))
    match = model.match(SPEC, Side.BUY, D(500), bar(volume="1234"))
    assert match is not None and match.quantity == D("123.4")
    assert model.match(SPEC, Side.BUY, D(500), bar(volume="0")) is None


@pytest.mark.parametrize(
    ("side", "limit", "bar_args", "expected"),
    [
        (Side.BUY, "99.50", {}, D("99.50")),  # touched inside the bar
        (Side.BUY, "98.00", {}, None),  # never reached
        (Side.BUY, "102.00", {}, D("100")),  # gapped through: the better open
        (Side.SELL, "100.80", {}, D("100.80")),
        (Side.SELL, "101.50", {}, None),
    ],
)
def test_limit_fill_when_touched_then_at_limit_or_better_as_maker(
    side: Side, limit: str, bar_args: dict[str, str], expected: Decimal | None
) -> None:
    model = FillModel(FillModelConfig(maker_fee_bps=D(2)))
    match = model.match(SPEC, side, D(1), bar(**bar_args), OrderType.LIMIT, D(limit))
    assert (match.price if match else None) == expected
    if match:
        assert match.liquidity is Liquidity.MAKER


def test_slippage_jitter_when_same_seed_then_same_fills_and_other_seed_differs() -> None:
    def prices(seed: int) -> list[Decimal]:
        model = FillModel(FillModelConfig(slippage_jitter_bps=D(20), seed=seed))
        return [m.price for m in (model.match(SPEC, Side.BUY, D(1), bar()) for _ in range(20)) if m]

    assert prices(7) == prices(7) and prices(7) != prices(8)
    assert all(D(100) <= price <= D("100.20") for price in prices(7))


# -- FIFO ledger ---------------------------------------------------------------------------------


def test_ledger_when_long_then_partly_closed_then_fifo_pnl() -> None:
    ledger = FifoLedger(cash=D(1000))
    ledger.apply(T0, "X", Side.BUY, D(2), D(10), D("0.2"))
    ledger.apply(T0, "X", Side.BUY, D(2), D(12), D("0.2"))
    execution = ledger.apply(T0, "X", Side.SELL, D(3), D(15), D("0.3"))
    assert execution.realized_pnl == D(2) * 5 + D(1) * 3  # the 10s first, then one of the 12s
    assert ledger.position("X") == D(1) and ledger.average_price("X") == D(12)
    assert ledger.cash == D(1000) - 20 - 24 + 45 - D("0.7")
    assert [trip.pnl for trip in ledger.closed] == [D(10), D(3)]


def test_ledger_when_sell_through_zero_then_short_opened_and_covered() -> None:
    ledger = FifoLedger(cash=D(0))
    ledger.apply(T0, "X", Side.BUY, D(1), D(10), D(0))
    ledger.apply(T0, "X", Side.SELL, D(3), D(11), D(0))  # closes 1, opens 2 short
    assert ledger.position("X") == D(-2)
    ledger.apply(T0, "X", Side.BUY, D(2), D(9), D(0))
    assert [(trip.direction, trip.pnl) for trip in ledger.closed] == [("long", D(1)), ("short", D(4))]
    assert ledger.position("X") == 0 and ledger.cash == D(5)


fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.decimals(min_value=D("0.001"), max_value=D(50), places=3),
        st.decimals(min_value=D("1.00"), max_value=D(500), places=2),
        st.decimals(min_value=D(0), max_value=D(5), places=4),
    ),
    min_size=1,
    max_size=40,
)


def independent_fifo(executions: list[tuple[Side, Decimal, Decimal]]) -> Decimal:
    """Realized PnL recomputed from scratch with a plain FIFO queue of unit lots."""
    queue: deque[list[Decimal]] = deque()  # [signed quantity, price]
    realized = D(0)
    for side, quantity, price in executions:
        signed = quantity if side is Side.BUY else -quantity
        while signed and queue and (queue[0][0] > 0) != (signed > 0):
            take = min(abs(signed), abs(queue[0][0]))
            direction = 1 if queue[0][0] > 0 else -1
            realized += (price - queue[0][1]) * take * direction
            queue[0][0] -= take * direction
            signed += take * direction
            if queue[0][0] == 0:
                queue.popleft()
        if signed:
            queue.append([signed, price])
    return realized


@settings(max_examples=300, deadline=None)
@given(fills=fills, mark=st.decimals(min_value=D("1.00"), max_value=D(500), places=2))
def test_ledger_invariants_when_random_fills_then_equity_identity_fifo_pnl_and_fees_only_cost(
    fills: list[tuple[Side, Decimal, Decimal, Decimal]], mark: Decimal
) -> None:
    ledger = FifoLedger(cash=D(10_000))
    free = FifoLedger(cash=D(10_000))
    for index, (side, quantity, price, fee) in enumerate(fills):
        ts = T0 + timedelta(minutes=index)
        ledger.apply(ts, "X", side, quantity, price, fee)
        free.apply(ts, "X", side, quantity, price, D(0))
    marks = {"X": mark}
    # cash + position x mark = equity, and equity = start + realized + unrealized - fees
    assert ledger.equity(marks) == ledger.cash + ledger.position("X") * mark
    assert ledger.equity(marks) == D(10_000) + ledger.realized_pnl + ledger.unrealized_pnl(marks) - ledger.fees_paid
    # realized PnL equals an independent FIFO recomputation from the fills (what trades.csv holds)
    assert ledger.realized_pnl == independent_fifo([(s, q, p) for s, q, p, _ in fills])
    assert sum((e.realized_pnl for e in ledger.executions), D(0)) == ledger.realized_pnl
    # fees only ever reduce equity, by exactly what was paid
    assert free.equity(marks) - ledger.equity(marks) == sum((fee for *_, fee in fills), D(0)) >= 0
    assert ledger.position("X") == sum((q if s is Side.BUY else -q for s, q, _, _ in fills), D(0))
    # the fees attributed to closed lots never exceed what was paid
    assert sum((trip.fees for trip in ledger.closed), D(0)) <= ledger.fees_paid + D("1e-20")


def test_ledger_when_fill_invalid_then_refused() -> None:
    with pytest.raises(ValueError, match="quantity > 0"):
        FifoLedger(cash=D(0)).apply(T0, "X", Side.BUY, D(0), D(1), D(0))


# -- sizing and translation ----------------------------------------------------------------------


def test_translate_when_full_exposure_then_floor_to_lot_never_above_intent() -> None:
    result = translate(1.0, D("33.33"), D(1000), D(0), SPEC, EquityFraction())
    assert result.refusal is None and result.target_quantity == D("30.003") and result.order_quantity == D("30.003")
    assert result.target_quantity * D("33.33") <= D(1000)


def test_translate_when_order_below_min_notional_then_refused_with_reason() -> None:
    result = translate(1.0, D(100), D(1000), D("9.95"), SPEC, EquityFraction())
    assert result.refusal is Refusal.BELOW_MIN_NOTIONAL and result.order_quantity == 0
    assert "below minimum 10" in result.detail


def test_translate_when_below_min_quantity_then_refused() -> None:
    spec = SPEC.model_copy(update={"min_quantity": D(5), "min_notional": D(0)})
    assert translate(1.0, D(100), D(300), D(0), spec, EquityFraction()).refusal is Refusal.BELOW_MIN_QUANTITY


def test_translate_when_flattening_then_whole_position_closed_even_if_small() -> None:
    result = translate(0.0, D(100), D(1000), D("0.05"), SPEC, EquityFraction())
    assert result.refusal is None and result.target_quantity == 0 and result.order_quantity == D("-0.05")


def test_translate_when_capped_then_order_and_position_notional_bounded() -> None:
    caps = Caps(max_order_notional=D(500), max_position_notional=D(800))
    first = translate(1.0, D(100), D(10_000), D(0), SPEC, EquityFraction(), caps)
    assert first.order_quantity == D(5)
    second = translate(1.0, D(100), D(10_000), D(5), SPEC, EquityFraction(), caps)
    assert second.target_quantity == D(8)
    short = translate(-1.0, D(100), D(10_000), D(0), SPEC, FixedNotional(notional=D(300)))
    assert short.target_quantity == D(-3)


def test_sizing_when_parsed_then_rule_and_when_volatility_target_then_leverage_scaled() -> None:
    assert parse_sizing("equity:0.5") == EquityFraction(fraction=D("0.5"))
    assert parse_sizing("notional:2500") == FixedNotional(notional=D(2500))
    rule = parse_sizing("vol:0.2")
    assert isinstance(rule, VolatilityTarget) and rule.budget(D(1000), 0.4) == D(500)
    assert rule.budget(D(1000), None) == 0 and rule.budget(D(1000), 0.1) == D(1000)  # leverage capped at 1
    for bad in ("equity:-1", "notional", "kelly:1", "equity:abc"):
        with pytest.raises(SizingError):
            parse_sizing(bad)
