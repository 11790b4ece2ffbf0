"""One broker interface for the paper broker and every venue adapter, and the outcomes of sending an order.

A submission ends in exactly one of five outcomes, kept apart on purpose:

- ``DENIED`` — refused by our own checks against the venue's metadata; nothing was sent;
- ``REJECTED`` — the venue answered and refused it (its reason is kept);
- ``UNKNOWN`` — the request may or may not have reached the venue (a timeout, a dropped connection);
  the order must be looked up at the venue (:meth:`Broker.resolve`) before anything is sent again;
- ``ACCEPTED`` — the venue acknowledged it (it may already be filled);
- ``DRY_RUN`` — everything up to the network call was done and the exact request kept, but not sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from logos.contracts import OrderType, Side
from logos.execution.order_states import OrderStatus
from logos.symbols import SymbolSpec

CLIENT_ORDER_ID_LENGTH = 36  # the shortest limit among the venues (Binance)


def client_order_id(session_id: str, order_id: str) -> str:
    """Our order id as the venue's client order id: stable across restarts, unique per session, <= 36 chars."""
    digest = hashlib.sha256(session_id.encode()).hexdigest()[:12]
    return f"lg-{digest}-{order_id}"[:CLIENT_ORDER_ID_LENGTH]


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DENIED = "denied"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    DRY_RUN = "dry_run"


@dataclass(frozen=True)
class OrderRequest:
    """One order to send: what the executor decided, before the venue's rounding."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reference_price: Decimal | None = None  # the last mark, for notional checks of market orders


@dataclass(frozen=True)
class PreparedOrder:
    """An order after the venue's metadata, rounding and limits: ``request`` is exactly what would be sent."""

    order: OrderRequest
    venue_symbol: str
    quantity: Decimal
    limit_price: Decimal | None
    request: dict[str, Any]
    native: Any = None  # the client library's own request object, when it takes one


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it, in our lifecycle's terms."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    filled: Decimal
    average_price: Decimal | None
    status: OrderStatus
    fee: Decimal | None = None  # cumulative, in the quote currency; None when the venue does not report it


@dataclass(frozen=True)
class SubmitResult:
    """What happened to one submission."""

    outcome: Outcome
    reason: str
    request: dict[str, Any] = field(default_factory=dict)
    order: VenueOrder | None = None


@dataclass(frozen=True)
class Balance:
    currency: str
    free: Decimal
    total: Decimal


@dataclass(frozen=True)
class VenuePosition:
    symbol: str
    quantity: Decimal
    average_price: Decimal | None


@dataclass(frozen=True)
class CredentialCheck:
    """One item of a credential readiness report; ``ready`` is None when it could not be checked."""

    name: str
    ready: bool | None
    detail: str


class LocalDenial(Exception):
    """An order our own checks refuse before anything is sent; the message says which limit and by how much."""


class VenueUnavailable(Exception):
    """The venue could not be asked (network, rate limit after every retry); the message never holds a secret."""


class CredentialsRefused(Exception):
    """The venue refused the credentials; the message never holds them."""


@dataclass(frozen=True)
class Backoff:
    """How long to wait before each retry of a rate-limited call: ``first`` doubling up to ``longest``."""

    attempts: int = 4
    first: float = 1.0
    longest: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> list[float]:
        return [min(self.longest, self.first * 2**attempt) for attempt in range(self.attempts - 1)]


class Broker(ABC):
    """Submit, cancel and look up orders; read positions, balances and market metadata; check credentials."""

    name: str = "broker"

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run

    @abstractmethod
    def market(self, symbol: str) -> SymbolSpec:
        """Return the venue's trading rules for ``symbol``; raise :class:`LocalDenial` when it has no such market."""

    @abstractmethod
    def prepare(self, order: OrderRequest) -> PreparedOrder:
        """Round and check ``order`` against the venue's rules and build the exact request; raise LocalDenial."""

    @abstractmethod
    def send(self, prepared: PreparedOrder) -> SubmitResult:
        """Send a prepared order and classify the answer (accepted, rejected or unknown)."""

    @abstractmethod
    def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """Cancel an order; None when the venue does not know it."""

    @abstractmethod
    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        """Look an order up by our id; None when the venue does not know it."""

    @abstractmethod
    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """Orders still working at the venue."""

    @abstractmethod
    def fetch_positions(self) -> list[VenuePosition]:
        """Positions the venue holds for the account."""

    @abstractmethod
    def fetch_balances(self) -> list[Balance]:
        """Balances by currency."""

    @abstractmethod
    def validate_credentials(self) -> list[CredentialCheck]:
        """Report, item by item, whether the account is ready to trade."""

    def venue_symbol(self, symbol: str) -> str:
        """Return the venue's name for our ``symbol``: the symbol itself unless the venue spells it otherwise."""
        return symbol

    def load_metadata(self, symbols: Sequence[str]) -> None:
        """Read the venue's trading rules for ``symbols`` now; raise VenueUnavailable or CredentialsRefused.

        A session calls it once before its first bar, so a venue that cannot be read fails the start
        instead of every order. A symbol the venue does not list is no error here: its orders are denied.
        """
        for symbol in symbols:
            with contextlib.suppress(LocalDenial):
                self.market(symbol)

    def submit(self, order: OrderRequest) -> SubmitResult:
        """Prepare ``order`` and send it — or, in dry-run, keep the exact request and send nothing."""
        try:
            prepared = self.prepare(order)
        except LocalDenial as exc:
            return SubmitResult(Outcome.DENIED, str(exc))
        except VenueUnavailable as exc:
            return SubmitResult(Outcome.DENIED, f"market metadata unavailable, nothing sent: {exc}")
        if self.dry_run:
            return SubmitResult(Outcome.DRY_RUN, "dry run: built, not sent", prepared.request)
        result = self.send(prepared)
        return SubmitResult(result.outcome, result.reason, prepared.request, result.order)

    def resolve(self, order: OrderRequest) -> SubmitResult:
        """Settle an UNKNOWN submission by asking the venue; never resubmit before this says it is absent."""
        try:
            found = self.fetch_order(order.client_order_id, order.symbol)
        except VenueUnavailable as exc:
            return SubmitResult(Outcome.UNKNOWN, f"still unknown, the venue could not be asked: {exc}")
        if found is None:
            return SubmitResult(Outcome.REJECTED, "the venue has no such order: it never arrived; safe to submit again")
        if found.status is OrderStatus.REJECTED:
            return SubmitResult(Outcome.REJECTED, "the venue rejected it", order=found)
        return SubmitResult(Outcome.ACCEPTED, f"found at the venue ({found.status})", order=found)


def check_limits(spec: SymbolSpec, quantity: Decimal, price: Decimal | None) -> None:
    """Refuse a rounded order outside the symbol's amount and cost limits (raise :class:`LocalDenial`)."""
    if quantity <= 0:
        raise LocalDenial(f"{spec.symbol}: quantity rounds to {quantity} at the venue's step {spec.lot_size}")
    if quantity < spec.min_quantity:
        raise LocalDenial(f"{spec.symbol}: quantity {quantity} is below the venue's minimum {spec.min_quantity}")
    if spec.max_quantity is not None and quantity > spec.max_quantity:
        raise LocalDenial(f"{spec.symbol}: quantity {quantity} exceeds the venue's maximum {spec.max_quantity}")
    if price is not None and spec.min_notional > 0 and quantity * price < spec.min_notional:
        raise LocalDenial(
            f"{spec.symbol}: order notional {quantity * price} is below the venue's minimum {spec.min_notional}"
        )
