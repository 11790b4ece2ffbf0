"""The Alpaca adapter through alpaca-py's own TradingClient, answered from recorded responses."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from pydantic import SecretStr
from typer.testing import CliRunner

from logos.contracts import OrderType, Side
from logos.execution.order_states import OrderStatus
from services.cli import app
from services.executor.brokers.alpaca_broker import AlpacaBroker, new_trading_client
from services.executor.brokers.interface import Backoff, OrderRequest, Outcome
from tests.support.recorded_brokers import (
    FAKE_ALPACA_KEY,
    FAKE_ALPACA_SECRET,
    RecordingServer,
    alpaca_recorded,
    alpaca_server,
)
from tests.support.recorded_http import Reply

CLIENT_ID = "lg-0123456789ab-o1"


def _broker(server: RecordingServer, dry_run: bool = False, live: bool = False) -> tuple[AlpacaBroker, list[float]]:
    client = new_trading_client(SecretStr(FAKE_ALPACA_KEY), SecretStr(FAKE_ALPACA_SECRET), live=live)
    server.mount_on(client._session)
    waits: list[float] = []
    return AlpacaBroker(client, dry_run=dry_run, backoff=Backoff(attempts=3, first=0.25, sleep=waits.append)), waits


def _buy(symbol: str = "AAPL", quantity: str = "10", price: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=CLIENT_ID,
        symbol=symbol,
        side=Side.BUY,
        quantity=Decimal(quantity),
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        limit_price=Decimal(price) if price else None,
        reference_price=Decimal("201.50"),
    )


def test_market_when_asset_is_fractionable_then_spec_allows_fractions_with_one_dollar_minimum() -> None:
    server = alpaca_server()
    broker, _ = _broker(server)
    spec = broker.market("AAPL")
    assert spec.fractionable and spec.lot_size == Decimal("0.000000001")
    assert spec.min_notional == Decimal(1)
    whole = broker.market("GME")
    assert not whole.fractionable and whole.lot_size == Decimal(1)
    assert server.calls_to("paper-api.alpaca.markets/v2/assets/AAPL")


def test_submit_when_quantity_below_one_dollar_then_denied_locally_and_nothing_sent() -> None:
    server = alpaca_server()
    broker, _ = _broker(server)
    result = broker.submit(_buy(quantity="0.004"))  # 0.004 x 201.50 = 0.806 USD
    assert result.outcome is Outcome.DENIED
    assert "below the venue's minimum 1" in result.reason
    assert not [sent for sent in server.sent if sent.method == "POST"]


def test_prepare_when_asset_not_fractionable_then_quantity_floors_to_whole_shares() -> None:
    broker, _ = _broker(alpaca_server())
    prepared = broker.prepare(_buy("GME", "7.9", price="25.004"))
    assert prepared.quantity == Decimal(7)
    assert prepared.request == {"symbol": "GME", "qty": "7.0", "side": "buy", "type": "limit",
                                "time_in_force": "day", "client_order_id": CLIENT_ID,
                                "limit_price": "25.0"}  # fmt: skip


def test_submit_when_dry_run_then_request_built_from_asset_and_not_sent() -> None:
    server = alpaca_server()
    broker, _ = _broker(server, dry_run=True)
    result = broker.submit(_buy())
    assert result.outcome is Outcome.DRY_RUN
    assert result.request["client_order_id"] == CLIENT_ID and result.request["type"] == "market"
    assert not [sent for sent in server.sent if sent.method == "POST"]


def test_submit_when_alpaca_accepts_then_accepted_with_our_client_id_and_keys_in_headers_only() -> None:
    server = alpaca_server()
    broker, _ = _broker(server)
    result = broker.submit(_buy())
    assert result.outcome is Outcome.ACCEPTED
    assert result.order is not None and result.order.status is OrderStatus.ACCEPTED
    sent = server.last("POST", "/v2/orders")
    assert sent.json["client_order_id"] == CLIENT_ID
    assert sent.headers["APCA-API-KEY-ID"] == FAKE_ALPACA_KEY
    assert FAKE_ALPACA_SECRET not in sent.body


def test_submit_when_buying_power_insufficient_then_rejected_with_venue_message() -> None:
    server = alpaca_server()
    server.route("/v2/orders", Reply(403, alpaca_recorded("error_forbidden_buying_power.json")))
    broker, _ = _broker(server)
    result = broker.submit(_buy())
    assert result.outcome is Outcome.REJECTED
    assert result.reason == "HTTP 403: insufficient buying power"


def test_submit_when_order_unprocessable_then_rejected() -> None:
    server = alpaca_server()
    server.route("/v2/orders", Reply(422, alpaca_recorded("error_unprocessable.json")))
    broker, _ = _broker(server)
    assert broker.submit(_buy()).reason == "HTTP 422: qty must be > 0"


def test_submit_when_connection_times_out_then_unknown_and_resolved_by_client_order_id() -> None:
    server = alpaca_server()
    normal = server.responder("/v2/orders")

    def flaky(call):  # type: ignore[no-untyped-def]
        if call.method == "POST":
            return requests.exceptions.ConnectTimeout("connect timed out")
        return normal(call)

    server.route("/v2/orders", flaky)
    broker, _ = _broker(server)
    order = _buy()
    assert broker.submit(order).outcome is Outcome.UNKNOWN
    resolved = broker.resolve(order)
    assert resolved.outcome is Outcome.ACCEPTED
    assert resolved.order is not None and resolved.order.status is OrderStatus.FILLED
    assert resolved.order.average_price == Decimal("201.47")
    assert server.calls_to("/v2/orders:by_client_order_id")[-1].params == {"client_order_id": CLIENT_ID}
    assert len([sent for sent in server.sent if sent.method == "POST"]) == 1


def test_resolve_when_alpaca_never_got_the_order_then_safe_to_submit_again() -> None:
    server = alpaca_server()
    server.route("/v2/orders:by_client_order_id", Reply(404, alpaca_recorded("error_order_not_found.json")))
    broker, _ = _broker(server)
    assert "safe to submit again" in broker.resolve(_buy()).reason


def test_submit_when_rate_limited_then_backs_off_and_succeeds() -> None:
    server = alpaca_server()
    normal = server.responder("/v2/orders")
    limited = [Reply(429, alpaca_recorded("error_rate_limited.json"))] * 2

    def busy(call):  # type: ignore[no-untyped-def]
        if call.method == "POST" and limited:
            return limited.pop()
        return normal(call)

    server.route("/v2/orders", busy)
    broker, waits = _broker(server)
    assert broker.submit(_buy()).outcome is Outcome.ACCEPTED
    assert waits == [0.25, 0.5]


def test_validate_credentials_when_key_is_wrong_then_clear_message_without_the_key() -> None:
    server = alpaca_server()
    server.route("/v2/account", Reply(401, alpaca_recorded("error_unauthorized.json")))
    broker, _ = _broker(server)
    checks = {check.name: check for check in broker.validate_credentials()}
    assert checks["keys accepted"].ready is False
    assert checks["keys accepted"].detail.startswith("Alpaca's paper endpoint refused the key")
    assert FAKE_ALPACA_KEY not in repr(checks) and FAKE_ALPACA_SECRET not in repr(checks)


def test_validate_credentials_when_account_active_then_every_item_ready() -> None:
    broker, _ = _broker(alpaca_server())
    checks = {check.name: check for check in broker.validate_credentials()}
    assert all(check.ready for check in checks.values())
    assert checks["endpoint"].detail.startswith("paper")
    assert "shorting on" in checks["permissions"].detail


def test_new_trading_client_when_live_not_enabled_then_paper_endpoint() -> None:
    server = alpaca_server()
    broker, _ = _broker(server)
    broker.fetch_balances()
    assert server.sent[-1].url.startswith("https://paper-api.alpaca.markets/v2/account")
    live_server = alpaca_server()
    live, _ = _broker(live_server, live=True)
    live.fetch_balances()
    assert live_server.sent[-1].url.startswith("https://api.alpaca.markets/v2/account")


def test_positions_open_orders_and_cancel_when_read_then_parsed() -> None:
    server = alpaca_server()
    broker, _ = _broker(server)
    assert [(p.symbol, p.quantity) for p in broker.fetch_positions()] == [("AAPL", Decimal("2.5"))]
    assert [o.client_order_id for o in broker.fetch_open_orders("AAPL")] == [CLIENT_ID]
    assert broker.cancel(CLIENT_ID, "AAPL") is not None
    assert server.last("DELETE", "/v2/orders/").url.endswith("/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d")


def test_brokers_check_when_alpaca_keys_missing_then_each_named_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "EXECUTOR_ALPACA_API_KEY", "EXECUTOR_ALPACA_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXECUTOR_ALPACA_API_KEY", "PKFAKEPAPER9KEY8ID7Y")
    result = CliRunner().invoke(app, ["brokers", "check", "alpaca"])
    assert result.exit_code == 1, result.output
    assert "MISSING  keys present: missing: EXECUTOR_ALPACA_SECRET_KEY" in result.output
    assert "not ready" in result.output and "PKFAKEPAPER9KEY8ID7Y" not in result.output
