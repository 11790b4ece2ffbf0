"""The FIFO ledger: lots per symbol, realized PnL per closed lot, cash, fees, long and short.

Closed lots, open lots marked to market and executions are named tuples: immutable, and cheap to
create on every fill.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from logos.contracts import Side

ZERO = Decimal(0)
_new = tuple.__new__


@dataclass(slots=True)
class Lot:
    """An open position slice: signed quantity (negative is short) at its entry price."""

    quantity: Decimal
    price: Decimal
    opened_at: datetime
    fee: Decimal  # entry fee not yet attributed to a closed part of this lot


class ClosedLot(NamedTuple):
    """The part of a lot that a fill closed: a round trip with its PnL."""

    symbol: str
    direction: str  # "long" or "short"
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    opened_at: datetime
    closed_at: datetime
    pnl: Decimal  # price PnL, before fees
    fees: Decimal  # the entry and exit fees attributed to this quantity

    @property
    def net_pnl(self) -> Decimal:
        return self.pnl - self.fees

    @property
    def status(self) -> str:
        return "closed"


class OpenLot(NamedTuple):
    """A lot still open, marked to market: a round trip without its exit, with the PnL it holds at the mark."""

    symbol: str
    direction: str  # "long" or "short"
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal  # the mark: no exit has happened
    opened_at: datetime
    pnl: Decimal  # price PnL at the mark, before fees
    fees: Decimal  # the entry fee still attributed to this lot; the exit fee is not paid yet
    closed_at: None = None

    @property
    def net_pnl(self) -> Decimal:
        return self.pnl - self.fees

    @property
    def status(self) -> str:
        return "open"


class Execution(NamedTuple):
    """One fill as the ledger saw it, with the PnL it realized and what it left."""

    ts: datetime
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal
    position_after: Decimal
    cash_after: Decimal
    order_id: str


@dataclass
class FifoLedger:
    """Cash and FIFO lots; the only place positions and realized PnL are computed."""

    cash: Decimal
    lots: dict[str, deque[Lot]] = field(default_factory=dict)
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    closed: list[ClosedLot] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    # the sum of each symbol's lots, kept with every fill (the backtest asks for it on every decision)
    positions: dict[str, Decimal] = field(default_factory=dict)
    version: int = 0  # counts the fills booked: what was derived from the lots at one version holds until the next

    def position(self, symbol: str) -> Decimal:
        return self.positions.get(symbol, ZERO)

    def average_price(self, symbol: str) -> Decimal:
        lots = self.lots.get(symbol)
        quantity = self.position(symbol)
        if not lots or quantity == 0:
            return ZERO
        return sum((lot.quantity * lot.price for lot in lots), ZERO) / quantity

    def unrealized_pnl(self, marks: dict[str, Decimal]) -> Decimal:
        """PnL of the open lots at ``marks`` (positions without a mark count at their entry price)."""
        total = ZERO
        for symbol, lots in self.lots.items():
            mark = marks.get(symbol)
            if mark is not None:
                total += sum(((mark - lot.price) * lot.quantity for lot in lots), ZERO)
        return total

    def open_lots(self, marks: dict[str, Decimal]) -> list[OpenLot]:
        """Every open lot, oldest first per symbol, marked at ``marks`` (its entry price without a mark)."""
        marked = []
        for symbol, lots in self.lots.items():
            for lot in lots:
                mark = marks.get(symbol, lot.price)
                direction = 1 if lot.quantity > 0 else -1
                quantity = abs(lot.quantity)
                pnl = (mark - lot.price) * quantity * direction
                side = "long" if direction > 0 else "short"
                marked.append(OpenLot(symbol, side, quantity, lot.price, mark, lot.opened_at, pnl, lot.fee))
        return marked

    def equity(self, marks: dict[str, Decimal]) -> Decimal:
        """Cash plus every position at its mark."""
        return self.cash + sum(
            (self.position(symbol) * marks.get(symbol, self.average_price(symbol)) for symbol in self.lots), ZERO
        )

    def apply(
        self, ts: datetime, symbol: str, side: Side, quantity: Decimal, price: Decimal, fee: Decimal, order_id: str = ""
    ) -> Execution:
        """Book a fill: close opposite lots first-in first-out, open the rest, move cash and fees."""
        if quantity <= 0 or price <= 0 or fee < 0:
            raise ValueError(f"a fill needs quantity > 0, price > 0 and fee >= 0 (got {quantity}, {price}, {fee})")
        buying = side is Side.BUY
        signed = quantity if buying else -quantity
        self.version += 1
        self.cash -= signed * price + fee
        self.fees_paid += fee
        lots = self.lots.get(symbol)
        if lots is None:
            lots = self.lots[symbol] = deque()
        realized = ZERO
        if not lots or (lots[0].quantity > 0) is buying:
            lots.append(Lot(signed, price, ts, fee))  # nothing to close: the whole fill opens a lot
        else:
            realized = self._close(lots, ts, symbol, buying, quantity, price, fee)
        position = self.positions.get(symbol, ZERO) + signed
        if not lots:
            del self.lots[symbol]
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = position
        self.realized_pnl += realized
        # tuple.__new__ builds the same named tuple without its Python-level __new__ (this runs on every fill)
        execution = _new(Execution, (ts, symbol, side, quantity, price, fee, realized, position, self.cash, order_id))
        self.executions.append(execution)
        return execution

    def _close(
        self,
        lots: deque[Lot],
        ts: datetime,
        symbol: str,
        buying: bool,
        quantity: Decimal,
        price: Decimal,
        fee: Decimal,
    ) -> Decimal:
        """Close opposite lots first-in first-out, open what is left; return the realized PnL."""
        remaining = quantity
        realized = ZERO
        closed = self.closed
        # every lot of a symbol points the same way, opposite to this fill
        direction = -1 if buying else 1
        kind = "short" if buying else "long"
        while remaining > 0 and lots:
            lot = lots[0]
            held = abs(lot.quantity)
            size = remaining if remaining < held else held
            pnl = (price - lot.price) * size * direction
            # whole lots and whole fills (the usual case) need no pro-rata division
            entry_fee = lot.fee if size == held else lot.fee * size / held
            exit_fee = fee if size == quantity else fee * size / quantity
            closed.append(
                _new(ClosedLot, (symbol, kind, size, lot.price, price, lot.opened_at, ts, pnl, entry_fee + exit_fee))
            )
            realized += pnl
            remaining -= size
            if size == held:
                lots.popleft()
            else:
                lot.fee -= entry_fee
                lot.quantity -= size * direction
        if remaining > 0:
            opening_fee = fee if remaining == quantity else fee * remaining / quantity
            lots.append(Lot(remaining if buying else -remaining, price, ts, opening_fee))
        return realized
