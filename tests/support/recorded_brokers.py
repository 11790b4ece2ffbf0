"""Offline Binance (trading endpoints) and Alpaca trading APIs, answering from recorded responses.

They behave like the venues where the adapters depend on it: an order comes back with the client
order id it was sent with; a request's body and headers are kept so a test can see exactly what
was signed and sent.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import requests

from tests.support.recorded_http import Call, RecordedServer, Reply, Responder, recorded
from tests.support.recorded_venues import binance_server

FAKE_BINANCE_KEY = "bnKEYfake7QvS0l2aXq9Lr4cWmTz8YpNd3Hk"
FAKE_BINANCE_SECRET = "bnSECRETfake1Xc5Vb9Nm2Qw7Er4Ty8Ui3Op6As"
FAKE_ALPACA_KEY = "PKFAKE7Q2W9E4R1T6Y3U"
FAKE_ALPACA_SECRET = "alpSECRETfake0Zx8Cv6Bn4Mq2Wr9Et5Yu1Io7Pa3"


@dataclass(frozen=True)
class Sent:
    """One request as it left the client: method, URL, headers and body."""

    method: str
    url: str
    headers: dict[str, str]
    body: str

    @property
    def form(self) -> dict[str, str]:
        """The request's parameters, from its query string and its form body."""
        query = self.url.partition("?")[2]
        fields = dict(parse_qsl(query))
        if self.body and not self.body.startswith("{"):
            fields.update(parse_qsl(self.body))
        return fields

    @property
    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body) if self.body.startswith("{") else {}
        return loaded


class RecordingServer(RecordedServer):
    """A recorded server that also keeps every request's headers and body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        self.sent.append(Sent(request.method or "GET", request.url or "", dict(request.headers), body))
        return super().send(request, *args, **kwargs)

    def responder(self, fragment: str) -> Responder:
        """The responder currently answering ``fragment`` (to wrap it in a test)."""
        return next(handler for routed, handler in self.routes if routed == fragment)

    def last(self, method: str, fragment: str) -> Sent:
        return [sent for sent in self.sent if sent.method == method and fragment in sent.url][-1]


def ccxt_recorded(name: str) -> Any:
    return recorded(f"ccxt/{name}")


def alpaca_recorded(name: str) -> Any:
    return recorded(f"alpaca/{name}")


def binance_trading_server() -> RecordingServer:
    """Binance spot: the recorded markets, account, orders and open orders; orders echo their client id."""
    public = binance_server()
    server = RecordingServer()
    server.routes = list(public.routes)
    server.route("/api/v3/account", Reply.ok(ccxt_recorded("binance_account.json")))
    server.route("/api/v3/openOrders", Reply.ok(ccxt_recorded("binance_open_orders.json")))

    def order(call: Call) -> Reply:
        sent = server.sent[-1]
        fields = sent.form
        if call.method == "POST":
            body = copy.deepcopy(ccxt_recorded("binance_order_market_filled.json"))
            body["clientOrderId"] = fields.get("newClientOrderId", body["clientOrderId"])
            return Reply.ok(body)
        if call.method == "DELETE":
            return Reply.ok(ccxt_recorded("binance_order_canceled.json"))
        body = copy.deepcopy(ccxt_recorded("binance_order_query_filled.json"))
        body["clientOrderId"] = fields.get("origClientOrderId", body["clientOrderId"])
        return Reply.ok(body)

    server.route("/api/v3/order", order)
    return server


def alpaca_server() -> RecordingServer:
    """Alpaca's paper trading API: account, assets and orders; an order echoes its client id and quantity."""
    server = RecordingServer()
    server.route("/v2/account", Reply.ok(alpaca_recorded("account.json")))

    def asset(call: Call) -> Reply:
        symbol = call.path.rsplit("/", 1)[-1]
        if symbol == "AAPL":
            return Reply.ok(alpaca_recorded("asset_AAPL.json"))
        if symbol == "GME":
            return Reply.ok(alpaca_recorded("asset_GME_not_fractionable.json"))
        return Reply(404, alpaca_recorded("error_asset_not_found.json"))

    server.route("/v2/assets/", asset)

    def orders(call: Call) -> Reply:
        sent = server.sent[-1]
        if call.method == "POST":
            body = copy.deepcopy(alpaca_recorded("order_accepted.json"))
            body["client_order_id"] = sent.json.get("client_order_id", body["client_order_id"])
            body["qty"] = sent.json.get("qty", body["qty"])
            body["symbol"] = sent.json.get("symbol", body["symbol"])
            return Reply.ok(body)
        if call.method == "DELETE":
            return Reply(204, "")
        if call.path.endswith(":by_client_order_id"):
            body = copy.deepcopy(alpaca_recorded("order_filled.json"))
            body["client_order_id"] = call.params.get("client_order_id", body["client_order_id"])
            return Reply.ok(body)
        return Reply.ok([alpaca_recorded("order_accepted.json")])

    server.route("/v2/orders", orders)
    server.route("/v2/positions", Reply.ok(alpaca_recorded("positions.json")))
    return server
