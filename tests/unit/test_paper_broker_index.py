"""The paper broker's working orders by symbol give exactly what a scan of every order gave, fills included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from logos.contracts import Bar, Order, OrderType, Side
from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.execution.order_states import WORKING, OrderStatus
from logos.live.paper_broker import OrderBook, PaperBroker, PaperOrder
from logos.symbols import SymbolSpec

D = Decimal
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SYMBOLS = ("A", "B", "C")
SPECS = {symbol: SymbolSpec(symbol=symbol, lot_size=D("1")) for symbol in SYMBOLS}


class ScanningBroker(PaperBroker):
    """The broker as it was: every order looked at for the working ones."""

    def working(self, symbol: str | None = None) -> list[PaperOrder]:
        return [o for o in self.orders.values() if o.status in WORKING and symbol in (None, o.symbol)]


def scanned(broker: PaperBroker, symbol: str | None) -> list[PaperOrder]:
    return ScanningBroker.working(broker, symbol)


def make_bar(symbol: str, ts: datetime, price: Decimal, volume: str) -> Bar:
    return Bar(
        ts=ts, symbol=symbol, open=price, high=price + 1, low=price - 1, close=price, volume=D(volume), source="replay"
    )


def target(number: int, symbol: str, quantity: int, limit: Decimal | None) -> Order:
    kind = OrderType.MARKET if limit is None else OrderType.LIMIT
    return Order(
        id=f"d{number}",
        intent_id=f"i{number}",
        symbol=symbol,
        target_quantity=D(quantity),
        reference_price=D(100),
        order_type=kind,
        limit_price=limit,
        strategy="s",
    )


steps = st.lists(
    st.one_of(
        st.tuples(st.just("bar"), st.sampled_from(SYMBOLS), st.integers(90, 110), st.sampled_from(["3", "50", "1000"])),
        st.tuples(st.just("order"), st.sampled_from(SYMBOLS), st.integers(-30, 60), st.sampled_from([None, 95, 105])),
        st.tuples(st.just("cancel"), st.sampled_from(SYMBOLS), st.just(0), st.just(None)),
        st.tuples(st.just("retire"), st.just(""), st.just(0), st.just(None)),
        st.tuples(st.just("restore"), st.just(""), st.just(0), st.just(None)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    steps=steps,
    timing=st.sampled_from(list(FillTiming)),
    cap=st.sampled_from([None, D("0.1")]),
    cash=st.sampled_from([D(2_000), D(100_000)]),
)
def test_working_orders_when_indexed_by_symbol_then_same_orders_and_fills_as_a_scan(
    steps: list[tuple[str, str, int, int | None]], timing: FillTiming, cap: Decimal | None, cash: Decimal
) -> None:
    config = FillModelConfig(timing=timing, participation_cap=cap)
    indexed, scanning = PaperBroker(cash, SPECS, config), ScanningBroker(cash, SPECS, config)
    ts = T0
    for number, (kind, symbol, amount, extra) in enumerate(steps):
        ts += MINUTE
        for broker in (indexed, scanning):
            if kind == "bar":
                broker.on_bar(make_bar(symbol, ts, D(amount), str(extra)))
            elif kind == "order" and symbol in broker.last_bar:
                broker.on_order(target(number, symbol, amount, None if extra is None else D(extra)), ts)
            elif kind == "cancel":  # as the kill switch does
                for paper in broker.working(symbol):
                    paper.move(ts, OrderStatus.CANCELED)
            elif kind == "retire":
                broker.retire()
            elif kind == "restore":  # through a snapshot
                broker.retire()
                state = broker.state()
                broker.load_state(state)
        for symbol_ in (None, *SYMBOLS):
            assert indexed.working(symbol_) == scanned(indexed, symbol_) == scanning.working(symbol_)
    assert indexed.ledger.executions == scanning.ledger.executions
    assert indexed.ledger.cash == scanning.ledger.cash and indexed.orders == scanning.orders


def test_order_when_placed_straight_into_the_book_then_indexed_as_it_moves() -> None:
    broker = PaperBroker(D(100_000), SPECS)
    paper = PaperOrder("o1", "d1", "i1", "A", Side.BUY, D(5), T0)
    broker.orders[paper.id] = paper  # as the venue session places an order
    assert broker.working("A") == []
    paper.move(T0, OrderStatus.SUBMITTED)
    assert broker.working("A") == [paper] and broker.working() == [paper] and broker.working("B") == []
    paper.move(T0, OrderStatus.ACCEPTED)
    paper.move(T0, OrderStatus.CANCELED)
    assert broker.working() == [] and broker.retire()[0] == [paper] and "o1" not in broker.orders


def test_orders_when_they_start_working_out_of_placement_order_then_listed_in_placement_order() -> None:
    book = OrderBook()
    first, second = (PaperOrder(f"o{n}", f"d{n}", f"i{n}", "A", Side.BUY, D(1), T0) for n in (1, 2))
    book["o1"], book["o2"] = first, second
    second.move(T0, OrderStatus.SUBMITTED)
    first.move(T0, OrderStatus.SUBMITTED)
    assert book.working("A") == [first, second] == book.working()


def test_order_when_replaced_in_the_book_or_deleted_then_the_old_one_leaves_the_index() -> None:
    book = OrderBook()
    old, new = (PaperOrder("o1", f"d{n}", f"i{n}", "A", Side.BUY, D(1), T0) for n in (1, 2))
    book["o1"] = old
    old.move(T0, OrderStatus.SUBMITTED)
    book["o1"] = new
    assert book.working("A") == [] and old.book is None
    new.move(T0, OrderStatus.SUBMITTED)
    del book["o1"]
    assert book.working() == [] and new.book is None
