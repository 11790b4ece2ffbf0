"""A cash account cannot overspend: the fill model cuts a buy to what the cash pays for, the paper broker books it.

Hypothesis drives the accounting invariants: the cut quantity is affordable with its exact fee, is
whole lots and is the most lots the cash pays for; cash never goes below zero however buys and
sells follow each other; a session rebuilt from its log or its snapshot is the same session.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logos.contracts import Bar, Liquidity, Order, OrderType, Side
from logos.execution.fill_model import (
    BPS,
    INSUFFICIENT_CASH,
    BarPrices,
    FillModel,
    FillModelConfig,
    FillTiming,
    affordable_quantity,
    cut_by_cash,
)
from logos.execution.order_states import OrderStatus
from logos.live.paper_broker import PaperBroker
from logos.live.session import SessionRecorder
from logos.paths import Paths
from logos.symbols import SymbolSpec

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SPEC = SymbolSpec(symbol="X", tick_size=D("0.01"), lot_size=D("1"))
SPECS = {"X": SPEC}

lot_sizes = st.sampled_from([D("1"), D("0.1"), D("0.001"), D("0.00000001"), D("5"), D("0.25"), D("100")])
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
fee_bps = st.decimals(min_value=D(0), max_value=D(1000), places=1)
cash_amounts = st.decimals(min_value=D("-100"), max_value=D("10000000"), places=8)
lot_counts = st.integers(min_value=1, max_value=10**7)


def cost(quantity: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    return quantity * price + FillModel._fee(quantity, price, rate)


def whole_lots(quantity: Decimal, lot: Decimal) -> bool:
    return quantity % lot == 0


# -- the rule ------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(lot=lot_sizes, price=prices, bps=fee_bps, cash=cash_amounts, lots=lot_counts)
def test_affordable_quantity_when_random_then_affordable_whole_lots_and_one_more_lot_is_not(
    lot: Decimal, price: Decimal, bps: Decimal, cash: Decimal, lots: int
) -> None:
    spec = SymbolSpec(symbol="X", lot_size=lot)
    quantity, rate = lots * lot, bps * BPS
    affordable = affordable_quantity(spec, quantity, price, rate, cash)
    assert D(0) <= affordable <= quantity and whole_lots(affordable, lot)
    if affordable == quantity:
        assert cost(quantity, price, rate) <= cash
        return
    assert affordable == 0 or cost(affordable, price, rate) <= cash
    assert cost(affordable + lot, price, rate) > cash  # the most lots: one more is over the cash


@settings(max_examples=300, deadline=None)
@given(lot=lot_sizes, price=prices, bps=fee_bps, cash=cash_amounts, lots=lot_counts)
def test_fill_market_when_cash_given_then_the_affordable_quantity_with_the_exact_fee_or_none(
    lot: Decimal, price: Decimal, bps: Decimal, cash: Decimal, lots: int
) -> None:
    spec = SymbolSpec(symbol="X", lot_size=lot)
    model = FillModel(FillModelConfig(taker_fee_bps=bps))
    quantity, rate = lots * lot, bps * BPS
    match = model.fill_market(spec, Side.BUY, quantity, price, cash)
    affordable = affordable_quantity(spec, quantity, price, rate, cash)
    if affordable == 0:
        assert match is None and cut_by_cash(quantity, match)
        return
    assert match is not None and match.quantity == affordable and match.price == price
    assert match.fee == FillModel._fee(affordable, price, rate) and match.liquidity is Liquidity.TAKER
    assert match.quantity * match.price + match.fee <= cash or match.quantity == quantity
    assert cut_by_cash(quantity, match) is (affordable < quantity)


@settings(max_examples=200, deadline=None)
@given(price=prices, bps=fee_bps, cash=cash_amounts, lots=lot_counts)
def test_fill_market_when_selling_or_no_cash_given_then_the_whole_quantity_fills(
    price: Decimal, bps: Decimal, cash: Decimal, lots: int
) -> None:
    model = FillModel(FillModelConfig(taker_fee_bps=bps))
    quantity = D(lots)
    sold = model.fill_market(SPEC, Side.SELL, quantity, price, cash)
    unlimited = model.fill_market(SPEC, Side.BUY, quantity, price)
    assert sold is not None and sold.quantity == quantity == unlimited.quantity
    assert sold.fee == unlimited.fee == FillModel._fee(quantity, price, bps * BPS)


def test_fill_market_when_slipped_then_the_cash_pays_for_the_slipped_price() -> None:
    model = FillModel(FillModelConfig(taker_fee_bps=D(10), slippage_bps=D(100)))
    match = model.fill_market(SPEC, Side.BUY, D(100), D(100), D(10_000))  # 101.00 a share with the slippage
    assert match is not None and match.price == D("101.00") and match.quantity == D(98)
    assert match.quantity * match.price + match.fee <= D(10_000) < 99 * D("101.00") + match.fee


def test_fill_market_when_fee_rounding_pushes_the_last_lot_over_then_one_lot_less() -> None:
    # 3 lots cost 300 and a fee of 0.000000003 rounded up to 0.00000001: one quantum over the cash
    model = FillModel(FillModelConfig(taker_fee_bps=D("0.0000001")))
    match = model.fill_market(SPEC, Side.BUY, D(5), D(100), D("300.000000005"))
    assert match is not None and match.quantity == D(2) and match.fee == D("0.00000001")


def test_fill_market_when_cut_below_minimum_quantity_or_notional_then_refused() -> None:
    model = FillModel(FillModelConfig(taker_fee_bps=D(0)))
    by_quantity = SymbolSpec(symbol="X", lot_size=D(1), min_quantity=D(5))
    by_notional = SymbolSpec(symbol="X", lot_size=D(1), min_notional=D(500))
    assert model.fill_market(by_quantity, Side.BUY, D(10), D(100), D(499)) is None  # 4 lots < 5
    assert model.fill_market(by_notional, Side.BUY, D(10), D(100), D(499)) is None  # 400 < 500
    fits = model.fill_market(by_quantity, Side.BUY, D(10), D(100), D(500))
    assert fits is not None and fits.quantity == D(5)


def test_match_when_limit_buy_touched_then_the_maker_fee_counts_against_the_cash() -> None:
    model = FillModel(FillModelConfig(maker_fee_bps=D(50), taker_fee_bps=D(0)))
    bar = BarPrices(T0, D(100), D(101), D(98), D(100), D(1000))
    wanted = model.fillable(SPEC, Side.BUY, D(10), bar, OrderType.LIMIT, D(99))
    match = model.match(SPEC, Side.BUY, D(10), bar, OrderType.LIMIT, D(99), D(500))
    assert wanted == D(10) and match is not None and match.liquidity is Liquidity.MAKER
    assert match.quantity == D(5) and match.fee == FillModel._fee(D(5), D(99), D(50) * BPS)
    assert cut_by_cash(wanted, match)


def test_match_when_bar_offers_nothing_then_not_a_cut_by_cash() -> None:
    model = FillModel(FillModelConfig(participation_cap=D("0.1")))
    bar = BarPrices(T0, D(100), D(101), D(99), D(100), D(5))  # a tenth of 5 is no whole lot
    assert model.fillable(SPEC, Side.BUY, D(10), bar) == 0
    assert model.match(SPEC, Side.BUY, D(10), bar, cash=D(0)) is None
    assert not cut_by_cash(model.fillable(SPEC, Side.BUY, D(10), bar), None)


# -- the paper broker ----------------------------------------------------------------------------


def make_bar(ts: datetime, open_: str, close: str | None = None, volume: str = "100000", symbol: str = "X") -> Bar:
    close = close or open_
    high, low = max(D(open_), D(close)), min(D(open_), D(close))
    return Bar(
        ts=ts, symbol=symbol, open=D(open_), high=high, low=low, close=D(close), volume=D(volume), source="replay"
    )


def target(number: int, quantity: Decimal | int, symbol: str = "X") -> Order:
    return Order(
        id=f"d{number}",
        intent_id=f"i{number}",
        symbol=symbol,
        target_quantity=D(quantity),
        reference_price=D(100),
        strategy="s",
    )


def test_all_in_buy_when_next_open_is_higher_then_cut_to_the_cash_and_the_rest_cancelled() -> None:
    broker = PaperBroker(D(10_000), SPECS, FillModelConfig(taker_fee_bps=D(10)))
    broker.on_bar(make_bar(T0, "100"))
    accepted = broker.on_order(target(1, 100), T0)  # all in at the close of 100
    assert accepted is not None and accepted.rejection is None and accepted.order is not None
    executions = broker.on_bar(make_bar(T0 + MINUTE, "102"))  # 100 x 102 + fee would be 10,210.20
    assert [e.quantity for e in executions] == [D(97)] and executions[0].fee == FillModel._fee(D(97), D(102), BPS * 10)
    paper = accepted.order
    assert paper.status is OrderStatus.CANCELED and paper.reason == INSUFFICIENT_CASH and paper.filled == D(97)
    assert broker.working() == [] and broker.ledger.cash == D(10_000) - 97 * D(102) - executions[0].fee >= 0
    assert paper.state()["reason"] == INSUFFICIENT_CASH
    assert broker.on_bar(make_bar(T0 + 2 * MINUTE, "50")) == []  # nothing left to fill at a lower price


def test_buy_when_no_lot_affordable_at_the_next_open_then_cancelled_with_no_fill() -> None:
    broker = PaperBroker(D(100), SPECS)
    broker.on_bar(make_bar(T0, "99"))
    accepted = broker.on_order(target(1, 1), T0)
    assert accepted is not None and accepted.order is not None
    assert broker.on_bar(make_bar(T0 + MINUTE, "100")) == []  # 100 + 0.10 of fee > 100
    assert accepted.order.status is OrderStatus.CANCELED and accepted.order.reason == INSUFFICIENT_CASH
    assert broker.ledger.cash == D(100) and broker.working() == []


def test_buy_when_filled_at_the_close_and_no_lot_affordable_then_rejected_insufficient_cash() -> None:
    broker = PaperBroker(D(100), SPECS, FillModelConfig(timing=FillTiming.CLOSE))
    broker.on_bar(make_bar(T0, "100"))
    accepted = broker.on_order(target(1, 1), T0)
    assert accepted is not None and accepted.order is not None and accepted.executions == []
    assert accepted.order.status is OrderStatus.REJECTED and accepted.rejection is not None
    assert accepted.rejection.startswith(f"{INSUFFICIENT_CASH}: cash 100 does not pay for one lot (1) of X")
    assert accepted.order.reason == accepted.rejection and broker.ledger.cash == D(100)


def test_buy_when_filled_at_the_close_and_partly_affordable_then_cut_and_cancelled() -> None:
    broker = PaperBroker(D(1_000), SPECS, FillModelConfig(timing=FillTiming.CLOSE))
    broker.on_bar(make_bar(T0, "100"))
    accepted = broker.on_order(target(1, 10), T0)  # 1,000 and a fee of 1.00
    assert accepted is not None and accepted.order is not None and accepted.rejection is None
    assert [e.quantity for e in accepted.executions] == [D(9)]
    assert accepted.order.status is OrderStatus.CANCELED and accepted.order.reason == INSUFFICIENT_CASH


def test_sell_when_cash_is_spent_then_never_limited() -> None:
    broker = PaperBroker(D(1_000), SPECS, FillModelConfig(taker_fee_bps=D(0)))
    broker.on_bar(make_bar(T0, "100"))
    broker.on_order(target(1, 10), T0)
    broker.on_bar(make_bar(T0 + MINUTE, "100"))
    assert broker.ledger.cash == 0 and broker.ledger.position("X") == D(10)
    broker.on_order(target(2, -5), T0 + MINUTE)  # sell everything and go short
    assert [e.quantity for e in broker.on_bar(make_bar(T0 + 2 * MINUTE, "100"))] == [D(15)]


bar_steps = st.lists(
    st.tuples(
        st.decimals(min_value=D("1"), max_value=D("500"), places=2),  # open
        st.decimals(min_value=D("1"), max_value=D("500"), places=2),  # close
        st.integers(min_value=0, max_value=400),  # target after the bar (long only)
        st.booleans(),  # whether the strategy speaks at this bar
    ),
    min_size=2,
    max_size=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=bar_steps,
    timing=st.sampled_from(list(FillTiming)),
    bps=fee_bps,
    slippage=st.decimals(min_value=D(0), max_value=D(200), places=0),
    cap=st.sampled_from([None, D("0.1"), D("0.5")]),
    lot=st.sampled_from([D("1"), D("0.01"), D("0.5")]),
    cash=st.decimals(min_value=D(0), max_value=D(50_000), places=2),
)
def test_paper_broker_when_random_buys_and_sells_then_cash_never_below_zero_and_fees_exact(
    steps: list[tuple[Decimal, Decimal, int, bool]],
    timing: FillTiming,
    bps: Decimal,
    slippage: Decimal,
    cap: Decimal | None,
    lot: Decimal,
    cash: Decimal,
) -> None:
    spec = SymbolSpec(symbol="X", tick_size=D("0.01"), lot_size=lot)
    config = FillModelConfig(timing=timing, taker_fee_bps=bps, slippage_bps=slippage, participation_cap=cap)
    broker = PaperBroker(cash, {"X": spec}, config)
    for number, (open_, close, wanted, speaks) in enumerate(steps):
        ts = T0 + number * MINUTE
        broker.on_bar(make_bar(ts, str(open_), str(close), volume="300"))
        assert broker.ledger.cash >= 0
        if speaks:
            broker.on_order(target(number, spec.quantize_quantity(D(wanted))), ts)
            assert broker.ledger.cash >= 0
        assert broker.ledger.position("X") >= 0  # no leverage, no short: a cash account
    for execution in broker.ledger.executions:
        assert execution.fee == FillModel._fee(execution.quantity, execution.price, bps * BPS)
        assert execution.cash_after >= 0
    for paper in broker.orders.values():
        if paper.reason == INSUFFICIENT_CASH:
            assert paper.status is OrderStatus.CANCELED and paper.side is Side.BUY and paper.remaining > 0


# -- restarts ------------------------------------------------------------------------------------


def run_session(broker: PaperBroker, recorder: SessionRecorder, closes: list[str], targets: dict[int, int]) -> None:
    """Drive a session the way the executor does: a bar (its line), then the decision on it (its line)."""
    for number, price in enumerate(closes):
        bar = make_bar(T0 + number * MINUTE, price)
        executions = broker.on_bar(bar)
        recorder.bar(bar, executions, broker.snapshot(bar))
        if number in targets:
            accepted = broker.on_order(target(number, targets[number]), bar.ts)
            assert accepted is not None
            recorder.order(
                f"d{number}", accepted.order, accepted.canceled, accepted.executions, accepted.rejection, bar.ts
            )


@pytest.mark.parametrize("timing", list(FillTiming))
def test_restore_when_log_holds_cash_cuts_then_the_same_state(tmp_path: Path, timing: FillTiming) -> None:
    config = FillModelConfig(timing=timing, participation_cap=D("0.5"))
    broker, recorder = PaperBroker(D(10_000), SPECS, config), SessionRecorder(Paths(tmp_path), "s", {})
    # all in, cut at a higher open; more than the cash; a sell; a buy no lot of which is affordable
    run_session(broker, recorder, ["100", "104", "104", "110", "90", "90", "95", "95"], {0: 100, 2: 150, 4: 0, 6: 300})
    cut = [paper for paper in broker.orders.values() if paper.reason is not None]
    assert cut and all(paper.reason.startswith(INSUFFICIENT_CASH) for paper in cut)

    restarted, again = PaperBroker(D(10_000), SPECS, config), SessionRecorder(Paths(tmp_path), "s", {})
    again.restore(restarted)
    assert restarted.working() == broker.working()
    assert restarted.retire() == broker.retire() and restarted.state() == broker.state()


def test_restore_when_partial_fill_by_participation_then_the_order_keeps_working(tmp_path: Path) -> None:
    config = FillModelConfig(participation_cap=D("0.01"))  # 1 of a 100 volume bar: partial, not a cut
    broker, recorder = PaperBroker(D(100_000), SPECS, config), SessionRecorder(Paths(tmp_path), "s", {})
    for number in range(3):
        bar = make_bar(T0 + number * MINUTE, "100", volume="100")
        recorder.bar(bar, broker.on_bar(bar), broker.snapshot(bar))
        if number == 0:
            accepted = broker.on_order(target(0, 10), bar.ts)
            assert accepted is not None
            recorder.order("d0", accepted.order, accepted.canceled, accepted.executions, None, bar.ts)
    restarted, again = PaperBroker(D(100_000), SPECS, config), SessionRecorder(Paths(tmp_path), "s", {})
    again.restore(restarted)
    (working,) = restarted.working()
    assert working.filled == D(2) and working.reason is None
    assert restarted.retire() == broker.retire() and restarted.state() == broker.state()


def test_snapshot_when_an_order_was_cut_then_load_state_keeps_its_reason() -> None:
    broker = PaperBroker(D(10_000), SPECS)
    broker.on_bar(make_bar(T0, "100"))
    broker.on_order(target(1, 100), T0)
    broker.on_bar(make_bar(T0 + MINUTE, "102"))
    broker.on_order(target(2, 200), T0 + MINUTE)  # still working when the snapshot is taken
    broker.retire()
    again = PaperBroker(D(0), SPECS)
    again.load_state(broker.state())
    assert again.state() == broker.state() and [p.id for p in again.working("X")] == ["o2"]
    snapshot_without_reason = broker.state()
    for order in snapshot_without_reason["orders"]:
        del order["reason"]  # a snapshot written before orders kept a reason
    older = PaperBroker(D(0), SPECS)
    older.load_state(snapshot_without_reason)
    assert older.orders["o2"].reason is None
