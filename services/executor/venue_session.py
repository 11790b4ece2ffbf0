"""Orders routed to a venue: the paper broker's order book and ledger, with the venue deciding the fills.

The executor orders the difference between a target and its position plus what is still working,
exactly as on paper; the order goes to the venue with our deterministic client order id. Every step
is written to the session's event log before the next one, so a restart rebuilds the same state:

- ``order`` (``pending``) before the request leaves; ``venue_submit`` with the answer;
- ``venue_resolve`` when an unknown outcome was settled by looking the order up;
- ``venue_fill`` per new fill, keyed by the order and its cumulative filled quantity (booked once);
- ``venue_status`` when the venue cancels, expires or rejects a working order;
- ``venue_denied`` when our own checks against the venue's rules refused an order (nothing sent).

Calls block on the network: the worker runs them in a thread, one at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from logos.contracts import AccountSnapshot, Bar, Order, Side
from logos.execution.ledger import Execution
from logos.execution.order_states import TRANSITIONS, OrderStatus
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.live.session import SessionRecorder
from services.executor.brokers.interface import (
    Broker,
    LocalDenial,
    OrderRequest,
    Outcome,
    SubmitResult,
    VenueOrder,
    VenueUnavailable,
    client_order_id,
)

log = logging.getLogger("logos.executor.venue")

ZERO = Decimal(0)
LOOKUP_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)  # seconds between look-ups of an unknown order
ABSENT_LOOKUPS = 3  # an order the venue never shows this many times in a row did not arrive
TERMINAL_FROM_VENUE = (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED)


@dataclass
class UnknownOrder:
    """A submission whose outcome the venue has not told us yet; looked up with backoff, never resent."""

    reason: str
    since: datetime
    lookups: int = 0
    absent: int = 0
    next_lookup: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class VenueStep:
    """What one call did: new fills (with the order's cumulative filled quantity) and venue rejections."""

    fills: list[tuple[Execution, Decimal]] = field(default_factory=list)
    rejections: list[tuple[PaperOrder, str]] = field(default_factory=list)


def _signed(paper: PaperOrder) -> Decimal:
    return paper.remaining if paper.side is Side.BUY else -paper.remaining


class VenueSession:
    """Routes one session's orders to ``venue`` and books what the venue reports."""

    def __init__(self, broker: PaperBroker, venue: Broker, recorder: SessionRecorder, session_id: str,
                 fee_bps: Decimal, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.broker = broker
        self.venue = venue
        self.recorder = recorder
        self.session_id = session_id
        self.fee_bps = fee_bps  # the estimate when the venue does not report an order's fee
        self.clock = clock
        self.unknown: dict[str, UnknownOrder] = {}
        self.denied: list[str] = []
        self.last_poll: datetime | None = None

    def client_id(self, order_id: str) -> str:
        return client_order_id(self.session_id, order_id)

    # -- the event log --------------------------------------------------------------------------

    def restore_event(self, record: dict[str, Any]) -> None:
        """Re-apply one venue event of the session's log (SessionRecorder.restore hands them over in order)."""
        kind = record["event"]
        if kind not in ("venue_denied", "venue_submit", "venue_resolve", "venue_fill", "venue_status"):
            return  # e.g. a reconciliation: nothing to rebuild
        when = datetime.fromisoformat(record["ts"])
        if kind == "venue_denied":
            self.denied.append(record["reason"])
            return
        paper = self.broker.orders[record["order_id"]]
        if kind in ("venue_submit", "venue_resolve"):
            self._settle(paper, Outcome(record["outcome"]), record["reason"], when, record.get("absent", 0))
        elif kind == "venue_fill":
            self.broker.restore_fills([record])
        elif kind == "venue_status":
            self._move(paper, OrderStatus(record["status"]), when)

    def _settle(self, paper: PaperOrder, outcome: Outcome, reason: str, when: datetime, absent: int = 0) -> None:
        if outcome is Outcome.UNKNOWN:
            known = self.unknown.setdefault(paper.id, UnknownOrder(reason, when))
            known.reason, known.absent = reason, absent
            return
        self.unknown.pop(paper.id, None)
        self._move(paper, OrderStatus.ACCEPTED if outcome is Outcome.ACCEPTED else OrderStatus.REJECTED, when)

    @staticmethod
    def _move(paper: PaperOrder, status: OrderStatus, when: datetime) -> bool:
        if status is paper.status or status not in TRANSITIONS[paper.status]:
            return False
        paper.move(when, status)
        return True

    # -- decisions ------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Mark the symbol at the bar's close; the venue, not the bar, fills orders."""
        self.broker.last_bar[bar.symbol] = bar
        self.broker.marks[bar.symbol] = self.broker.specs[bar.symbol].quantize_price(bar.close)

    def on_order(self, order: Order) -> VenueStep | None:
        """Cancel what works for the symbol, then send the difference between target and position plus open orders.

        Returns None for a decision already handled (a redelivery).
        """
        if order.id in self.broker.decisions:
            return None
        now = self.clock()
        step = VenueStep()
        for stale in self.broker.working(order.symbol):
            self._cancel(stale, step, now)
        open_quantity = sum((_signed(paper) for paper in self.broker.working(order.symbol)), ZERO)
        delta = order.target_quantity - self.broker.ledger.position(order.symbol) - open_quantity
        self.broker.decisions.add(order.id)
        if delta == 0:
            self.recorder.order(order.id, None, [], [], None, now)
            return step
        side = Side.BUY if delta > 0 else Side.SELL
        request = OrderRequest(self.client_id(f"o{len(self.broker.orders) + 1}"), order.symbol, side, abs(delta),
                               order.order_type, order.limit_price, self.broker.marks.get(order.symbol))  # fmt: skip
        try:
            prepared = self.venue.prepare(request)
        except (LocalDenial, VenueUnavailable) as exc:
            reason = f"{order.symbol} {side.value} {abs(delta)}: {exc}; nothing sent"
            log.warning("order for decision %s denied before sending: %s", order.id, reason)
            self.denied.append(reason)
            self.recorder.order(order.id, None, [], [], None, now)
            self.recorder.event("venue_denied", ts=now.isoformat(), decision_id=order.id, reason=reason)
            return step
        decided = self.broker.last_bar[order.symbol].ts if order.symbol in self.broker.last_bar else now
        paper = PaperOrder(f"o{len(self.broker.orders) + 1}", order.id, order.intent_id, order.symbol, side,
                           prepared.quantity, decided, order.order_type, prepared.limit_price)  # fmt: skip
        self.broker.orders[paper.id] = paper
        paper.move(now, OrderStatus.SUBMITTED)
        self.recorder.event("order", **self._order_record(paper, now))  # written before the request leaves
        result = self.venue.send(prepared)
        self._record_outcome("venue_submit", paper, result, now)
        if result.outcome is Outcome.UNKNOWN:
            log.warning("outcome of %s (%s) unknown: %s", paper.id, request.client_order_id, result.reason)
            result = self._lookup(paper, self.unknown[paper.id], now)
        self._after_outcome(paper, result, step, now)
        return step

    def _order_record(self, paper: PaperOrder, now: datetime) -> dict[str, Any]:
        return {"ts": now.isoformat(), "decision_id": paper.decision_id, "id": paper.id, "intent_id": paper.intent_id,
                "symbol": paper.symbol, "side": paper.side.value, "quantity": str(paper.quantity),
                "decided_at": paper.decided_at.isoformat(), "order_type": paper.order_type.value,
                "limit_price": str(paper.limit_price) if paper.limit_price else None, "canceled": [], "fills": [],
                "rejection": None, "pending": True, "client_order_id": self.client_id(paper.id)}  # fmt: skip

    def _record_outcome(self, kind: str, paper: PaperOrder, result: SubmitResult, now: datetime) -> None:
        absent = self.unknown[paper.id].absent if paper.id in self.unknown else 0
        venue_id = result.order.venue_order_id if result.order else None
        self.recorder.event(kind, ts=now.isoformat(), order_id=paper.id, client_order_id=self.client_id(paper.id),
                            outcome=result.outcome.value, reason=result.reason, venue_order_id=venue_id,
                            absent=absent)  # fmt: skip
        self._settle(paper, result.outcome, result.reason, now, absent)

    def _after_outcome(self, paper: PaperOrder, result: SubmitResult, step: VenueStep, now: datetime) -> None:
        if result.outcome is Outcome.REJECTED:
            log.warning("venue rejected %s: %s", paper.id, result.reason)
            step.rejections.append((paper, result.reason))
        elif result.outcome is Outcome.ACCEPTED and result.order is not None:
            self._apply(paper, result.order, step, now)

    # -- looking orders up ----------------------------------------------------------------------

    def _lookup(self, paper: PaperOrder, unknown: UnknownOrder, now: datetime) -> SubmitResult:
        """Ask the venue for an unknown order; absent several times in a row means it never arrived."""
        unknown.lookups += 1
        delay = LOOKUP_DELAYS[min(unknown.lookups - 1, len(LOOKUP_DELAYS) - 1)]
        unknown.next_lookup = now + timedelta(seconds=delay)
        request = OrderRequest(self.client_id(paper.id), paper.symbol, paper.side, paper.quantity, paper.order_type,
                               paper.limit_price)  # fmt: skip
        result = self.venue.resolve(request)
        if result.outcome is Outcome.REJECTED and result.order is None:  # the venue has no such order (yet)
            unknown.absent += 1
            if unknown.absent < ABSENT_LOOKUPS:
                result = SubmitResult(Outcome.UNKNOWN, f"not at the venue yet (look-up {unknown.absent} of "
                                      f"{ABSENT_LOOKUPS}); it may still arrive")  # fmt: skip
            else:
                result = SubmitResult(Outcome.REJECTED, f"the venue never received it ({ABSENT_LOOKUPS} look-ups)")
        else:
            unknown.absent = 0
        self._record_outcome("venue_resolve", paper, result, now)
        return result

    def poll(self) -> VenueStep:
        """Ask the venue about every working order (unknown ones when their backoff allows) and book what changed."""
        now = self.clock()
        step = VenueStep()
        for paper in self.broker.working():
            try:
                unknown = self.unknown.get(paper.id)
                if unknown is not None:
                    if now >= unknown.next_lookup:
                        self._after_outcome(paper, self._lookup(paper, unknown, now), step, now)
                    continue
                found = self.venue.fetch_order(self.client_id(paper.id), paper.symbol)
            except Exception as exc:  # one order's trouble must not stop the others being polled
                log.warning("could not ask the venue about %s: %s: %s", paper.id, type(exc).__name__, exc)
                continue
            if found is None:
                log.error("the venue does not know working order %s (%s)", paper.id, self.client_id(paper.id))
                continue
            self._apply(paper, found, step, now)
        self.last_poll = now
        return step

    def cancel_all(self) -> tuple[VenueStep, dict[str, str]]:
        """Cancel every working order at the venue (the kill switch); return the fills found and each outcome."""
        now = self.clock()
        step, outcomes = VenueStep(), {}
        for paper in self.broker.working():
            outcomes[paper.id] = self._cancel(paper, step, now)
        return step, outcomes

    def _cancel(self, paper: PaperOrder, step: VenueStep, now: datetime) -> str:
        try:
            found = self.venue.cancel(self.client_id(paper.id), paper.symbol)
        except Exception as exc:  # still working: it counts as open, and the next poll asks again
            log.error("could not cancel %s at the venue: %s: %s", paper.id, type(exc).__name__, exc)
            return f"cancel failed: {type(exc).__name__}: {exc}"
        if found is None:
            if paper.id in self.unknown:  # never arrived: nothing to cancel
                absent = SubmitResult(Outcome.REJECTED, "absent at the venue when cancelled")
                self._record_outcome("venue_resolve", paper, absent, now)
                return "absent at the venue"
            log.error("the venue does not know %s, which the session holds working", paper.id)
            return "unknown to the venue"
        if paper.id in self.unknown:
            self._record_outcome("venue_resolve", paper, SubmitResult(Outcome.ACCEPTED, "found when cancelled"), now)
        self._apply(paper, found, step, now)
        if found.status not in TERMINAL_FROM_VENUE and found.status is not OrderStatus.FILLED:
            return f"cancel requested; the venue reports {found.status}"
        return str(found.status)

    # -- booking what the venue reports ---------------------------------------------------------

    def _apply(self, paper: PaperOrder, found: VenueOrder, step: VenueStep, now: datetime) -> None:
        """Book new fills (the venue's cumulative quantity above what is booked) and follow its status."""
        if paper.status is OrderStatus.SUBMITTED and found.status is not OrderStatus.REJECTED:
            self._move(paper, OrderStatus.ACCEPTED, now)
        increment = min(found.filled, paper.quantity) - paper.filled
        if increment > 0:
            execution = self._book(paper, found, increment, now)
            step.fills.append((execution, paper.filled))
        if found.status in TERMINAL_FROM_VENUE and self._move(paper, found.status, now):
            self.recorder.event("venue_status", ts=now.isoformat(), order_id=paper.id, status=found.status.value)
            if found.status is OrderStatus.REJECTED:
                step.rejections.append((paper, "the venue reports the order rejected"))

    def _book(self, paper: PaperOrder, found: VenueOrder, increment: Decimal, now: datetime) -> Execution:
        booked = [e for e in self.broker.ledger.executions if e.order_id == paper.id]
        booked_cost = sum((e.price * e.quantity for e in booked), ZERO)
        spec = self.broker.specs[paper.symbol]
        if found.average_price is not None:
            price = spec.quantize_price((found.average_price * (paper.filled + increment) - booked_cost) / increment)
        else:  # the venue gave no price: the last mark is the best estimate, and the log says so
            log.warning("%s: the venue reported no average price; booked at the last mark", paper.id)
            price = self.broker.marks.get(paper.symbol) or found.average_price or ZERO
        if found.fee is not None:
            fee = max(found.fee - sum((e.fee for e in booked), ZERO), ZERO)
        else:
            fee = price * increment * self.fee_bps / Decimal(10_000)
        execution = self.broker.ledger.apply(now, paper.symbol, paper.side, increment, price, fee, paper.id)
        paper.filled += increment
        paper.move(now, OrderStatus.FILLED if paper.remaining == 0 else OrderStatus.PARTIALLY_FILLED)
        self.recorder.event("venue_fill", order_id=paper.id, ts=now.isoformat(), side=paper.side.value,
                            quantity=str(increment), price=str(price), fee=str(fee),
                            cumulative=str(paper.filled))  # fmt: skip
        return execution

    # -- reporting ------------------------------------------------------------------------------

    def snapshot(self, account: str) -> AccountSnapshot:
        """The account after the venue's fills, at the last marks; untagged, so ml does not decide on it again."""
        now = self.clock()
        return self.broker.account_at(now, f"account|{account}|venue|{len(self.broker.ledger.executions)}", account)

    def unknown_lines(self) -> list[str]:
        return [f"{order_id} ({self.client_id(order_id)}): outcome unknown since {known.since.isoformat()}, "
                f"{known.lookups} look-ups; {known.reason}" for order_id, known in self.unknown.items()]  # fmt: skip

    def notes(self) -> list[str]:
        """The venue's side of the session, for session.md."""
        working = self.broker.working()
        lines = [f"- venue: {self.venue.name}; client order ids `{self.client_id('')}<order id>`",
                 f"- working orders: {', '.join(p.id for p in working) if working else 'none'}",
                 f"- last poll: {self.last_poll.isoformat() if self.last_poll else 'none yet'}"]  # fmt: skip
        lines += [f"- UNKNOWN {line}" for line in self.unknown_lines()]
        lines += [f"- denied before sending: {reason}" for reason in self.denied[-50:]]
        return lines
