"""The executor engine: approved orders to paper or venue orders, bars and venue polls to fills and snapshots.

Synchronous and free of the bus: the worker hands :meth:`ExecutorEngine.handle` each message and
publishes what it returns, in order. An approved order first passes the executor's own hard limits;
then it goes to one of three places:

- the paper broker, which fills it on later bars by the backtest's fill model;
- a venue session (:mod:`services.executor.venue_session`), when orders are routed: the venue fills
  it, and each poll books what the venue reports;
- the paper broker again in a dry run, which also builds the exact request the venue would get and
  records it, sending nothing.

The session recorder writes every step before the engine returns, so a restart rebuilds the same
session (:meth:`ExecutorEngine.restore`). A call that reaches a venue blocks on the network
(:meth:`ExecutorEngine.may_block` says which messages do): the worker runs those in a thread, one at
a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from logos.contracts import (
    Bar,
    Control,
    ControlCommand,
    Fill,
    Message,
    Order,
    OrderDenied,
    OrderRejected,
    TradingStateChanged,
)
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.live.session import SessionRecorder
from logos.redact import redact
from logos.streams import StreamNames
from services.executor.brokers.interface import Broker, OrderRequest, client_order_id
from services.executor.hard_limits import HardLimitGate
from services.executor.reconciliation import HeldPosition, order_differences, position_differences, venue_names
from services.executor.venue_session import VenueSession, VenueStep

log = logging.getLogger("logos.executor")

ZERO = Decimal(0)
PAPER = "paper"  # the broker a fill names when the paper broker made it (a dry run's fills too)


class Publication(NamedTuple):
    """One message to publish and the stream it goes on."""

    stream: str
    message: Message


def fill_message(
    order: PaperOrder, execution: Execution, broker_name: str, cumulative: Decimal, seq: int | None = None
) -> Fill:
    """Return the Fill of one execution of ``order``; ``cumulative`` is the order's filled quantity with it.

    The id is the order's and that cumulative quantity: it grows with every partial fill, so each
    fill of an order has its own id (two on one bar included), the same in every run of the same
    bars and after a restart. ``seq`` is the bar's whose handling filled it (or the order's, filled at once).
    """
    return Fill(
        id=f"fill|{order.id}|{cumulative}",
        ts=execution.ts,
        order_id=order.id,
        intent_id=order.intent_id,
        symbol=execution.symbol,
        side=execution.side,
        quantity=execution.quantity,
        price=execution.price,
        fee=execution.fee,
        broker=broker_name,
        seq=seq,
    )


class ExecutorEngine:
    """One session's executor: hand it a message, publish what it returns.

    ``venue_session`` routes orders to a venue; ``dry_run_venue`` builds a dry run's venue requests;
    with neither the paper broker alone trades. ``clock`` dates checkpoints for /status (the wall
    clock: the session's own times are the data's).
    """

    def __init__(
        self,
        paper_broker: PaperBroker,
        recorder: SessionRecorder,
        hard_limit_gate: HardLimitGate,
        names: StreamNames,
        account: str,
        *,
        venue_session: VenueSession | None = None,
        dry_run_venue: Broker | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        assert venue_session is None or dry_run_venue is None, "orders are routed or dry-run, not both"
        assert venue_session is None or venue_session.broker is paper_broker, "one order book and ledger"
        self.paper_broker = paper_broker
        self.recorder = recorder
        self.hard_limit_gate = hard_limit_gate
        self.names = names
        self.account = account
        self.venue_session = venue_session
        self.dry_run_venue = dry_run_venue
        self.clock = clock
        self.restored = 0  # events the session resumed from
        self.accepted_differences: list[str] = []  # what start-up reconciliation found and the operator accepted
        self.last_checkpoint: dict[str, Any] | None = None
        self.finished = False
        self._startup = VenueStep()  # what the venue did while the session was down, published at start()

    # -- the session's life ----------------------------------------------------------------------

    def restore(self) -> int:
        """Rebuild the session from its files (snapshot, then event log); return the events read.

        Raises SessionCorrupt, KeyError or ValueError when the files do not make one session.
        """
        venue_events = self.venue_session.restore_event if self.venue_session else None
        self.restored = self.recorder.restore(self.paper_broker, venue_events)
        return self.restored

    def reconcile(self, symbols: Iterable[str], accept_mismatch: bool) -> list[str]:
        """Book what the venue did while the session was down, then compare its orders and positions with ours.

        Returns the differences, recorded in the session's log (and kept for session.md and /status
        when ``accept_mismatch``); :meth:`start` publishes the fills found. The venue's errors
        (VenueUnavailable, CredentialsRefused) are the caller's: such a session does not start.
        """
        venue_session = self.venue_session
        assert venue_session is not None, "only a session that routes orders has a venue to reconcile with"
        venue, broker = venue_session.venue, self.paper_broker
        step = venue_session.poll()
        venue_open = venue.fetch_open_orders()
        at_venue = venue.fetch_positions()
        working = {venue_session.client_id(paper.id): paper.id for paper in broker.working()}
        held = [
            self._held(venue, symbol)
            for symbol in sorted({*broker.ledger.positions, *symbols, *(o.symbol for o in broker.orders.values())})
        ]
        differences = order_differences(working, venue_open) + position_differences(held, at_venue)
        self.recorder.event(
            "reconciled",
            ts=venue_session.clock().isoformat(),
            venue=venue.name,
            differences=differences,
            accepted=bool(differences) and accept_mismatch,
        )
        self._startup = step
        self.accepted_differences = differences if accept_mismatch else []
        return differences

    def _held(self, venue: Broker, symbol: str) -> HeldPosition:
        try:
            lot = venue.market(symbol).lot_size
        except Exception:  # the venue's rules are unavailable: our own symbol metadata's lot
            spec = self.paper_broker.specs.get(symbol)
            lot = spec.lot_size if spec else ZERO
        position = self.paper_broker.ledger.position(symbol)
        return HeldPosition(symbol, position, venue_names(venue.venue_symbol(symbol)), lot)

    def start(self) -> list[Publication]:
        """Open the session's files; return the fills start-up reconciliation found (filled while down)."""
        self.recorder.start(self.restored)
        startup, self._startup = self._startup, VenueStep()
        return self._venue_step(startup)

    def checkpoint(self, reason: str) -> Path:
        """Write the session's artifacts now and keep running (the end of a replay asks for it)."""
        self._note_venue()
        ledger = self.paper_broker.ledger
        directory = self.recorder.write(self._orders(), ledger.executions, ledger.realized_pnl, ledger.fees_paid)
        self.last_checkpoint = {
            "at": self.clock().isoformat(),
            "bars": self.recorder.bars,
            "fills": self.paper_broker.fill_count,
            "directory": str(directory),
            "reason": reason,
        }
        log.info("session checkpoint (%s): artifacts in %s", reason, directory)
        return directory

    def finish(self) -> Path | None:
        """Write the session's artifacts and close its files, once; None when it had finished already."""
        if self.finished:
            return None
        self.finished = True
        self._note_venue()
        ledger = self.paper_broker.ledger
        directory = self.recorder.finish(self._orders(), ledger.executions, ledger.realized_pnl, ledger.fees_paid)
        session_id, summary = self.recorder.session_id, self.recorder.summary
        for line in summary.lines() if summary else []:
            log.info("session %s: %s", session_id, line)
        for line in summary.warnings() if summary else []:
            # info, not warning: `logos trade` prints these itself, and a warning would reach its console twice
            log.info("session %s: warning: %s", session_id, line)
        log.info("session artifacts in %s", directory)
        return directory

    def _orders(self) -> list[Any]:
        # a dry run's venue requests follow the paper orders in orders.csv (same columns)
        return [*self.paper_broker.orders.values(), *self.recorder.dry_run_orders()]

    def _note_venue(self) -> None:
        if self.venue_session is not None:
            accepted = [f"- reconciliation difference accepted: {line}" for line in self.accepted_differences]
            self.recorder.notes = self.venue_session.notes() + accepted

    # -- messages --------------------------------------------------------------------------------

    def may_block(self, message: Message) -> bool:
        """Tell whether handling ``message`` may call the venue: an order routed or dry-run, a kill of routed orders."""
        if isinstance(message, Order):
            return self.venue_session is not None or self.dry_run_venue is not None
        return self.venue_session is not None and _kill_switch(message) is not None

    def handle(self, message: Message, signer: str | None = None) -> list[Publication]:
        """Act on one message and return what to publish, in order; ``signer`` is the key a command was signed with.

        A snapshot of the session follows when one is due, so the next message starts from it.
        """
        if isinstance(message, Control) and message.command is not ControlCommand.CHECKPOINT:
            self._record_control(message, signer)
        published = self._handle(message)
        self.recorder.settle()
        return published

    def poll(self) -> list[Publication]:
        """Ask the venue about the working orders; return the fills and rejections it reports (blocks)."""
        assert self.venue_session is not None, "only a session that routes orders has a venue to poll"
        return self._venue_step(self.venue_session.poll())

    def _handle(self, message: Message) -> list[Publication]:
        match message:
            case Bar():
                return self._bar(message)
            case Order():
                refused = self._refused(message)
                if refused is not None:
                    return [refused]  # over a hard limit: nothing reaches the paper broker or the venue
                if self.venue_session is not None:
                    step = self.venue_session.on_order(message)
                    return self._venue_step(step) if step is not None else []  # None: the decision came again
                return self._paper_order(message)
            case OrderDenied():
                self.recorder.denial(message)
            case TradingStateChanged():
                self.recorder.state_change(message)
            case Control() if message.command is ControlCommand.CHECKPOINT:
                self.checkpoint(f"{message.reason} (by {message.issued_by})")
        kill = _kill_switch(message)  # after a TradingStateChanged is recorded: a kill through risk's API, too
        return self._kill(*kill) if kill is not None else []

    def _bar(self, bar: Bar) -> list[Publication]:
        broker = self.paper_broker
        last = broker.last_bar.get(bar.symbol)
        if last is not None and bar.ts <= last.ts:
            # handled before a restart: only the acknowledgement was lost; say it again
            return [Publication(self.names.account, broker.snapshot(last, self.account))]
        executions: list[Execution] = []
        if self.venue_session is not None:
            self.venue_session.on_bar(bar)  # the venue fills; the bar only marks
        else:
            executions = broker.on_bar(bar)
        snapshot = broker.snapshot(bar, self.account)
        self.recorder.bar(bar, executions, snapshot)  # one line: the bar's effects, all or nothing
        return [*self._paper_fills(executions, bar.seq), Publication(self.names.account, snapshot)]

    def _paper_order(self, order: Order) -> list[Publication]:
        accepted = self.paper_broker.on_order(order, order.ts)
        if accepted is None:
            return []  # the same decision delivered again (before or after a restart)
        placed, rejection = accepted.order, accepted.rejection
        self.recorder.order(order.id, placed, accepted.canceled, accepted.executions, rejection, order.ts)
        if self.dry_run_venue is not None and placed is not None and rejection is None:
            self._dry_run(order, placed, self.dry_run_venue)
        published = self._paper_fills(accepted.executions, order.seq)
        if placed is not None and rejection is not None:
            log.warning("venue rejected %s: %s", placed.id, rejection)
            rejected = OrderRejected(
                id=f"rejected|{order.id}",
                order_id=placed.id,
                intent_id=order.intent_id,
                symbol=order.symbol,
                reason=rejection,
                seq=order.seq,
            )
            published.append(Publication(self.names.fills, rejected))
        return published

    def _refused(self, order: Order) -> Publication | None:
        """Refuse an approved order that breaks a hard limit: recorded, logged as CRIT, rejected on the fills stream.

        A decision the broker already took is not checked again; one refused before is refused again
        (a redelivery), without a second record.
        """
        broker = self.paper_broker
        if order.id in broker.decisions:
            return None
        reason = self.recorder.refusals.get(order.id)
        if reason is None:
            position = broker.ledger.position(order.symbol)
            breach = self.hard_limit_gate.admit(order, position, broker.marks.get(order.symbol))
            if breach is None:
                return None
            log.critical(
                "refused order %s (intent %s, %s target %s): hard limit %s: %s",
                order.id,
                order.intent_id,
                order.symbol,
                order.target_quantity,
                breach.limit,
                breach.detail,
            )
            self.recorder.refusal(
                order.id,
                order.ts,
                breach.limit,
                breach.detail,
                intent_id=order.intent_id,
                symbol=order.symbol,
                target=str(order.target_quantity),
                position=str(position),
            )
            reason = self.recorder.refusals[order.id]
        rejected = OrderRejected(
            id=f"refused|{order.id}",
            ts=order.ts,
            order_id=order.id,
            intent_id=order.intent_id,
            symbol=order.symbol,
            reason=reason,
            seq=order.seq,
        )
        return Publication(self.names.fills, rejected)

    def _dry_run(self, decision: Order, paper: PaperOrder, venue: Broker) -> None:
        """Build the venue request the paper order stands for, exactly as it would be sent, and record it."""
        request = OrderRequest(
            client_order_id(self.recorder.session_id, paper.id),
            paper.symbol,
            paper.side,
            paper.quantity,
            paper.order_type,
            paper.limit_price,
            self.paper_broker.marks.get(paper.symbol),
        )
        result = venue.submit(request)
        log.info("dry run %s %s %s %s: %s", venue.name, paper.side.value, paper.quantity, paper.symbol, result.reason)
        self.recorder.dry_run(
            decision.id,
            paper,
            venue.name,
            result.outcome.value,
            result.reason,
            request.client_order_id,
            redact(result.request),
        )

    def _kill(self, when: datetime, reason: str) -> list[Publication]:
        """The kill switch: cancel every working order, at the venue when orders go to one."""
        venue_session = self.venue_session
        if venue_session is None:
            self._cancel_working(when, reason)
            return []
        if not self.paper_broker.working():
            return []
        step, outcomes = venue_session.cancel_all()
        for order_id, outcome in outcomes.items():
            log.warning("kill switch: %s at %s: %s", order_id, venue_session.venue.name, outcome)
        self.recorder.event("venue_kill", ts=when.isoformat(), reason=reason, outcomes=outcomes)
        return self._venue_step(step)

    def _cancel_working(self, when: datetime, reason: str) -> None:
        """Cancel every working order (the kill switch); recorded only when there was one to cancel."""
        canceled = self.paper_broker.working()
        for paper in canceled:
            paper.move(when, OrderStatus.CANCELED)
        if canceled:
            self.recorder.event("kill", ts=when.isoformat(), reason=reason, canceled=[paper.id for paper in canceled])

    def _record_control(self, command: Control, signer: str | None) -> None:
        """Keep an operator command in the session's record: what, why, who issued it and which key signed it."""
        what = command.command.value
        log.warning("control %s by %s, signed with %s: %s", what, command.issued_by, signer, command.reason)
        self.recorder.event(
            "control",
            ts=command.ts.isoformat(),
            id=command.id,
            command=what,
            reason=command.reason,
            issued_by=command.issued_by,
            signer=signer,
        )

    # -- what to publish -------------------------------------------------------------------------

    def _paper_fills(self, executions: list[Execution], seq: int | None) -> list[Publication]:
        """The Fills of the paper broker's executions, each with its order's filled quantity as of that fill."""
        orders = self.paper_broker.orders
        later: dict[str, Decimal] = {}  # filled by executions of the same order further down the list
        cumulative: list[Decimal] = []
        for execution in reversed(executions):
            after = later.get(execution.order_id, ZERO)
            cumulative.append(orders[execution.order_id].filled - after)
            later[execution.order_id] = after + execution.quantity
        return [
            Publication(self.names.fills, fill_message(orders[execution.order_id], execution, PAPER, filled, seq))
            for execution, filled in zip(executions, reversed(cumulative), strict=True)
        ]

    def _venue_step(self, step: VenueStep) -> list[Publication]:
        """The venue's new fills and rejections, and the account after them when anything filled."""
        venue_session = self.venue_session
        assert venue_session is not None or not (step.fills or step.rejections), "only a venue reports a step"
        if venue_session is None:
            return []
        orders, name = self.paper_broker.orders, venue_session.venue.name
        published = [
            Publication(self.names.fills, fill_message(orders[execution.order_id], execution, name, filled))
            for execution, filled in step.fills
        ]
        for paper, reason in step.rejections:
            rejected = OrderRejected(
                id=f"rejected|{paper.decision_id}",
                order_id=paper.id,
                intent_id=paper.intent_id,
                symbol=paper.symbol,
                reason=reason,
            )
            published.append(Publication(self.names.fills, rejected))
        if step.fills:
            published.append(Publication(self.names.account, venue_session.snapshot(self.account)))
        return published


def _kill_switch(message: Message) -> tuple[datetime, str] | None:
    """When and why ``message`` throws the kill switch: an operator's kill, or risk's (through its API, too)."""
    if isinstance(message, Control) and message.command is ControlCommand.KILL:
        return message.ts, message.reason
    if isinstance(message, TradingStateChanged) and message.kill_switch and message.cause == "kill_switch":
        return message.ts, message.detail
    return None
