"""US equities and crypto through alpaca-py's ``TradingClient``: paper endpoint unless live is explicitly on.

Answers are classified as in the ccxt adapter: HTTP 429 is waited out with backoff (alpaca-py's own
fixed-sleep retry is turned off so one policy decides); a dropped connection, a timeout or a 5xx on
a submission leaves the outcome unknown, to be settled by looking the client order id up; 401, 403,
404 and 422 are the venue's rejection, with its message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AccountStatus, AssetStatus, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import Position as AlpacaPosition
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from pydantic import SecretStr

from logos.contracts import OrderType, Side
from logos.execution.order_states import OrderStatus
from logos.redact import MASK
from logos.symbols import AssetClass, SymbolSpec, spec_from_alpaca_asset
from services.executor.brokers.interface import (
    Backoff,
    Balance,
    Broker,
    CredentialCheck,
    CredentialsRefused,
    LocalDenial,
    OrderRequest,
    Outcome,
    PreparedOrder,
    SubmitResult,
    VenueOrder,
    VenuePosition,
    VenueUnavailable,
    check_limits,
)

T = TypeVar("T")
PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"

_STATUSES = {
    AlpacaStatus.FILLED: OrderStatus.FILLED,
    AlpacaStatus.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    AlpacaStatus.CANCELED: OrderStatus.CANCELED,
    AlpacaStatus.PENDING_CANCEL: OrderStatus.CANCEL_PENDING,
    AlpacaStatus.EXPIRED: OrderStatus.EXPIRED,
    AlpacaStatus.DONE_FOR_DAY: OrderStatus.EXPIRED,
    AlpacaStatus.REJECTED: OrderStatus.REJECTED,
}


def new_trading_client(api_key: SecretStr | None, secret: SecretStr | None, live: bool) -> TradingClient:
    """Return a client for the paper endpoint, or the live one only when ``live`` is set."""
    client = TradingClient(
        api_key.get_secret_value() if api_key else None,
        secret.get_secret_value() if secret else None,
        paper=not live,
    )
    client._retry = 0  # our backoff decides; alpaca-py would otherwise sleep 3 s per 429 on its own
    return client


def _status_code(exc: APIError) -> int | None:
    try:
        code = exc.status_code
        return int(code) if code is not None else None
    except (AttributeError, ValueError):
        return None


class AlpacaBroker(Broker):
    """One Alpaca account."""

    name = "alpaca"

    def __init__(
        self,
        client: TradingClient,
        dry_run: bool = False,
        symbol_map: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(dry_run)
        self.client = client
        self.symbol_map = dict(symbol_map or {})
        self.backoff = backoff or Backoff()
        self._secrets = [secret for secret in (client._api_key, client._secret_key) if secret]
        self._specs: dict[str, SymbolSpec] = {}

    @property
    def live(self) -> bool:
        return not bool(self.client._sandbox)

    def _message(self, exc: BaseException) -> str:
        if isinstance(exc, APIError):
            try:
                text = f"HTTP {_status_code(exc)}: {exc.message}"
            except (ValueError, KeyError, TypeError):
                text = f"HTTP {_status_code(exc)}: {exc}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text[:300]

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Call the API, waiting out HTTP 429 with backoff; raise VenueUnavailable when it persists."""
        for delay in [*self.backoff.delays(), None]:
            try:
                return function(*args)
            except APIError as exc:
                if _status_code(exc) != 429:
                    raise
                if delay is None:
                    raise VenueUnavailable(
                        f"Alpaca kept rate-limiting after {self.backoff.attempts} attempts: {self._message(exc)}"
                    ) from None
                self.backoff.sleep(delay)
        raise AssertionError("unreachable")

    def _read(self, function: Callable[..., T], *args: Any) -> T:
        try:
            return self._call(function, *args)
        except APIError as exc:
            if _status_code(exc) in (401, 403):
                raise CredentialsRefused(f"Alpaca refused the API key ({self._message(exc)})") from None
            raise
        except requests.RequestException as exc:
            raise VenueUnavailable(f"Alpaca did not answer: {self._message(exc)}") from None

    # -- metadata -------------------------------------------------------------------------------

    def venue_symbol(self, symbol: str) -> str:
        """Alpaca's symbol for ours: the symbol map first, then ``BTC-USD`` read as the crypto pair ``BTC/USD``."""
        return self.symbol_map.get(symbol) or symbol.replace("-", "/")

    def market(self, symbol: str) -> SymbolSpec:
        venue = self.venue_symbol(symbol)
        if venue in self._specs:
            return self._specs[venue]
        try:
            asset = self._read(self.client.get_asset, venue)
        except APIError as exc:
            if _status_code(exc) == 404:
                raise LocalDenial(
                    f"Alpaca has no asset {venue} (for {symbol}); map it with EXECUTOR_SYMBOL_MAP"
                ) from None
            raise VenueUnavailable(self._message(exc)) from None
        if not getattr(asset, "tradable", False) or getattr(asset, "status", None) != AssetStatus.ACTIVE:
            raise LocalDenial(f"Alpaca asset {venue} is not tradable")
        spec = spec_from_alpaca_asset(asset)
        self._specs[venue] = spec
        return spec

    # -- orders ---------------------------------------------------------------------------------

    def prepare(self, order: OrderRequest) -> PreparedOrder:
        spec = self.market(order.symbol)
        quantity = spec.quantize_quantity(order.quantity)
        price = spec.quantize_price(order.limit_price) if order.limit_price is not None else None
        if order.order_type is OrderType.LIMIT and price is None:
            raise LocalDenial(f"{order.symbol}: a limit order needs a limit price")
        check_limits(spec, quantity, price if price is not None else order.reference_price)
        fields: dict[str, Any] = {
            "symbol": spec.symbol,
            "qty": float(quantity),
            "side": OrderSide.BUY if order.side is Side.BUY else OrderSide.SELL,
            # fractional equity orders must be DAY orders; crypto trades around the clock
            "time_in_force": TimeInForce.GTC if spec.asset_class is AssetClass.CRYPTO else TimeInForce.DAY,
            "client_order_id": order.client_order_id,
        }
        native = (
            LimitOrderRequest(**fields, limit_price=float(price)) if price is not None else MarketOrderRequest(**fields)
        )
        request = {key: str(getattr(value, "value", value)) for key, value in native.to_request_fields().items()}
        return PreparedOrder(order, spec.symbol, quantity, price, request, native)

    def send(self, prepared: PreparedOrder) -> SubmitResult:
        try:
            placed = self._call(self.client.submit_order, prepared.native)
        except VenueUnavailable as exc:
            return SubmitResult(Outcome.REJECTED, str(exc))
        except APIError as exc:
            code = _status_code(exc)
            if code is not None and code >= 500:
                return SubmitResult(Outcome.UNKNOWN, f"Alpaca answered {code}; look the order up before any retry")
            return SubmitResult(Outcome.REJECTED, self._message(exc))
        except requests.RequestException as exc:
            return SubmitResult(
                Outcome.UNKNOWN, f"no answer from Alpaca ({type(exc).__name__}); look the order up before any retry"
            )
        venue_order = self._order(placed)
        if venue_order.status is OrderStatus.REJECTED:
            return SubmitResult(Outcome.REJECTED, "Alpaca reports the order rejected", order=venue_order)
        return SubmitResult(Outcome.ACCEPTED, f"accepted as {venue_order.venue_order_id}", order=venue_order)

    def _order(self, raw: Any) -> VenueOrder:
        assert isinstance(raw, AlpacaOrder)
        filled = Decimal(str(raw.filled_qty or 0))
        status = _STATUSES.get(raw.status, OrderStatus.ACCEPTED)
        average = raw.filled_avg_price
        return VenueOrder(
            client_order_id=raw.client_order_id,
            venue_order_id=str(raw.id),
            symbol=str(raw.symbol or ""),
            side=Side.SELL if raw.side == OrderSide.SELL else Side.BUY,
            quantity=Decimal(str(raw.qty or 0)),
            filled=filled,
            average_price=Decimal(str(average)) if average is not None else None,
            status=status,
        )

    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        try:
            return self._order(self._read(self.client.get_order_by_client_id, client_order_id))
        except APIError as exc:
            if _status_code(exc) == 404:
                return None
            raise VenueUnavailable(self._message(exc)) from None

    def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        found = self.fetch_order(client_order_id, symbol)
        if found is None:
            return None
        try:
            self._read(self.client.cancel_order_by_id, found.venue_order_id)
        except APIError as exc:
            if _status_code(exc) not in (404, 422):  # gone, or no longer cancelable: report what it is
                raise VenueUnavailable(self._message(exc)) from None
        return self.fetch_order(client_order_id, symbol)

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        query = GetOrdersRequest(status=QueryOrderStatus.OPEN, symbols=[self.venue_symbol(symbol)] if symbol else None)
        return [self._order(raw) for raw in self._read(self.client.get_orders, query)]

    def fetch_positions(self) -> list[VenuePosition]:
        return [
            VenuePosition(str(p.symbol), Decimal(str(p.qty)), Decimal(str(p.avg_entry_price)))
            for p in self._read(self.client.get_all_positions)
            if isinstance(p, AlpacaPosition)
        ]

    def fetch_balances(self) -> list[Balance]:
        account = self._read(self.client.get_account)
        cash = Decimal(str(getattr(account, "cash", 0) or 0))
        buying_power = Decimal(str(getattr(account, "buying_power", 0) or 0))
        return [Balance(str(getattr(account, "currency", None) or "USD"), buying_power, cash)]

    # -- credentials ----------------------------------------------------------------------------

    def validate_credentials(self) -> list[CredentialCheck]:
        endpoint = "live" if self.live else "paper"
        missing = [name for name, value in (("API key", self.client._api_key), ("secret", self.client._secret_key))
                   if not value]  # fmt: skip
        checks = [
            CredentialCheck("keys present", not missing, f"missing: {', '.join(missing)}" if missing else "set"),
            CredentialCheck("endpoint", True, f"{endpoint} ({LIVE_URL if self.live else PAPER_URL})"),
        ]
        if missing:
            checks.append(CredentialCheck("keys accepted", None, "not checked: no keys"))
            return checks
        try:
            account = self._read(self.client.get_account)
        except CredentialsRefused:
            other = "paper" if self.live else "live"
            checks.append(CredentialCheck("keys accepted", False, f"Alpaca's {endpoint} endpoint refused the key: "
                                          f"check the key and secret, and that they are not {other} keys"))  # fmt: skip
            return checks
        except (VenueUnavailable, APIError) as exc:
            checks.append(CredentialCheck("keys accepted", None, self._message(exc)))
            return checks
        checks.append(CredentialCheck("keys accepted", True, f"account {getattr(account, 'account_number', '?')}"))
        blocked = [name for name in ("account_blocked", "trading_blocked", "trade_suspended_by_user")
                   if getattr(account, name, False)]  # fmt: skip
        status = getattr(account, "status", None)
        tradable = status == AccountStatus.ACTIVE and not blocked
        detail = f"status {getattr(status, 'value', status)}" + (f"; {', '.join(blocked)}" if blocked else "")
        checks.append(CredentialCheck("account tradable", tradable, detail))
        crypto = getattr(account, "crypto_status", None)
        permissions = [f"shorting {'on' if getattr(account, 'shorting_enabled', False) else 'off'}",
                       f"crypto {getattr(crypto, 'value', crypto) or 'unavailable'}",
                       f"margin multiplier {getattr(account, 'multiplier', '?')}"]  # fmt: skip
        checks.append(CredentialCheck("permissions", True, ", ".join(permissions)))
        return checks
