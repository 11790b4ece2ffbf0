"""Interactive Brokers: not supported yet. Selecting it is refused at configuration time.

The adapter would sit on the TWS/IB Gateway API (a local gateway process, not a REST endpoint),
which this release does not ship. Until it does, trade US equities through Alpaca and crypto
through ccxt, or paper-trade with the paper broker.
"""

from __future__ import annotations

from typing import NoReturn

from logos.symbols import SymbolSpec
from services.executor.brokers.interface import (
    Balance,
    Broker,
    CredentialCheck,
    OrderRequest,
    PreparedOrder,
    SubmitResult,
    VenueOrder,
    VenuePosition,
)

IB_NOT_SUPPORTED = (
    "EXECUTOR_BROKER=ib: Interactive Brokers is not supported yet; use EXECUTOR_BROKER=alpaca for US equities, "
    "ccxt for crypto, or paper"
)


class IbNotSupported(RuntimeError):
    """Raised when something asks for the IB adapter."""


class IbBroker(Broker):
    """The documented stub: constructing it refuses with what to use instead."""

    name = "ib"

    def __init__(self, dry_run: bool = False) -> None:
        raise IbNotSupported(IB_NOT_SUPPORTED)

    def _unsupported(self) -> NoReturn:
        raise IbNotSupported(IB_NOT_SUPPORTED)

    def market(self, symbol: str) -> SymbolSpec:
        self._unsupported()

    def prepare(self, order: OrderRequest) -> PreparedOrder:
        self._unsupported()

    def send(self, prepared: PreparedOrder) -> SubmitResult:
        self._unsupported()

    def cancel(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        self._unsupported()

    def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        self._unsupported()

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        self._unsupported()

    def fetch_positions(self) -> list[VenuePosition]:
        self._unsupported()

    def fetch_balances(self) -> list[Balance]:
        self._unsupported()

    def validate_credentials(self) -> list[CredentialCheck]:
        self._unsupported()
