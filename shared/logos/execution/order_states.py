"""The order lifecycle as an explicit transition table; any other move is a bug and raises."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    NEW = "new"
    DENIED = "denied"  # refused by our own risk checks; never reached a venue
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_PENDING = "cancel_pending"
    CANCELED = "canceled"
    REJECTED = "rejected"  # refused by the venue
    EXPIRED = "expired"


_OPEN = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.DENIED, OrderStatus.SUBMITTED}),
    OrderStatus.SUBMITTED: frozenset(
        {OrderStatus.ACCEPTED, OrderStatus.REJECTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED}
    ),
    OrderStatus.ACCEPTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCEL_PENDING,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCEL_PENDING,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    # a fill can still arrive while the cancel is on its way
    OrderStatus.CANCEL_PENDING: frozenset(
        {OrderStatus.CANCELED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.DENIED: frozenset(),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}

TERMINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
WORKING = frozenset({OrderStatus.SUBMITTED, *_OPEN, OrderStatus.CANCEL_PENDING})


class InvalidTransition(RuntimeError):
    """An order was asked to move where its lifecycle does not go."""


def check_transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """Return ``target`` if ``current -> target`` is allowed, else raise :class:`InvalidTransition`."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (terminal)"
        raise InvalidTransition(f"order cannot go from {current} to {target}; from {current} it may go to {allowed}")
    return target
