"""The ccxt adapter through ccxt's own Binance class: signing, parsing and error mapping on recorded responses."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from pydantic import SecretStr

from logos.contracts import OrderType, Side
from logos.execution.order_states import OrderStatus
from services.executor.brokers.ccxt_broker import CcxtBroker, new_exchange
from services.executor.brokers.interface import Backoff, OrderRequest, Outcome
from tests.support.recorded_brokers import (
    FAKE_BINANCE_KEY,
    FAKE_BINANCE_SECRET,
    RecordingServer,
    binance_trading_server,
    ccxt_recorded,
)
from tests.support.recorded_http import Reply, recorded

CLIENT_ID = "lg-0123456789ab-o1"


def _broker(server: RecordingServer, dry_run: bool = False, keys: bool = True) -> tuple[CcxtBroker, list[float]]:
    key, secret = (SecretStr(FAKE_BINANCE_KEY), SecretStr(FAKE_BINANCE_SECRET)) if keys else (None, None)
    exchange = new_exchange("binance", key, secret, None, sandbox=False)
    server.mount_on(exchange.session)
    waits: list[float] = []
    broker = CcxtBroker(exchange, dry_run=dry_run, backoff=Backoff(attempts=3, first=0.5, sleep=waits.append))
    return broker, waits


def _buy(quantity: str = "0.01", price: str | None = None, reference: str = "104500") -> OrderRequest:
    return OrderRequest(
        client_order_id=CLIENT_ID,
        symbol="BTC-USDT",
        side=Side.BUY,
        quantity=Decimal(quantity),
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        limit_price=Decimal(price) if price else None,
        reference_price=Decimal(reference),
    )


def test_market_when_binance_lists_btcusdt_then_spec_has_its_filters() -> None:
    broker, _ = _broker(binance_trading_server())
    spec = broker.market("BTC-USDT")
    assert spec.symbol == "BTC/USDT"
    assert spec.tick_size == Decimal("0.01")
    assert spec.lot_size == Decimal("0.00001")
    assert spec.min_quantity == Decimal("0.00001")
    assert spec.max_quantity == Decimal("9000")
    assert spec.min_notional == Decimal("5")
    assert spec.quote_currency == "USDT"


def test_prepare_when_quantity_and_price_are_too_fine_then_they_are_rounded_to_the_venue() -> None:
    broker, _ = _broker(binance_trading_server())
    prepared = broker.prepare(_buy("0.0123456789", price="100000.123"))
    assert prepared.quantity == Decimal("0.01234")  # truncated to the 0.00001 step
    assert prepared.limit_price == Decimal("100000.12")
    assert prepared.request["quantity"] == "0.01234"
    assert prepared.request["price"] == "100000.12"
    assert prepared.request["newClientOrderId"] == CLIENT_ID
    assert prepared.request["symbol"] == "BTCUSDT"


def test_submit_when_notional_below_minimum_then_denied_locally_and_nothing_sent() -> None:
    server = binance_trading_server()
    broker, _ = _broker(server)
    result = broker.submit(_buy("0.00002"))  # 0.00002 x 104500 = 2.09 USDT < 5
    assert result.outcome is Outcome.DENIED
    assert "below the venue's minimum 5" in result.reason
    assert not server.calls_to("/api/v3/order")


def test_submit_when_dry_run_then_exact_request_kept_and_nothing_sent() -> None:
    server = binance_trading_server()
    broker, _ = _broker(server, dry_run=True)
    result = broker.submit(_buy("0.01"))
    assert result.outcome is Outcome.DRY_RUN
    expected = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "newClientOrderId": CLIENT_ID}
    assert expected.items() <= result.request.items()
    assert not any("signature" in key or "apiKey" in key for key in result.request)
    assert not server.calls_to("/api/v3/order")


def test_submit_when_binance_fills_then_accepted_filled_with_our_client_id_signed() -> None:
    server = binance_trading_server()
    broker, _ = _broker(server)
    result = broker.submit(_buy("0.01"))
    assert result.outcome is Outcome.ACCEPTED
    assert result.order is not None
    assert result.order.status is OrderStatus.FILLED
    assert result.order.filled == Decimal("0.01")
    assert result.order.average_price == Decimal("104512")
    assert result.order.client_order_id == CLIENT_ID
    sent = server.last("POST", "/api/v3/order")
    assert sent.form["newClientOrderId"] == CLIENT_ID
    assert "signature" in sent.form
    assert sent.headers["X-MBX-APIKEY"] == FAKE_BINANCE_KEY


def test_submit_when_balance_insufficient_then_rejected_with_venue_reason() -> None:
    server = binance_trading_server()
    server.route("/api/v3/order", Reply(400, ccxt_recorded("binance_error_insufficient_balance.json")))
    broker, _ = _broker(server)
    result = broker.submit(_buy("0.01"))
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith("InsufficientFunds")
    assert "insufficient balance" in result.reason


def test_submit_when_timeout_then_unknown_and_resolved_by_fetch_without_resubmitting() -> None:
    server = binance_trading_server()
    answers = iter([requests.exceptions.ReadTimeout("read timed out")])
    normal = server.responder("/api/v3/order")

    def flaky(call):  # type: ignore[no-untyped-def]
        if call.method == "POST":
            return next(answers)
        return normal(call)

    server.route("/api/v3/order", flaky)
    broker, _ = _broker(server)
    order = _buy("0.01")
    result = broker.submit(order)
    assert result.outcome is Outcome.UNKNOWN
    assert "look the order up" in result.reason
    resolved = broker.resolve(order)
    assert resolved.outcome is Outcome.ACCEPTED
    assert resolved.order is not None and resolved.order.status is OrderStatus.FILLED
    assert server.last("GET", "/api/v3/order").form["origClientOrderId"] == CLIENT_ID
    assert len([sent for sent in server.sent if sent.method == "POST"]) == 1  # never sent twice


def test_resolve_when_venue_never_got_the_order_then_safe_to_submit_again() -> None:
    server = binance_trading_server()
    server.route("/api/v3/order", Reply(400, ccxt_recorded("binance_error_order_not_found.json")))
    broker, _ = _broker(server)
    resolved = broker.resolve(_buy("0.01"))
    assert resolved.outcome is Outcome.REJECTED
    assert "safe to submit again" in resolved.reason


def test_submit_when_rate_limited_then_backs_off_and_succeeds() -> None:
    server = binance_trading_server()
    normal = server.responder("/api/v3/order")
    limited = [Reply(429, recorded("binance_error_too_many_requests.json"))] * 2

    def busy(call):  # type: ignore[no-untyped-def]
        if call.method == "POST" and limited:
            return limited.pop()
        return normal(call)

    server.route("/api/v3/order", busy)
    broker, waits = _broker(server)
    result = broker.submit(_buy("0.01"))
    assert result.outcome is Outcome.ACCEPTED
    assert waits == [0.5, 1.0]


def test_submit_when_rate_limit_persists_then_rejected_without_unknown() -> None:
    server = binance_trading_server()
    server.route("/api/v3/order", Reply(429, recorded("binance_error_too_many_requests.json")))
    broker, waits = _broker(server)
    result = broker.submit(_buy("0.01"))
    assert result.outcome is Outcome.REJECTED
    assert "rate-limiting after 3 attempts" in result.reason
    assert waits == [0.5, 1.0]


def test_validate_credentials_when_keys_are_wrong_then_not_accepted_and_key_not_shown() -> None:
    server = binance_trading_server()
    server.route("/api/v3/account", Reply(401, ccxt_recorded("binance_error_invalid_api_key.json")))
    broker, _ = _broker(server)
    checks = {check.name: check for check in broker.validate_credentials()}
    assert checks["keys present"].ready is True
    assert checks["keys accepted"].ready is False
    assert "refused" in checks["keys accepted"].detail
    text = repr(checks)
    assert FAKE_BINANCE_KEY not in text and FAKE_BINANCE_SECRET not in text


def test_validate_credentials_when_keys_work_then_account_tradable_with_spot_permission() -> None:
    broker, _ = _broker(binance_trading_server())
    checks = {check.name: check for check in broker.validate_credentials()}
    assert [checks[name].ready for name in ("keys present", "markets", "keys accepted", "account tradable")] == [
        True,
        True,
        True,
        True,
    ]
    assert checks["permissions"].detail == "SPOT"


def test_validate_credentials_when_no_keys_then_missing_named_and_nothing_signed() -> None:
    server = binance_trading_server()
    broker, _ = _broker(server, keys=False)
    checks = {check.name: check for check in broker.validate_credentials()}
    assert checks["keys present"].ready is False
    assert checks["keys present"].detail == "missing: API key, secret"
    assert checks["keys accepted"].ready is None
    assert not server.calls_to("/api/v3/account")


def test_orders_balances_and_cancel_when_read_then_parsed_from_binance() -> None:
    broker, _ = _broker(binance_trading_server())
    open_orders = broker.fetch_open_orders("BTC-USDT")
    assert [(o.client_order_id, o.status, o.quantity) for o in open_orders] == [
        ("lg-0123456789ab-o2", OrderStatus.ACCEPTED, Decimal("0.01"))
    ]
    balances = {b.currency: b for b in broker.fetch_balances()}
    assert balances["USDT"].total == Decimal("10000") and balances["USDT"].free == Decimal("9500")
    assert {p.symbol: p.quantity for p in broker.fetch_positions()} == {
        "BTC": Decimal("0.01"),
        "USDT": Decimal("10000"),
    }
    canceled = broker.cancel("lg-0123456789ab-o2", "BTC-USDT")
    assert canceled is not None and canceled.status is OrderStatus.CANCELED


def test_new_exchange_when_sandbox_unsupported_then_clear_error() -> None:
    with pytest.raises(ValueError, match="no sandbox or testnet"):
        new_exchange("kraken", None, None, None, sandbox=True)
    with pytest.raises(ValueError, match="ccxt has no exchange"):
        new_exchange("nosuchexchange", None, None, None, sandbox=False)
