"""A Binance spot account whose orders change between requests, built from the recorded responses.

The test decides what the venue does (fill part of an order, time out, reject); every answer is a
copy of a recorded body with its status and quantities changed, parsed by ccxt's own Binance class.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.support.recorded_brokers import RecordingServer, binance_trading_server, ccxt_recorded
from tests.support.recorded_http import Answer, Call, Reply


@dataclass
class BookedOrder:
    client_order_id: str
    side: str
    quantity: Decimal
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    status: str = "NEW"


@dataclass
class BinanceBook:
    """The venue's side: orders by client order id, the BTC balance, and what the next POST does."""

    server: RecordingServer = field(default_factory=binance_trading_server)
    orders: dict[str, BookedOrder] = field(default_factory=dict)
    btc: Decimal = Decimal(0)
    next_post: list[Answer] = field(default_factory=list)  # answers to give instead of accepting
    lookups_fail: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.route("/api/v3/order", self._order)
        self.server.route("/api/v3/openOrders", lambda call: Reply.ok(self._open()))
        self.server.route("/api/v3/account", lambda call: Reply.ok(self._account()))

    def fill(self, client_order_id: str, quantity: str, price: str) -> None:
        """Let the venue fill ``quantity`` more of an order at ``price``."""
        order = self.orders[client_order_id]
        order.filled += Decimal(quantity)
        order.cost += Decimal(quantity) * Decimal(price)
        order.status = "FILLED" if order.filled == order.quantity else "PARTIALLY_FILLED"
        self.btc += Decimal(quantity) if order.side == "BUY" else -Decimal(quantity)

    def posts(self) -> int:
        return len([sent for sent in self.server.sent if sent.method == "POST" and "/api/v3/order" in sent.url])

    def _body(self, order: BookedOrder) -> dict[str, Any]:
        body = copy.deepcopy(ccxt_recorded("binance_order_query_filled.json"))
        body.update(clientOrderId=order.client_order_id, side=order.side, origQty=str(order.quantity),
                    executedQty=str(order.filled), cummulativeQuoteQty=str(order.cost),
                    status=order.status)  # fmt: skip
        return body

    def _order(self, call: Call) -> Answer:
        fields = self.server.sent[-1].form
        if call.method == "POST":
            if self.next_post:
                return self.next_post.pop(0)
            order = BookedOrder(fields["newClientOrderId"], fields["side"], Decimal(fields["quantity"]))
            self.orders[order.client_order_id] = order
            return Reply.ok(self._body(order) | {"transactTime": 1748871060123, "fills": []})
        if self.lookups_fail:
            return self.lookups_fail.pop(0)
        order = self.orders.get(fields.get("origClientOrderId", ""))
        if order is None:
            return Reply(400, ccxt_recorded("binance_error_order_not_found.json"))
        if call.method == "DELETE" and order.status in ("NEW", "PARTIALLY_FILLED"):
            order.status = "CANCELED"
        return Reply.ok(self._body(order))

    def _open(self) -> list[dict[str, Any]]:
        return [self._body(order) for order in self.orders.values() if order.status in ("NEW", "PARTIALLY_FILLED")]

    def _account(self) -> dict[str, Any]:
        body = copy.deepcopy(ccxt_recorded("binance_account.json"))
        body["balances"][0]["free"] = str(self.btc)
        return body
