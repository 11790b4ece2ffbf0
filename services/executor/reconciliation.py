"""Start-up reconciliation: the session's working orders and positions against what the venue reports.

Orders are compared by client order id: a working order of the session the venue does not hold
open, and an open order at the venue with our prefix (``lg-``) the session does not hold working,
are both differences. Positions are compared for every symbol the session trades; a difference of
more than one lot is one. The executor refuses to start on any, unless told to accept them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.executor.brokers.interface import VenueOrder, VenuePosition

OUR_PREFIX = "lg-"


@dataclass(frozen=True)
class HeldPosition:
    """One symbol the session trades: its position in the session, the venue's names for it, and one lot."""

    symbol: str
    quantity: Decimal
    venue_names: tuple[str, ...]
    lot: Decimal


def order_differences(working: Mapping[str, str], venue_open: Iterable[VenueOrder]) -> list[str]:
    """Differences between the session's working orders (client order id -> our id) and the venue's open ones."""
    found: list[str] = []
    open_ids = {order.client_order_id: order for order in venue_open}
    for client_id, order_id in sorted(working.items()):
        if client_id not in open_ids:
            found.append(f"order {order_id} ({client_id}) is working in the session but not open at the venue")
    for client_id, order in sorted(open_ids.items()):
        if client_id.startswith(OUR_PREFIX) and client_id not in working:
            found.append(f"the venue has open order {client_id} ({order.symbol} {order.side.value} {order.quantity}, "
                         f"filled {order.filled}) that the session does not hold working")  # fmt: skip
    return found


def position_differences(held: Iterable[HeldPosition], venue: Iterable[VenuePosition]) -> list[str]:
    """Symbols whose position differs from the venue's by more than one lot."""
    at_venue = {position.symbol: position.quantity for position in venue}
    found = []
    for position in held:
        name = next((name for name in position.venue_names if name in at_venue), None)
        theirs = at_venue.get(name, Decimal(0)) if name else Decimal(0)
        if abs(theirs - position.quantity) > position.lot:
            found.append(f"position {position.symbol}: the session holds {position.quantity}, the venue "
                         f"{theirs} ({name or 'nothing'}); more than one lot ({position.lot}) apart")  # fmt: skip
    return found


def venue_names(venue_symbol: str) -> tuple[str, ...]:
    """The names a venue may report a position under: the market, without its slash, or (spot) its base currency."""
    names = [venue_symbol, venue_symbol.replace("/", "")]
    if "/" in venue_symbol:
        names.append(venue_symbol.split("/", 1)[0])
    return tuple(dict.fromkeys(names))


def refusal(venue: str, differences: list[str]) -> str:
    """The start-up refusal: what differs and what to do."""
    listed = "; ".join(differences)
    return (f"executor: reconciliation with {venue} found {len(differences)} difference(s): {listed}. The session "
            "and the venue disagree, so the executor does not trade. Engage the kill switch, compare the venue with "
            "the session (docs/RUNBOOK.md, Recovery), cancel or close what Logos did not send, and start again; or "
            "set EXECUTOR_ACCEPT_MISMATCH=true to start anyway, knowingly")  # fmt: skip
