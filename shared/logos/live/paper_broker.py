"""The paper broker: risk-approved targets become orders, filled on later bars by the backtest's model.

A new target replaces whatever is still working for the symbol: the broker cancels it and orders
the difference between the target and its own (authoritative) position, so a duplicated or replayed
target is harmless. Fills go through the same :class:`FillModel` and :class:`FifoLedger` as a
backtest, which is why a paper session equals the backtest of the same bars.

A long session keeps only what it still needs in memory: :meth:`PaperBroker.retire` hands over the
finished orders and the booked fills (the session writes them to its files), and :meth:`state` /
:meth:`PaperBroker.from_state` carry the rest — cash, lots, working orders, marks, the last bars,
the decisions seen — through a snapshot.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from logos.contracts import AccountSnapshot, Bar, Order, OrderType, Position, Side
from logos.execution.fill_model import BarPrices, FillModel, FillModelConfig, FillTiming, Match
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

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    def move(self, when: datetime, status: OrderStatus) -> None:
        self.status = check_transition(self.status, status)
        self.history.append((when, status))

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
        )


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
    orders: dict[str, PaperOrder] = field(default_factory=dict)
    decisions: set[str] = field(default_factory=set)
    marks: dict[str, Decimal] = field(default_factory=dict)
    last_bar: dict[str, Bar] = field(default_factory=dict)
    retired_orders: int = 0  # finished orders handed over by retire(): no longer in ``orders``
    retired_fills: int = 0  # fills handed over by retire(): no longer in ``ledger.executions``

    def __post_init__(self) -> None:
        self.ledger = FifoLedger(cash=self.cash)
        self.model = FillModel(self.fills)

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
        self.orders = {paper.id: paper for paper in map(PaperOrder.from_state, state["orders"])}
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
            return  # sent to a venue: its answer is a later line of the log
        paper.move(when, OrderStatus.REJECTED if record.get("rejection") else OrderStatus.ACCEPTED)
        self.restore_fills(record["fills"])

    def restore_bar(self, bar: Bar, fills: list[dict[str, str]]) -> None:
        """Re-apply a handled bar: its fills, then its mark."""
        self.restore_fills(fills)
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
        """Orders still working (of one symbol, or of all)."""
        return [o for o in self.orders.values() if o.status in WORKING and symbol in (None, o.symbol)]

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
        if rejection is not None:
            paper.move(now, OrderStatus.REJECTED)
            return Accepted(paper, canceled_ids, [], rejection)
        paper.move(now, OrderStatus.ACCEPTED)
        executions: list[Execution] = []
        if self.fills.timing is FillTiming.CLOSE and order.symbol in self.last_bar:
            executions = self._match(paper, self.last_bar[order.symbol], use_close=True)
        return Accepted(paper, canceled_ids, executions)

    def _refusal(self, paper: PaperOrder) -> str | None:
        """Why the venue refuses the order, as a real one would: a quantity above the symbol's maximum."""
        largest = self.specs[paper.symbol].max_quantity
        if largest is not None and paper.quantity > largest:
            return f"quantity {paper.quantity} of {paper.symbol} exceeds the venue's maximum {largest}"
        return None

    def on_bar(self, bar: Bar) -> list[Execution]:
        """Fill what was working before this bar, then mark the symbol at its close."""
        executions: list[Execution] = []
        for paper in self.working(bar.symbol):
            if paper.decided_at < bar.ts:
                executions += self._match(paper, bar)
        self.last_bar[bar.symbol] = bar
        self.marks[bar.symbol] = self.specs[bar.symbol].quantize_price(bar.close)
        return executions

    def _match(self, paper: PaperOrder, bar: Bar, use_close: bool = False) -> list[Execution]:
        spec = self.specs[paper.symbol]
        prices = BarPrices(bar.ts, spec.quantize_price(bar.open), spec.quantize_price(bar.high),
                           spec.quantize_price(bar.low), spec.quantize_price(bar.close), bar.volume)  # fmt: skip
        match: Match | None
        if use_close:
            match = self.model.fill_market(spec, paper.side, paper.remaining, prices.close)
        else:
            match = self.model.match(spec, paper.side, paper.remaining, prices, paper.order_type, paper.limit_price)
        if match is None:
            return []
        execution = self.ledger.apply(
            bar.ts, paper.symbol, paper.side, match.quantity, match.price, match.fee, paper.id
        )
        paper.filled += match.quantity
        paper.move(bar.ts, OrderStatus.FILLED if paper.remaining == 0 else OrderStatus.PARTIALLY_FILLED)
        return [execution]

    def snapshot(self, bar: Bar, account: str = "paper") -> AccountSnapshot:
        """The account at this bar's close, tagged with the bar that produced it."""
        return self.account_at(bar.ts, f"account|{account}|{bar.symbol}|{bar.ts.isoformat()}", account, bar)

    def account_at(self, ts: datetime, snapshot_id: str, account: str, bar: Bar | None = None) -> AccountSnapshot:
        """The account at ``ts`` at the last marks; tagged with ``bar`` when a bar produced it."""
        positions = []
        for symbol in sorted(self.ledger.positions):
            quantity = self.ledger.position(symbol)
            mark = self.marks.get(symbol, self.ledger.average_price(symbol))
            average = self.ledger.average_price(symbol)
            positions.append(
                Position(
                    symbol=symbol,
                    quantity=quantity,
                    average_price=abs(average),
                    market_price=mark,
                    unrealized_pnl=(mark - average) * quantity,
                )
            )
        gross = sum((abs(p.quantity) * p.market_price for p in positions), ZERO)
        net = sum((p.quantity * p.market_price for p in positions), ZERO)
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
            bar_symbol=bar.symbol if bar else None,
            bar_ts=bar.ts if bar else None,
        )
