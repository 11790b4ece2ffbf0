"""The paper broker: risk-approved targets become orders, filled on later bars by the backtest's model.

A new target replaces whatever is still working for the symbol: the broker cancels it and orders
the difference between the target and its own (authoritative) position, so a duplicated or replayed
target is harmless. Fills go through the same :class:`FillModel` and :class:`FifoLedger` as a
backtest, which is why a paper session equals the backtest of the same bars.

A long session keeps only what it still needs in memory: :meth:`PaperBroker.retire` hands over the
finished orders and the booked fills (the session writes them to its files), and :meth:`state` /
:meth:`PaperBroker.from_state` carry the rest — cash, lots, working orders, marks, the last bars,
the decisions seen — through a snapshot.

A cash account cannot overspend: every fill is given the ledger's cash, and the fill model cuts a
buy the cash cannot pay for to the lots it can (:mod:`logos.execution.fill_model`). What is left of
a cut order is cancelled, its ``reason`` ``insufficient_cash``; an order that fills at once (the
``close`` timing) and cannot pay for a single lot is rejected with that reason instead. A restart
finds the cuts again from the log: a bar that filled less of an order than it offered was the cash.

The working orders are kept by symbol as well (:class:`OrderBook`), so a bar looks only at its own.
"""

from __future__ import annotations

from collections import UserDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from logos.contracts import AccountSnapshot, Bar, OpenOrder, Order, OrderType, Position, Side
from logos.execution.fill_model import (
    INSUFFICIENT_CASH,
    BarPrices,
    FillModel,
    FillModelConfig,
    FillTiming,
    Match,
    cut_by_cash,
)
from logos.execution.ledger import Execution, FifoLedger, Lot
from logos.execution.order_states import WORKING, OrderStatus, check_transition
from logos.symbols import SymbolSpec

ZERO = Decimal(0)


@dataclass
class PaperOrder:
    """One broker order and its lifecycle."""

    id: str  # the broker's own sequence (o1, o2, ...), as in a backtest's trades.csv
    decision_id: str  # the risk decision (Order message) it executes
    intent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    decided_at: datetime  # open time of the bar the target was decided on
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    filled: Decimal = ZERO
    status: OrderStatus = OrderStatus.NEW
    history: list[tuple[datetime, OrderStatus]] = field(default_factory=list)
    reason: str | None = None  # why it ended short: the venue's rejection, or insufficient_cash (the rest cancelled)
    book: OrderBook | None = field(default=None, init=False, repr=False, compare=False)  # the book that holds it

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    def move(self, when: datetime, status: OrderStatus) -> None:
        was = self.status
        self.status = check_transition(was, status)
        self.history.append((when, status))
        if self.book is not None and (was in WORKING) != (status in WORKING):
            self.book.moved(self)

    def state(self) -> dict[str, Any]:
        """Everything about the order, as JSON values (decimals as their exact strings)."""
        return {
            "id": self.id,
            "decision_id": self.decision_id,
            "intent_id": self.intent_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "decided_at": self.decided_at.isoformat(),
            "order_type": self.order_type.value,
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "filled": str(self.filled),
            "status": self.status.value,
            "history": [[when.isoformat(), status.value] for when, status in self.history],
            "reason": self.reason,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PaperOrder:
        limit = state["limit_price"]
        return cls(
            state["id"],
            state["decision_id"],
            state["intent_id"],
            state["symbol"],
            Side(state["side"]),
            Decimal(state["quantity"]),
            datetime.fromisoformat(state["decided_at"]),
            OrderType(state["order_type"]),
            None if limit is None else Decimal(limit),
            Decimal(state["filled"]),
            OrderStatus(state["status"]),
            [(datetime.fromisoformat(when), OrderStatus(status)) for when, status in state["history"]],
            state.get("reason"),  # a snapshot from before orders kept a reason has none
        )


class OrderBook(UserDict[str, PaperOrder]):
    """The broker's orders by id, and the working ones by symbol, in the order they were placed.

    Every way into the book (``book[id] = order``, as the venue session does too) and out of it goes
    through here, and an order it holds tells it when its status enters or leaves WORKING, so the
    working lists are right however the order moves.
    """

    def __init__(self, orders: Iterable[tuple[str, PaperOrder]] = ()) -> None:
        self._placed: dict[str, int] = {}  # id -> its place in the book, which sorts the working lists
        self._next = 0
        self._working: dict[str, PaperOrder] = {}
        self._by_symbol: dict[str, dict[str, PaperOrder]] = {}
        super().__init__()
        for order_id, paper in orders:
            self[order_id] = paper

    def __setitem__(self, order_id: str, paper: PaperOrder) -> None:
        held = self.data.get(order_id)
        if held is not None and held is not paper:
            self._forget(held)
            held.book = None
        if paper.id not in self._placed:
            self._placed[paper.id], self._next = self._next, self._next + 1
        self.data[order_id] = paper
        paper.book = self
        self.moved(paper)

    def __delitem__(self, order_id: str) -> None:
        paper = self.data.pop(order_id)
        self._forget(paper)
        paper.book = None
        self._placed.pop(paper.id, None)

    def moved(self, paper: PaperOrder) -> None:
        """Put ``paper`` in the working lists or take it out, as its status now says."""
        if paper.status not in WORKING:
            self._forget(paper)
            return
        for working in (self._working, self._by_symbol.setdefault(paper.symbol, {})):
            if paper.id in working:
                continue
            last = next(reversed(working), None)
            working[paper.id] = paper
            # working only after an order placed later (nothing does that today): back to placement order
            if last is not None and self._placed[last] > self._placed[paper.id]:
                ordered = sorted(working.values(), key=lambda order: self._placed[order.id])
                working.clear()
                working.update((order.id, order) for order in ordered)

    def _forget(self, paper: PaperOrder) -> None:
        self._working.pop(paper.id, None)
        of_symbol = self._by_symbol.get(paper.symbol)
        if of_symbol is not None:
            of_symbol.pop(paper.id, None)
            if not of_symbol:
                del self._by_symbol[paper.symbol]

    def working(self, symbol: str | None = None) -> list[PaperOrder]:
        """Orders still working (of one symbol, or of all), in the order they were placed."""
        if symbol is None:
            return list(self._working.values())
        return list(self._by_symbol.get(symbol, {}).values())


@dataclass(frozen=True)
class Accepted:
    """What accepting a decision did: the order it opened (if any), what it cancelled, immediate fills.

    ``rejection`` is the venue's reason when it refused the order (its status is then REJECTED).
    """

    order: PaperOrder | None
    canceled: list[str]
    executions: list[Execution]
    rejection: str | None = None


@dataclass
class PaperBroker:
    """Orders, fills and the ledger of one paper account."""

    cash: Decimal
    specs: dict[str, SymbolSpec]
    fills: FillModelConfig = field(default_factory=FillModelConfig)
    ledger: FifoLedger = field(init=False)
    orders: OrderBook = field(default_factory=OrderBook)
    decisions: set[str] = field(default_factory=set)
    marks: dict[str, Decimal] = field(default_factory=dict)
    last_bar: dict[str, Bar] = field(default_factory=dict)
    retired_orders: int = 0  # finished orders handed over by retire(): no longer in ``orders``
    retired_fills: int = 0  # fills handed over by retire(): no longer in ``ledger.executions``

    def __post_init__(self) -> None:
        self.ledger = FifoLedger(cash=self.cash)
        self.model = FillModel(self.fills)
        self._held: dict[str, tuple[int, Decimal | None, Position]] = {}  # symbol: (ledger version, mark, position)
        if not isinstance(self.orders, OrderBook):
            self.orders = OrderBook(dict(self.orders).items())
        self._venue_orders: set[str] = set()  # orders a venue fills (restored from a pending line): bars never do

    @property
    def order_count(self) -> int:
        """Orders placed in the session, retired or not."""
        return self.retired_orders + len(self.orders)

    @property
    def fill_count(self) -> int:
        """Fills booked in the session, retired or not."""
        return self.retired_fills + len(self.ledger.executions)

    # -- keeping memory bounded: what is done leaves, what is needed goes into a snapshot ------

    def retire(self) -> tuple[list[PaperOrder], list[Execution]]:
        """Hand over the finished orders and the fills booked so far, and forget them (and the closed lots).

        Call it between messages, never while a handler still looks its order up.
        """
        finished = [paper for paper in self.orders.values() if paper.status not in WORKING]
        for paper in finished:
            del self.orders[paper.id]
            self._venue_orders.discard(paper.id)
        executions, self.ledger.executions = self.ledger.executions, []
        self.ledger.closed.clear()  # round trips are a backtest's table; a session's is trades.csv
        self.retired_orders += len(finished)
        self.retired_fills += len(executions)
        return finished, executions

    def state(self) -> dict[str, Any]:
        """The broker's restorable state as JSON values, exact decimals as strings; retire() first.

        Fills not yet retired are not part of it: a snapshot is taken right after retire().
        """
        ledger = self.ledger
        assert not ledger.executions, "retire() before taking the broker's state"
        return {
            "cash": str(ledger.cash),
            "realized_pnl": str(ledger.realized_pnl),
            "fees_paid": str(ledger.fees_paid),
            "lots": {
                symbol: [[str(lot.quantity), str(lot.price), lot.opened_at.isoformat(), str(lot.fee)] for lot in lots]
                for symbol, lots in ledger.lots.items()
            },
            "positions": {symbol: str(quantity) for symbol, quantity in ledger.positions.items()},
            "orders": [paper.state() for paper in self.orders.values()],
            "decisions": sorted(self.decisions),
            "marks": {symbol: str(mark) for symbol, mark in self.marks.items()},
            "last_bar": {symbol: bar.model_dump(mode="json") for symbol, bar in self.last_bar.items()},
            "retired_orders": self.retired_orders,
            "retired_fills": self.retired_fills,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Become the broker ``state`` describes (as :meth:`state` wrote it)."""
        ledger = self.ledger
        self._held.clear()  # the lots are set here, not booked fill by fill
        ledger.cash = Decimal(state["cash"])
        ledger.realized_pnl = Decimal(state["realized_pnl"])
        ledger.fees_paid = Decimal(state["fees_paid"])
        ledger.lots = {
            symbol: deque(
                Lot(Decimal(q), Decimal(p), datetime.fromisoformat(at), Decimal(fee)) for q, p, at, fee in lots
            )
            for symbol, lots in cast(dict[str, list[list[str]]], state["lots"]).items()
        }
        ledger.positions = {symbol: Decimal(quantity) for symbol, quantity in state["positions"].items()}
        ledger.executions, ledger.closed = [], []
        self.orders = OrderBook((paper.id, paper) for paper in map(PaperOrder.from_state, state["orders"]))
        self.decisions = set(state["decisions"])
        self.marks = {symbol: Decimal(mark) for symbol, mark in state["marks"].items()}
        self.last_bar = {symbol: Bar.model_validate(bar) for symbol, bar in state["last_bar"].items()}
        self.retired_orders, self.retired_fills = state["retired_orders"], state["retired_fills"]

    # -- rebuilding from the session's event log after a restart -------------------------------

    def restore_order(self, record: dict[str, Any]) -> None:
        """Re-create an order (and the cancellations it caused) exactly as it was first accepted."""
        when = datetime.fromisoformat(record["ts"])
        for order_id in record["canceled"]:
            self.orders[order_id].move(when, OrderStatus.CANCELED)
        self.decisions.add(record["decision_id"])
        if record["id"] is None:
            return
        limit = record["limit_price"]
        paper = PaperOrder(
            id=record["id"],
            decision_id=record["decision_id"],
            intent_id=record["intent_id"],
            symbol=record["symbol"],
            side=Side(record["side"]),
            quantity=Decimal(record["quantity"]),
            decided_at=datetime.fromisoformat(record["decided_at"]),
            order_type=OrderType(record["order_type"]),
            limit_price=Decimal(limit) if limit else None,
        )
        self.orders[paper.id] = paper
        paper.move(when, OrderStatus.SUBMITTED)
        if record.get("pending"):
            self._venue_orders.add(paper.id)
            return  # sent to a venue: its answer is a later line of the log
        rejection = record.get("rejection")
        if rejection:
            paper.reason = rejection
            paper.move(when, OrderStatus.REJECTED)
            return
        paper.move(when, OrderStatus.ACCEPTED)
        self.restore_fills(record["fills"])
        if self._fills_at_once(paper.symbol) and paper.remaining > 0:  # the close paid for part of it only
            self._cancel_for_cash(paper, self.last_bar[paper.symbol].ts)

    def restore_bar(self, bar: Bar, fills: list[dict[str, str]]) -> None:
        """Re-apply a handled bar: its fills, the cuts the cash made, then its mark."""
        prices = self._prices(bar)
        offered = [(paper, paper.filled, self._fillable(paper, prices)) for paper in self._matched_by(bar)]
        self.restore_fills(fills)
        for paper, filled_before, wanted in offered:
            if paper.status in WORKING and paper.filled - filled_before < wanted:  # only cash fills less
                self._cancel_for_cash(paper, bar.ts)
        self.last_bar[bar.symbol] = bar
        self.marks[bar.symbol] = self.specs[bar.symbol].quantize_price(bar.close)

    def restore_fills(self, fills: list[dict[str, str]]) -> None:
        for fill in fills:
            paper = self.orders[fill["order_id"]]
            when = datetime.fromisoformat(fill["ts"])
            self.ledger.apply(when, paper.symbol, paper.side, Decimal(fill["quantity"]), Decimal(fill["price"]),
                              Decimal(fill["fee"]), paper.id)  # fmt: skip
            paper.filled += Decimal(fill["quantity"])
            paper.move(when, OrderStatus.FILLED if paper.remaining == 0 else OrderStatus.PARTIALLY_FILLED)

    def working(self, symbol: str | None = None) -> list[PaperOrder]:
        """Orders still working (of one symbol, or of all), in the order they were placed."""
        return self.orders.working(symbol)

    def on_order(self, order: Order, now: datetime) -> Accepted | None:
        """Accept a target: cancel what is working for the symbol and order the difference.

        Returns None for a decision it has already accepted (a redelivery), so nothing happens twice.
        """
        if order.id in self.decisions:
            return None
        self.decisions.add(order.id)
        canceled = self.working(order.symbol)
        for stale in canceled:
            stale.move(now, OrderStatus.CANCELED)
        canceled_ids = [stale.id for stale in canceled]
        delta = order.target_quantity - self.ledger.position(order.symbol)
        if delta == 0:
            return Accepted(None, canceled_ids, [])
        side = Side.BUY if delta > 0 else Side.SELL
        decided = self.last_bar[order.symbol].ts if order.symbol in self.last_bar else now
        paper = PaperOrder(f"o{self.order_count + 1}", order.id, order.intent_id, order.symbol, side, abs(delta),
                           decided, order.order_type, order.limit_price)  # fmt: skip
        self.orders[paper.id] = paper
        paper.move(now, OrderStatus.SUBMITTED)
        rejection = self._refusal(paper)
        match: Match | None = None
        at_once = rejection is None and self._fills_at_once(order.symbol)
        if at_once:  # filled at the close of the bar it was decided on, now: the cash of now pays for it
            close = self.last_bar[order.symbol]
            spec = self.specs[order.symbol]
            match = self.model.fill_market(
                spec, side, paper.remaining, spec.quantize_price(close.close), self.ledger.cash
            )
            if match is None:
                rejection = self._cash_refusal(paper, close)
        if rejection is not None:
            paper.reason = rejection
            paper.move(now, OrderStatus.REJECTED)
            return Accepted(paper, canceled_ids, [], rejection)
        paper.move(now, OrderStatus.ACCEPTED)
        executions: list[Execution] = []
        if at_once:
            executions = self._book(paper, self.last_bar[order.symbol].ts, match, paper.remaining)
        return Accepted(paper, canceled_ids, executions)

    def _refusal(self, paper: PaperOrder) -> str | None:
        """Why the venue refuses the order, as a real one would: a quantity above the symbol's maximum."""
        largest = self.specs[paper.symbol].max_quantity
        if largest is not None and paper.quantity > largest:
            return f"quantity {paper.quantity} of {paper.symbol} exceeds the venue's maximum {largest}"
        return None

    def _cash_refusal(self, paper: PaperOrder, bar: Bar) -> str:
        spec = self.specs[paper.symbol]
        return (
            f"{INSUFFICIENT_CASH}: cash {self.ledger.cash} does not pay for one lot ({spec.lot_size}) of "
            f"{paper.symbol} at the close {spec.quantize_price(bar.close)} and its fee"
        )

    def _fills_at_once(self, symbol: str) -> bool:
        """Tell whether an order placed now fills now, at the close of the symbol's last bar."""
        return self.fills.timing is FillTiming.CLOSE and symbol in self.last_bar

    def on_bar(self, bar: Bar) -> list[Execution]:
        """Fill what was working before this bar, then mark the symbol at its close."""
        executions: list[Execution] = []
        for paper in self._matched_by(bar):
            executions += self._match(paper, bar)
        self.last_bar[bar.symbol] = bar
        self.marks[bar.symbol] = self.specs[bar.symbol].quantize_price(bar.close)
        return executions

    def _matched_by(self, bar: Bar) -> list[PaperOrder]:
        """The orders ``bar`` fills: its symbol's working ones decided before it (a venue's are its own)."""
        venue = self._venue_orders
        return [paper for paper in self.working(bar.symbol) if paper.decided_at < bar.ts and paper.id not in venue]

    def _prices(self, bar: Bar) -> BarPrices:
        spec = self.specs[bar.symbol]
        price = spec.quantize_price
        return BarPrices(bar.ts, price(bar.open), price(bar.high), price(bar.low), price(bar.close), bar.volume)

    def _fillable(self, paper: PaperOrder, prices: BarPrices) -> Decimal:
        """What the bar offers of the order whatever the cash (its volume share, its limit touched)."""
        spec = self.specs[paper.symbol]
        return self.model.fillable(spec, paper.side, paper.remaining, prices, paper.order_type, paper.limit_price)

    def _match(self, paper: PaperOrder, bar: Bar) -> list[Execution]:
        prices = self._prices(bar)
        wanted = self._fillable(paper, prices)
        if wanted <= 0:
            return []
        spec, cash = self.specs[paper.symbol], self.ledger.cash
        match = self.model.match(spec, paper.side, paper.remaining, prices, paper.order_type, paper.limit_price, cash)
        return self._book(paper, bar.ts, match, wanted)

    def _book(self, paper: PaperOrder, when: datetime, match: Match | None, wanted: Decimal) -> list[Execution]:
        """Book ``match`` for the order; cancel the rest when the cash cut it below ``wanted``."""
        executions = []
        if match is not None:
            executions.append(
                self.ledger.apply(when, paper.symbol, paper.side, match.quantity, match.price, match.fee, paper.id)
            )
            paper.filled += match.quantity
            paper.move(when, OrderStatus.FILLED if paper.remaining == 0 else OrderStatus.PARTIALLY_FILLED)
        if cut_by_cash(wanted, match):
            self._cancel_for_cash(paper, when)
        return executions

    @staticmethod
    def _cancel_for_cash(paper: PaperOrder, when: datetime) -> None:
        """What the cash could not pay for does not stay working: a later bar's price would decide it."""
        paper.reason = INSUFFICIENT_CASH
        paper.move(when, OrderStatus.CANCELED)

    def snapshot(self, bar: Bar, account: str = "paper") -> AccountSnapshot:
        """The account at this bar's close, tagged with the bar that produced it."""
        return self.account_at(bar.ts, f"account|{account}|{bar.symbol}|{bar.ts.isoformat()}", account, bar)

    def _position(self, symbol: str) -> Position:
        """One symbol's holding at its mark; the same object again while neither a fill nor the mark moved it.

        A snapshot after every bar lists every position, and only the bar's own symbol was marked anew:
        the others are the positions the last snapshot held, so they are not computed and validated again.
        """
        ledger, mark = self.ledger, self.marks.get(symbol)
        held = self._held.get(symbol)
        if held is not None and held[0] == ledger.version and held[1] == mark:
            return held[2]
        quantity = ledger.position(symbol)
        average = ledger.average_price(symbol)
        price = average if mark is None else mark
        position = Position(symbol=symbol, quantity=quantity, average_price=abs(average), market_price=price,
                            unrealized_pnl=(price - average) * quantity)  # fmt: skip
        self._held[symbol] = (ledger.version, mark, position)
        return position

    def account_at(self, ts: datetime, snapshot_id: str, account: str, bar: Bar | None = None) -> AccountSnapshot:
        """The account at ``ts`` at the last marks; tagged with ``bar`` when a bar produced it."""
        positions = [self._position(symbol) for symbol in sorted(self.ledger.positions)]
        gross = sum((abs(p.quantity) * p.market_price for p in positions), ZERO)
        net = sum((p.quantity * p.market_price for p in positions), ZERO)
        pending: dict[str, Decimal] = {}
        for paper in self.working():
            signed = paper.remaining if paper.side is Side.BUY else -paper.remaining
            pending[paper.symbol] = pending.get(paper.symbol, ZERO) + signed
        return AccountSnapshot(
            id=snapshot_id,
            ts=ts,
            account=account,
            cash=self.ledger.cash,
            equity=self.ledger.cash + net,
            realized_pnl=self.ledger.realized_pnl,
            unrealized_pnl=sum((p.unrealized_pnl for p in positions), ZERO),
            fees_paid=self.ledger.fees_paid,
            gross_exposure=gross,
            net_exposure=net,
            positions=tuple(positions),
            open_orders=tuple(
                OpenOrder(symbol=symbol, quantity=quantity) for symbol, quantity in sorted(pending.items())
            ),
            bar_symbol=bar.symbol if bar else None,
            bar_ts=bar.ts if bar else None,
            seq=bar.seq if bar else None,
        )
