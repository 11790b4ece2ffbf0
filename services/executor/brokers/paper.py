"""The paper broker behind the broker interface: orders fill on later bars by the backtest's fill model."""

from __future__ import annotations

from datetime import UTC, datetime

from logos.execution.order_states import OrderStatus
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.symbols import SymbolSpec
from services.executor.brokers.interface import (
    Balance,
    Broker,
    CredentialCheck,
    LocalDenial,
    OrderRequest,
    Outcome,
    PreparedOrder,
    SubmitResult,
    VenueOrder,
    VenuePosition,
    check_limits,
)


def _venue_order(paper: PaperOrder) -> VenueOrder:
    return VenueOrder(paper.id, paper.id, paper.symbol, paper.side, paper.quantity, paper.filled, None, paper.status)


class PaperVenue(Broker):
    """A :class:`PaperBroker` addressed like a venue; client order ids are the paper order ids."""

    name = "paper"

    def __init__(self, broker: PaperBroker, dry_run: bool = False) -> None:
        super().__init__(dry_run)
        self.broker = broker

    def market(self, symbol: str) -> SymbolSpec:
        return self.broker.specs[symbol]

    def prepare(self, order: OrderRequest) -> PreparedOrder:
        spec = self.market(order.symbol)
        quantity = spec.quantize_quantity(order.quantity)
        price = spec.quantize_price(order.limit_price) if order.limit_price is not None else None
        check_limits(spec, quantity, price if price is not None else order.reference_price)
        request = {"id": order.client_order_id, "symbol": order.symbol, "side": order.side.value,
                   "quantity": str(quantity), "type": order.order_type.value,
                   "limit_price": str(price) if price is not None else ""}  # fmt: skip
        return PreparedOrder(order, order.symbol, quantity, price, request)

    def send(self, prepared: PreparedOrder) -> SubmitResult:
        if prepared.order.client_order_id in self.broker.orders:
            raise LocalDenial(f"order {prepared.order.client_order_id} exists already")
        order, now = prepared.order, datetime.now(UTC)
        last = self.broker.last_bar.get(order.symbol)
        paper = PaperOrder(order.client_order_id, order.client_order_id, order.client_order_id, order.symbol,
                           order.side, prepared.quantity, last.ts if last else now, order.order_type,
                           prepared.limit_price)  # fmt: skip
        self.broker.orders[paper.id] = paper
        paper.move(now, OrderStatus.SUBMITTED)
        paper.move(now, OrderStatus.ACCEPTED)
        return SubmitResult(Outcome.ACCEPTED, "working on the paper broker", order=_venue_order(paper))

    def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        paper = self.broker.orders.get(client_order_id)
        if paper is None:
            return None
        if paper in self.broker.working():
            paper.move(datetime.now(UTC), OrderStatus.CANCELED)
        return _venue_order(paper)

    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        paper = self.broker.orders.get(client_order_id)
        return _venue_order(paper) if paper else None

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return [_venue_order(paper) for paper in self.broker.working(symbol)]

    def fetch_positions(self) -> list[VenuePosition]:
        ledger = self.broker.ledger
        return [VenuePosition(symbol, ledger.position(symbol), abs(ledger.average_price(symbol)))
                for symbol in sorted(ledger.positions)]  # fmt: skip

    def fetch_balances(self) -> list[Balance]:
        return [Balance("USD", self.broker.ledger.cash, self.broker.ledger.cash)]

    def validate_credentials(self) -> list[CredentialCheck]:
        return [CredentialCheck("keys present", True, "the paper broker needs no credentials")]
