"""Crypto exchanges through ccxt: markets become symbol specs, orders carry our id, errors are classified.

ccxt's exception tree decides the outcome of a submission: a rate limit (``RateLimitExceeded``,
``DDoSProtection``) means the venue turned the request away, so the call is retried with backoff;
any other ``NetworkError`` (``RequestTimeout`` included) leaves the outcome unknown — the order is
looked up by its client order id, never sent again blindly; ``InsufficientFunds``, ``InvalidOrder``
and every other ``ExchangeError`` are the venue's rejection, with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
from pydantic import SecretStr

from logos.contracts import OrderType, Side
from logos.execution.order_states import OrderStatus
from logos.redact import MASK
from logos.symbols import SymbolSpec, spec_from_ccxt_market
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

_STATUSES = {
    "open": OrderStatus.ACCEPTED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def new_exchange(
    exchange_id: str, api_key: SecretStr | None, secret: SecretStr | None, password: SecretStr | None, sandbox: bool
) -> Any:
    """Return a configured ccxt exchange; an unknown id or a sandbox the exchange lacks raises ValueError."""
    if exchange_id not in ccxt.exchanges:
        raise ValueError(f"ccxt has no exchange {exchange_id!r}; see `python -c 'import ccxt; print(ccxt.exchanges)'`")
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": 10_000,
        # currencies and margin pairs need private calls on some venues and are not needed for spot orders
        "options": {"fetchCurrencies": False, "fetchMargins": False, "warnOnFetchOpenOrdersWithoutSymbol": False},
    }
    for name, value in (("apiKey", api_key), ("secret", secret), ("password", password)):
        if _secret(value):
            config[name] = _secret(value)
    exchange = getattr(ccxt, exchange_id)(config)
    if sandbox:
        if not (exchange.urls or {}).get("test"):
            raise ValueError(f"{exchange_id} has no sandbox or testnet in ccxt; choose an exchange that has one")
        exchange.set_sandbox_mode(True)
    return exchange


def _quote_fee(raw: Mapping[str, Any], average: Decimal | None) -> Decimal | None:
    """The order's fee in its quote currency: as charged, or valued at the average price when charged in the base."""
    fee = raw.get("fee") or {}
    cost, currency = fee.get("cost"), fee.get("currency")
    base, _, quote = str(raw.get("symbol") or "").partition(":")[0].partition("/")
    if cost is None or not currency:
        return None
    if currency == quote:
        return Decimal(str(cost))
    if currency == base and average is not None:
        return Decimal(str(cost)) * average
    return None  # charged in a third currency (e.g. BNB): the executor estimates it


class CcxtBroker(Broker):
    """One account on one ccxt exchange."""

    name = "ccxt"

    def __init__(
        self,
        exchange: Any,
        dry_run: bool = False,
        symbol_map: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(dry_run)
        self.exchange = exchange
        self.symbol_map = dict(symbol_map or {})
        self.backoff = backoff or Backoff()
        self._secrets = [s for s in (exchange.apiKey, exchange.secret, exchange.password) if s]

    # -- calls, backoff and messages ------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Call the exchange, waiting out rate limits with backoff; raise VenueUnavailable when they persist."""
        for delay in [*self.backoff.delays(), None]:
            try:
                return function(*args)
            except ccxt.DDoSProtection as exc:  # RateLimitExceeded is one
                if delay is None:
                    raise VenueUnavailable(
                        f"{self.exchange.id} kept rate-limiting after {self.backoff.attempts} attempts: "
                        f"{self._scrub(str(exc))[:300]}"
                    ) from None
                self.backoff.sleep(delay)
        raise AssertionError("unreachable")

    def _read(self, function: Callable[..., T], *args: Any) -> T:
        """A read-only call: network trouble and refused credentials become our own exceptions."""
        try:
            return self._call(function, *args)
        except ccxt.AuthenticationError as exc:
            raise CredentialsRefused(f"{self.exchange.id} refused the API key: {self._scrub(str(exc))[:300]}") from None
        except ccxt.NetworkError as exc:
            raise VenueUnavailable(f"{self.exchange.id} did not answer: {self._scrub(str(exc))[:300]}") from None

    # -- metadata -------------------------------------------------------------------------------

    def _markets(self) -> dict[str, Any]:
        if not self.exchange.markets:
            self._read(self.exchange.load_markets)
        markets: dict[str, Any] = self.exchange.markets
        return markets

    def load_metadata(self, symbols: Sequence[str]) -> None:
        """Load every market of the exchange (one request set, whatever the symbols)."""
        self._markets()

    def venue_symbol(self, symbol: str) -> str:
        """The exchange's symbol for ours: the symbol map first, then ``BASE-QUOTE`` read as ``BASE/QUOTE``."""
        if symbol in self.symbol_map:
            return self.symbol_map[symbol]
        return symbol if "/" in symbol else symbol.replace("-", "/")

    def market(self, symbol: str) -> SymbolSpec:
        venue = self.venue_symbol(symbol)
        market = self._markets().get(venue)
        if market is None:
            raise LocalDenial(
                f"{self.exchange.id} has no market {venue} (for {symbol}); map it with EXECUTOR_SYMBOL_MAP"
            )
        if market.get("active") is False:
            raise LocalDenial(f"{self.exchange.id} market {venue} is not active")
        mode = "tick_size" if self.exchange.precisionMode == ccxt.TICK_SIZE else "decimal_places"
        return spec_from_ccxt_market(market, mode)

    # -- orders ---------------------------------------------------------------------------------

    def prepare(self, order: OrderRequest) -> PreparedOrder:
        spec = self.market(order.symbol)
        venue = spec.symbol
        quantity = Decimal(self.exchange.amount_to_precision(venue, str(order.quantity)))
        price: Decimal | None = None
        if order.order_type is OrderType.LIMIT:
            if order.limit_price is None:
                raise LocalDenial(f"{order.symbol}: a limit order needs a limit price")
            price = Decimal(self.exchange.price_to_precision(venue, str(order.limit_price)))
            self._check_price(venue, price)
        check_limits(spec, quantity, price if price is not None else order.reference_price)
        kind = "limit" if price is not None else "market"
        params = {"clientOrderId": order.client_order_id}
        arguments = (venue, kind, order.side.value, float(quantity), float(price) if price is not None else None)
        if hasattr(self.exchange, "create_order_request"):
            request = dict(self.exchange.create_order_request(*arguments, dict(params)))
        else:
            request = {"symbol": venue, "type": kind, "side": order.side.value, "amount": str(quantity),
                       "price": str(price) if price is not None else None, "params": params}  # fmt: skip
        return PreparedOrder(order, venue, quantity, price, {key: str(value) for key, value in request.items()})

    def _check_price(self, venue: str, price: Decimal) -> None:
        limits = (self.exchange.markets[venue].get("limits") or {}).get("price") or {}
        low, high = limits.get("min"), limits.get("max")
        if low is not None and price < Decimal(str(low)):
            raise LocalDenial(f"{venue}: limit price {price} is below the venue's minimum {low}")
        if high is not None and price > Decimal(str(high)):
            raise LocalDenial(f"{venue}: limit price {price} is above the venue's maximum {high}")

    def send(self, prepared: PreparedOrder) -> SubmitResult:
        order = prepared.order
        price = float(prepared.limit_price) if prepared.limit_price is not None else None
        kind = "limit" if price is not None else "market"
        try:
            placed = self._call(self.exchange.create_order, prepared.venue_symbol, kind, order.side.value,
                                float(prepared.quantity), price, {"clientOrderId": order.client_order_id})  # fmt: skip
        except VenueUnavailable as exc:  # turned away every time: nothing was placed
            return SubmitResult(Outcome.REJECTED, str(exc))
        except ccxt.NetworkError as exc:
            return SubmitResult(
                Outcome.UNKNOWN,
                f"no answer from {self.exchange.id} ({type(exc).__name__}); look the order up before any retry",
            )
        except ccxt.ExchangeError as exc:  # InsufficientFunds, InvalidOrder, AuthenticationError, ...
            return SubmitResult(Outcome.REJECTED, f"{type(exc).__name__}: {self._scrub(str(exc))[:300]}")
        venue_order = self._order(placed, order.client_order_id)
        if venue_order.status is OrderStatus.REJECTED:
            return SubmitResult(Outcome.REJECTED, "the venue reports the order rejected", order=venue_order)
        return SubmitResult(Outcome.ACCEPTED, f"accepted as {venue_order.venue_order_id}", order=venue_order)

    def _order(self, raw: Mapping[str, Any], client_order_id: str | None = None) -> VenueOrder:
        amount = Decimal(str(raw.get("amount") or 0))
        filled = Decimal(str(raw.get("filled") or 0))
        status = _STATUSES.get(str(raw.get("status")), OrderStatus.ACCEPTED)
        if status is OrderStatus.ACCEPTED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        average = raw.get("average")
        average_price = Decimal(str(average)) if average is not None else None
        return VenueOrder(
            client_order_id=str(client_order_id or raw.get("clientOrderId") or ""),
            venue_order_id=str(raw.get("id") or ""),
            symbol=str(raw.get("symbol") or ""),
            side=Side(str(raw.get("side") or "buy")),
            quantity=amount,
            filled=filled,
            average_price=average_price,
            status=status,
            fee=_quote_fee(raw, average_price),
        )

    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        try:
            raw = self._read(self.exchange.fetch_order, "", self.venue_symbol(symbol),
                             {"clientOrderId": client_order_id})  # fmt: skip
        except ccxt.OrderNotFound:
            return None
        return self._order(raw, client_order_id)

    def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        try:
            raw = self._read(self.exchange.cancel_order, "", self.venue_symbol(symbol),
                             {"clientOrderId": client_order_id})  # fmt: skip
        except ccxt.OrderNotFound:
            return None
        return self._order(raw, client_order_id)

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        venue = self.venue_symbol(symbol) if symbol else None
        return [self._order(raw) for raw in self._read(self.exchange.fetch_open_orders, venue)]

    def fetch_balances(self) -> list[Balance]:
        raw = self._read(self.exchange.fetch_balance)
        totals, free = raw.get("total") or {}, raw.get("free") or {}
        return [
            Balance(currency, Decimal(str(free.get(currency) or 0)), Decimal(str(total or 0)))
            for currency, total in sorted(totals.items())
            if total
        ]

    def fetch_positions(self) -> list[VenuePosition]:
        """Derivative positions where the venue has them; on spot, every non-zero balance is a position."""
        derivatives = self.exchange.options.get("defaultType") not in (None, "spot")
        if self.exchange.has.get("fetchPositions") is True and derivatives:
            positions = []
            for raw in self._read(self.exchange.fetch_positions):
                sign = -1 if raw.get("side") == "short" else 1
                entry = raw.get("entryPrice")
                positions.append(VenuePosition(str(raw["symbol"]), sign * Decimal(str(raw.get("contracts") or 0)),
                                               Decimal(str(entry)) if entry else None))  # fmt: skip
            return positions
        return [VenuePosition(b.currency, b.total, None) for b in self.fetch_balances()]

    # -- credentials ----------------------------------------------------------------------------

    def validate_credentials(self) -> list[CredentialCheck]:
        exchange = self.exchange
        present = bool(exchange.apiKey) and bool(exchange.secret)
        missing = [name for name, value in (("API key", exchange.apiKey), ("secret", exchange.secret)) if not value]
        checks = [
            CredentialCheck(
                "keys present", present, "API key and secret are set" if present else f"missing: {', '.join(missing)}"
            )
        ]
        try:
            self._markets()
            checks.append(CredentialCheck("markets", True, f"{len(exchange.markets)} markets loaded"))
        except (VenueUnavailable, CredentialsRefused) as exc:
            checks.append(CredentialCheck("markets", False, str(exc)))
        if not present:
            checks.append(CredentialCheck("keys accepted", None, "not checked: no keys"))
            return checks
        try:
            balance = self._read(exchange.fetch_balance)
        except CredentialsRefused:
            checks.append(CredentialCheck("keys accepted", False, f"{exchange.id} refused the API key or secret"))
            return checks
        except (VenueUnavailable, ccxt.ExchangeError) as exc:
            checks.append(CredentialCheck("keys accepted", None, self._scrub(str(exc))[:300]))
            return checks
        checks.append(CredentialCheck("keys accepted", True, f"{exchange.id} answered a signed balance request"))
        info = balance.get("info") or {}
        can_trade = info.get("canTrade") if isinstance(info, Mapping) else None
        if can_trade is None:
            checks.append(CredentialCheck("account tradable", None, f"{exchange.id} does not report it"))
        else:
            detail = "trading is enabled" if can_trade else "trading is disabled for this key"
            checks.append(CredentialCheck("account tradable", bool(can_trade), detail))
        permissions = info.get("permissions") if isinstance(info, Mapping) else None
        if permissions:
            spot = "SPOT" in permissions or "TRD_GRP_002" in permissions
            checks.append(CredentialCheck("permissions", True if spot else None, ", ".join(map(str, permissions))))
        else:
            checks.append(CredentialCheck("permissions", None, f"{exchange.id} does not list them"))
        return checks
