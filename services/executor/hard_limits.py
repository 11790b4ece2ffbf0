"""The executor's own hard limits: a second wall behind risk, for an order risk should never have approved.

Risk checks every intent against its limits; the executor trusts nothing it did not check itself.
Before an approved order reaches the paper broker or the venue it must fit three limits of the
executor's own — the order's notional, the position's notional after it, and the orders per minute
— or it is refused: nothing is sent, the position stays as it was. A reduction (a target closer to
zero on the same side) is never refused by the position limit, so an oversized position can always
shrink. Notional is priced at the executor's own last mark of the symbol (the order's reference
price only before the first bar); the rate is counted on the orders' own clock (a replay's data
time), so a replayed session refuses the same orders every run.

Each limit defaults to twice risk's corresponding limit as the stack configures it
(``RISK_LIMITS__<NAME>``, or risk's default when that rule is off), so normal trading never
touches them; ``EXECUTOR_MAX_ORDER_NOTIONAL``, ``EXECUTOR_MAX_POSITION_NOTIONAL`` and
``EXECUTOR_MAX_ORDERS_PER_MINUTE`` set them explicitly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from logos.contracts import Order
from logos.risk.limits import DEFAULT_LIMITS, RiskLimits

RATE_WINDOW = timedelta(minutes=1)
FACTOR = 2  # how far above risk's limits the executor's sit by default


@dataclass(frozen=True)
class HardLimits:
    """The three limits every order must fit before it is sent."""

    max_order_notional: Decimal
    max_position_notional: Decimal
    max_orders_per_minute: int

    @classmethod
    def above(
        cls,
        risk: RiskLimits,
        max_order_notional: Decimal | None = None,
        max_position_notional: Decimal | None = None,
        max_orders_per_minute: int | None = None,
    ) -> HardLimits:
        """The given limits, each one not given at twice risk's (risk's default when that rule is off)."""
        order = risk.max_order_notional or DEFAULT_LIMITS.max_order_notional or Decimal(0)
        position = risk.max_position_notional or DEFAULT_LIMITS.max_position_notional or Decimal(0)
        rate = risk.max_orders_per_minute or DEFAULT_LIMITS.max_orders_per_minute or 0
        return cls(
            max_order_notional if max_order_notional is not None else FACTOR * order,
            max_position_notional if max_position_notional is not None else FACTOR * position,
            max_orders_per_minute if max_orders_per_minute is not None else FACTOR * rate,
        )

    def below(self, risk: RiskLimits) -> list[str]:
        """Each limit that sits below risk's: an order risk approves could be refused here."""
        pairs = (
            ("max_order_notional", self.max_order_notional, risk.max_order_notional),
            ("max_position_notional", self.max_position_notional, risk.max_position_notional),
            ("max_orders_per_minute", self.max_orders_per_minute, risk.max_orders_per_minute),
        )
        found = []
        for name, own, theirs in pairs:
            if theirs is None:
                found.append(
                    f"RISK_LIMITS__{name.upper()} is off: the executor refuses every order above its own "
                    f"EXECUTOR_{name.upper()}={own}"
                )
            elif own < theirs:
                found.append(
                    f"EXECUTOR_{name.upper()}={own} is below RISK_LIMITS__{name.upper()}={theirs}: the executor "
                    "refuses orders risk approves; raise it, or lower risk's"
                )
        return found


@dataclass(frozen=True)
class Refusal:
    """Why the executor refused an order: the limit and a sentence with the numbers."""

    limit: str
    detail: str


@dataclass
class HardLimitGate:
    """Checks each order against the hard limits and counts the ones it lets through against the rate."""

    limits: HardLimits
    refused: int = 0
    last: list[tuple[str, Refusal]] = field(default_factory=list)  # the newest refusals, by decision id
    _sent: deque[datetime] = field(default_factory=deque)

    def admit(self, order: Order, position: Decimal, mark: Decimal | None) -> Refusal | None:
        """Refuse ``order`` if it breaks a limit, else count it as sent; a target already held passes."""
        quantity = order.target_quantity - position
        if quantity == 0:
            return None  # nothing is ordered (at most a working order is cancelled)
        price = mark if mark is not None and mark > 0 else order.reference_price
        found = (
            self._order_notional(order, quantity, price)
            or self._position_notional(order, position, price)
            or self._rate(order)
        )
        if found is not None:
            self.refused += 1
            self.last = [*self.last[-9:], (order.id, found)]
            return found
        self._sent.append(order.ts)
        return None

    def details(self, refused_by: Mapping[str, tuple[int, str]]) -> dict[str, Any]:
        """The limits, the session's refusals by limit and the newest ones, for /status."""
        return {
            "limits": {name: str(value) for name, value in vars(self.limits).items()},
            "refused": {limit: count for limit, (count, _) in refused_by.items()},
            "recent_refusals": [
                {"decision_id": decision, "limit": refusal.limit, "detail": refusal.detail}
                for decision, refusal in self.last
            ],
        }

    def _order_notional(self, order: Order, quantity: Decimal, price: Decimal) -> Refusal | None:
        notional = abs(quantity) * price
        limit = self.limits.max_order_notional
        if notional <= limit:
            return None
        return Refusal(
            "max_order_notional",
            f"order of {quantity} {order.symbol} at {price} is worth {notional}, above the executor's hard "
            f"limit {limit}",
        )

    def _position_notional(self, order: Order, position: Decimal, price: Decimal) -> Refusal | None:
        target = order.target_quantity
        notional = abs(target) * price
        limit = self.limits.max_position_notional
        if notional <= limit or reduces(position, target):
            return None
        return Refusal(
            "max_position_notional",
            f"position of {target} {order.symbol} (from {position}) at {price} would be worth {notional}, above "
            f"the executor's hard limit {limit}",
        )

    def _rate(self, order: Order) -> Refusal | None:
        while self._sent and order.ts - self._sent[0] >= RATE_WINDOW:
            self._sent.popleft()
        limit = self.limits.max_orders_per_minute
        if len(self._sent) < limit:
            return None
        return Refusal(
            "max_orders_per_minute",
            f"{len(self._sent)} orders sent in the minute before {order.ts.isoformat()}, the executor's hard "
            f"limit is {limit}",
        )


def reduces(position: Decimal, target: Decimal) -> bool:
    """Tell whether ``target`` brings ``position`` closer to zero without crossing it."""
    return abs(target) <= abs(position) and (target == 0 or (target > 0) == (position > 0))
