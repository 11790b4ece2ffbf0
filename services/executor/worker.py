"""The executor's bus side: approved targets to paper or venue orders, bars and venue polls to fills and snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from logos.bus import Bus, Delivery
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
from logos.error_text import validation_lines
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.files import atomic_write_text
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.live.session import SessionCorrupt, SessionRecorder
from logos.redact import redact
from logos.risk.limits import ConfiguredLimits, RiskLimits
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.streams import Group
from services.executor.brokers.factory import build_broker
from services.executor.brokers.interface import (
    Broker,
    CredentialsRefused,
    OrderRequest,
    VenueUnavailable,
    client_order_id,
)
from services.executor.config import ExecutorSettings
from services.executor.hard_limits import HardLimitGate
from services.executor.reconciliation import (
    HeldPosition,
    order_differences,
    position_differences,
    refusal,
    venue_names,
)
from services.executor.venue_session import VenueSession, VenueStep
from services.runtime.errors import StartupRefused
from services.runtime.session_identity import check_executor, uses_redis
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.executor")


class ExecutorWorker(ServiceWorker):
    """Runs the paper broker, or routes to a venue, on the streams and records the session."""

    service = "executor"
    verifies = (ORDERS_KEY, CONTROL_KEY)  # it acts only on risk's signed decisions and signed operator commands

    def __init__(self, settings: ServiceSettings, bus: Bus, symbols: Sequence[str] = ()) -> None:
        """Set up the session; ``symbols`` (besides the symbol map's) are the ones whose venue rules to read now."""
        super().__init__(settings, bus)
        assert isinstance(settings, ExecutorSettings)
        self.executor_settings = settings
        paths = settings.logos.paths
        self.pointer = paths.runs / "live" / "current_session"
        explicit = settings.session_id if "session_id" in settings.model_fields_set else None
        # the stack's one session: the pointer's (a stop or a crash left it), the one Redis records, or a new one
        consumed = [self.names.orders, *self.names.all_bars(), self.names.control]
        session_id = check_executor(settings, bus, self.pointer, explicit, settings.session_id, consumed)
        self.broker = PaperBroker(settings.cash, settings.logos.symbol_specs(), settings.fills)
        self.risk_limits = self._risk_limits()
        self.hard_limits = HardLimitGate(settings.hard_limits(self.risk_limits))
        self.session_id = session_id
        self.venue = self._venue(settings)
        if self.venue is not None:
            self._load_metadata(self.venue, settings, [*symbols, *settings.symbol_map])
        venue_settings = {"broker": settings.broker, "exchange": settings.exchange, "dry_run": settings.dry_run,
                          "endpoint": settings.venue_endpoint()}  # fmt: skip
        self.recorder = SessionRecorder(
            paths,
            session_id,
            {"account": settings.account, "cash": str(settings.cash), "fills": settings.fills.model_dump(mode="json")}
            | (venue_settings if self.venue else {}),
        )
        self.routing: VenueSession | None = None  # orders sent to the venue (not a dry run)
        if self.venue is not None and not settings.dry_run:
            self.routing = VenueSession(self.broker, self.venue, self.recorder, session_id,
                                        settings.fills.taker_fee_bps)  # fmt: skip
        else:  # a venue's orders are the venue session's state, which a snapshot does not hold
            self.recorder.snapshot_every = settings.snapshot_events
        self._lock = asyncio.Lock()  # one venue conversation at a time: a decision, a poll or a kill
        try:
            restored = self.recorder.restore(self.broker, self.routing.restore_event if self.routing else None)
        except (SessionCorrupt, KeyError, ValueError) as exc:
            raise StartupRefused(f"executor: cannot reconcile session {session_id}: {exc}") from None
        self.restored = restored
        if restored:
            log.warning("resumed session %s from %d events: cash %s, positions %s, %d working orders", session_id,
                        restored, self.broker.ledger.cash, dict(self.broker.ledger.positions),
                        len(self.broker.working()))  # fmt: skip
        self.mismatches: list[str] = []
        self.startup = VenueStep()
        if self.routing is not None:
            self.startup = self._reconcile(self.routing, settings)
        atomic_write_text(self.pointer, session_id + "\n")
        self.finished = False
        self.last_checkpoint: dict[str, Any] | None = None

    @staticmethod
    def _venue(settings: ExecutorSettings) -> Broker | None:
        """The venue adapter orders go to (or a dry run builds requests with); None on the paper broker alone."""
        if settings.broker == "paper":
            return None
        try:
            return build_broker(settings)
        except ValueError as exc:
            raise StartupRefused(f"executor: {exc}") from None

    @staticmethod
    def _load_metadata(venue: Broker, settings: ExecutorSettings, symbols: list[str]) -> None:
        """Read the venue's trading rules before the first bar: a venue that cannot be read fails here, once."""
        name = settings.exchange or venue.name
        try:
            venue.load_metadata(sorted(set(symbols)))
        except (VenueUnavailable, CredentialsRefused) as exc:
            raise StartupRefused(
                f"{name} market metadata could not be loaded (network unreachable?): {exc}; orders to {name} "
                "(dry run or not) are built from it, so the session does not start"
            ) from None

    def _reconcile(self, routing: VenueSession, settings: ExecutorSettings) -> VenueStep:
        """Settle what changed at the venue while we were away, then compare its orders and positions with ours."""
        venue = routing.venue
        try:
            step = routing.poll()
            venue_open = venue.fetch_open_orders()
            at_venue = venue.fetch_positions()
        except (VenueUnavailable, CredentialsRefused) as exc:
            raise StartupRefused(f"executor: cannot reconcile the session with {venue.name}: {exc}; start again "
                                 "when the venue answers (docs/RUNBOOK.md, Recovery)") from None  # fmt: skip
        working = {routing.client_id(paper.id): paper.id for paper in self.broker.working()}
        symbols = sorted(
            {*self.broker.ledger.positions, *settings.symbol_map, *(o.symbol for o in self.broker.orders.values())}
        )
        held = [self._held(venue, symbol) for symbol in symbols]
        differences = order_differences(working, venue_open) + position_differences(held, at_venue)
        self.recorder.event("reconciled", ts=routing.clock().isoformat(), venue=venue.name, differences=differences,
                            accepted=bool(differences) and settings.accept_mismatch)  # fmt: skip
        if differences and not settings.accept_mismatch:
            raise StartupRefused(refusal(venue.name, differences))
        for line in differences:
            log.warning("reconciliation difference accepted by EXECUTOR_ACCEPT_MISMATCH: %s", line)
        self.mismatches = differences
        return step

    def _held(self, venue: Broker, symbol: str) -> HeldPosition:
        try:
            lot = venue.market(symbol).lot_size
        except Exception:  # the venue's rules are unavailable: our own symbol metadata's lot
            spec = self.broker.specs.get(symbol)
            lot = spec.lot_size if spec else Decimal(0)
        return HeldPosition(symbol, self.broker.ledger.position(symbol), venue_names(venue.venue_symbol(symbol)), lot)

    async def prepare(self) -> None:
        """Start the session's files, then publish the fills start-up reconciliation found (filled while down)."""
        self.recorder.start(self.restored)
        for symbol, bar in self.broker.last_bar.items():  # a resumed session's bars: the guard goes on from them
            self.bar_guard.seed(symbol, bar.ts)
        startup, self.startup = self.startup, VenueStep()
        await self._publish_step(startup)

    def loops(self) -> list[Any]:
        return [self._poll_loop()] if self.routing is not None else []

    async def _poll_loop(self) -> None:
        """Ask the venue about working orders every EXECUTOR_POLL_SECONDS until the service stops."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.executor_settings.poll_seconds)
            if self.stopping.is_set():
                return
            await self.poll_venue()

    async def poll_venue(self) -> None:
        """Book what the venue reports for the working orders and publish it."""
        assert self.routing is not None
        async with self._lock:
            step = await asyncio.to_thread(self.routing.poll)
            await self._publish_step(step)

    async def _publish_step(self, step: VenueStep) -> None:
        assert self.venue is not None or not (step.fills or step.rejections)
        for execution, cumulative in step.fills:
            order = self.broker.orders[execution.order_id]
            fill = Fill(id=f"fill|{order.id}|{cumulative}", ts=execution.ts, order_id=order.id,
                        intent_id=order.intent_id, symbol=execution.symbol, side=execution.side,
                        quantity=execution.quantity, price=execution.price, fee=execution.fee,
                        broker=self.venue.name if self.venue else "paper")  # fmt: skip
            await self.publish(self.names.fills, fill)
        for paper, reason in step.rejections:
            rejected = OrderRejected(id=f"rejected|{paper.decision_id}", order_id=paper.id,
                                     intent_id=paper.intent_id, symbol=paper.symbol, reason=reason)  # fmt: skip
            await self.publish(self.names.fills, rejected)
        if step.fills and self.routing is not None:
            await self.publish(self.names.account, self.routing.snapshot(self.executor_settings.account))

    def subscriptions(self) -> list[Subscription]:
        streams = [self.names.orders, *self.names.all_bars(), self.names.control]
        return [Subscription(Group.EXECUTOR, streams, self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        async with self._lock:
            if isinstance(message, Control) and message.command is not ControlCommand.CHECKPOINT:
                self._record_control(message, delivery.signer)
            await self._handle(message)
            self.recorder.settle()  # between messages: a snapshot when one is due

    async def _handle(self, message: Message) -> None:
        if isinstance(message, Order) and await self._refused(message):
            return  # over a hard limit: nothing reaches the paper broker or the venue
        match message:
            case Bar():
                last = self.broker.last_bar.get(message.symbol)
                if last is not None and message.ts <= last.ts:
                    # handled before a restart: only the acknowledgement was lost; say it again
                    await self.publish(self.names.account, self.broker.snapshot(last, self.executor_settings.account))
                    return
                if self.routing is not None:
                    self.routing.on_bar(message)  # the venue fills; the bar only marks
                    executions: list[Execution] = []
                else:
                    executions = self.broker.on_bar(message)
                snapshot = self.broker.snapshot(message, self.executor_settings.account)
                self.recorder.bar(message, executions, snapshot)  # one line: the bar's effects, all or nothing
                await self._publish_fills(executions)
                await self.publish(self.names.account, snapshot)
            case Order() if self.routing is not None:
                step = await asyncio.to_thread(self.routing.on_order, message)
                if step is not None:  # None: the same decision delivered again
                    await self._publish_step(step)
            case Order():
                accepted = self.broker.on_order(message, message.ts)
                if accepted is None:
                    return  # the same decision delivered again (before or after a restart)
                self.recorder.order(
                    message.id, accepted.order, accepted.canceled, accepted.executions, accepted.rejection, message.ts
                )
                if self.venue is not None and accepted.order is not None and accepted.rejection is None:
                    await self._dry_run(message, accepted.order, self.venue)
                await self._publish_fills(accepted.executions)
                if accepted.order is not None and accepted.rejection is not None:
                    log.warning("venue rejected %s: %s", accepted.order.id, accepted.rejection)
                    rejected = OrderRejected(id=f"rejected|{message.id}", order_id=accepted.order.id,
                                             intent_id=message.intent_id, symbol=message.symbol,
                                             reason=accepted.rejection)  # fmt: skip
                    await self.publish(self.names.fills, rejected)
            case OrderDenied():
                self.recorder.denial(message)
            case TradingStateChanged():
                self.recorder.state_change(message)
                if message.kill_switch and message.cause == "kill_switch":
                    await self._kill(message.ts, message.detail)  # a kill through risk's API, too
            case Control() if message.command is ControlCommand.KILL:
                await self._kill(message.ts, message.reason)
            case Control() if message.command is ControlCommand.CHECKPOINT:
                self.checkpoint(f"{message.reason} (by {message.issued_by})")

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

    @staticmethod
    def _risk_limits() -> RiskLimits:
        """Risk's limits as the stack configures them: the executor's own default to twice these."""
        try:
            return ConfiguredLimits().limits
        except ValidationError as exc:
            raise StartupRefused(f"executor: {'; '.join(validation_lines(exc))}") from None

    async def _refused(self, order: Order) -> bool:
        """Refuse an approved order that breaks a hard limit: recorded, logged as CRIT, rejected on the fills stream.

        A decision the broker already took is not checked again; one refused before is refused again
        (a redelivery), without a second record.
        """
        if order.id in self.broker.decisions:
            return False
        reason = self.recorder.refusals.get(order.id)
        if reason is None:
            position = self.broker.ledger.position(order.symbol)
            breach = self.hard_limits.admit(order, position, self.broker.marks.get(order.symbol))
            if breach is None:
                return False
            log.critical("refused order %s (intent %s, %s target %s): hard limit %s: %s", order.id, order.intent_id,
                         order.symbol, order.target_quantity, breach.limit, breach.detail)  # fmt: skip
            self.recorder.refusal(order.id, order.ts, breach.limit, breach.detail, intent_id=order.intent_id,
                                  symbol=order.symbol, target=str(order.target_quantity),
                                  position=str(position))  # fmt: skip
            reason = self.recorder.refusals[order.id]
        rejected = OrderRejected(id=f"refused|{order.id}", ts=order.ts, order_id=order.id, intent_id=order.intent_id,
                                 symbol=order.symbol, reason=reason)  # fmt: skip
        await self.publish(self.names.fills, rejected)
        return True

    async def _dry_run(self, decision: Order, paper: PaperOrder, venue: Broker) -> None:
        """Build the venue request the paper order stands for, exactly as it would be sent, and record it."""
        request = OrderRequest(client_order_id(self.session_id, paper.id), paper.symbol, paper.side, paper.quantity,
                               paper.order_type, paper.limit_price, self.broker.marks.get(paper.symbol))  # fmt: skip
        result = await asyncio.to_thread(venue.submit, request)
        log.info("dry run %s %s %s %s: %s", venue.name, paper.side.value, paper.quantity, paper.symbol, result.reason)
        self.recorder.dry_run(decision.id, paper, venue.name, result.outcome.value, result.reason,
                              request.client_order_id, redact(result.request))  # fmt: skip

    async def _kill(self, when: datetime, reason: str) -> None:
        """The kill switch: cancel every working order, at the venue when orders go to one."""
        if self.routing is None:
            self._cancel_working(when, reason)
            return
        if not self.broker.working():
            return
        step, outcomes = await asyncio.to_thread(self.routing.cancel_all)
        for order_id, outcome in outcomes.items():
            log.warning("kill switch: %s at %s: %s", order_id, self.routing.venue.name, outcome)
        self.recorder.event("venue_kill", ts=when.isoformat(), reason=reason, outcomes=outcomes)
        await self._publish_step(step)

    def _cancel_working(self, when: datetime, reason: str) -> None:
        """Cancel every working order (the kill switch); recorded only when there was one to cancel."""
        canceled = self.broker.working()
        for paper in canceled:
            paper.move(when, OrderStatus.CANCELED)
        if canceled:
            self.recorder.event("kill", ts=when.isoformat(), reason=reason, canceled=[paper.id for paper in canceled])

    async def _publish_fills(self, executions: list[Execution]) -> None:
        for execution in executions:
            order = self.broker.orders[execution.order_id]
            fill = Fill(
                id=f"fill|{order.id}|{execution.ts.isoformat()}",
                ts=execution.ts,
                order_id=order.id,
                intent_id=order.intent_id,
                symbol=execution.symbol,
                side=execution.side,
                quantity=execution.quantity,
                price=execution.price,
                fee=execution.fee,
            )
            await self.publish(self.names.fills, fill)

    def _orders(self) -> list[Any]:
        # a dry run's venue requests follow the paper orders in orders.csv (same columns)
        return [*self.broker.orders.values(), *self.recorder.dry_run_orders()]

    def _note_venue(self) -> None:
        if self.routing is not None:
            self.recorder.notes = self.routing.notes() + [f"- reconciliation difference accepted: {line}"
                                                          for line in self.mismatches]  # fmt: skip

    def checkpoint(self, reason: str) -> None:
        """Write the session's artifacts now and keep running (the end of a replay asks for it)."""
        self._note_venue()
        ledger = self.broker.ledger
        directory = self.recorder.write(self._orders(), ledger.executions, ledger.realized_pnl, ledger.fees_paid)
        self.last_checkpoint = {
            "at": datetime.now(UTC).isoformat(),
            "bars": self.recorder.bars,
            "fills": self.broker.fill_count,
            "directory": str(directory),
            "reason": reason,
        }
        log.info("session checkpoint (%s): artifacts in %s", reason, directory)

    def finish(self) -> None:
        """Write the session's artifacts (once)."""
        if self.finished:
            return
        self.finished = True
        self._note_venue()
        ledger = self.broker.ledger
        directory = self.recorder.finish(self._orders(), ledger.executions, ledger.realized_pnl, ledger.fees_paid)
        if not uses_redis(self.bus):  # on Redis a stop does not end the session: the next start resumes it
            self.pointer.unlink(missing_ok=True)
        summary = self.recorder.summary
        for line in summary.lines() if summary else []:
            log.info("session %s: %s", self.session_id, line)
        for line in summary.warnings() if summary else []:
            # info, not warning: `logos trade` prints these itself, and a warning would reach its console twice
            log.info("session %s: warning: %s", self.session_id, line)
        log.info("session artifacts in %s", directory)

    def stopped(self) -> None:
        self.finish()

    def warnings(self) -> list[str]:
        found = super().warnings()
        settings = self.executor_settings
        refused = sum(count for count, _ in self.recorder.refused_by.values())
        if refused:
            limit, (_, first) = next(iter(self.recorder.refused_by.items()))
            found.append(f"CRIT: {refused} approved orders refused by the executor's hard limits (first: {limit}: "
                         f"{first}); see docs/RUNBOOK.md, Executor hard limits")  # fmt: skip
        found += self.hard_limits.limits.below(self.risk_limits)
        if self.venue is not None and settings.dry_run:
            found.append(f"dry run against {settings.broker}: venue requests are recorded, none is sent")
        if self.routing is not None:
            money = "LIVE: real money" if settings.live else f"the venue's {settings.venue_endpoint()} endpoint"
            found.append(f"orders are sent to {settings.broker} ({money})")
            found += [f"order outcome unknown: {line}" for line in self.routing.unknown_lines()]
            found += [f"reconciliation difference accepted: {line}" for line in self.mismatches]
        return found

    def details(self) -> dict[str, Any]:
        ledger = self.broker.ledger
        return {
            "session": self.recorder.session_id,
            "cash": str(ledger.cash),
            "positions": {symbol: str(quantity) for symbol, quantity in ledger.positions.items()},
            "fills": self.broker.fill_count,
            "working_orders": len(self.broker.working()),
            "broker": self.executor_settings.broker,
            "dry_run": self.venue is not None and self.executor_settings.dry_run,
            "dry_run_orders": len(self.recorder.dry_runs),
            "bars": self.recorder.bars,
            "session_directory": str(self.recorder.directory),
            "checkpoint": self.last_checkpoint,
            "hard_limits": self.hard_limits.details(self.recorder.refused_by),
        } | ({"venue": self._venue_details(self.routing)} if self.routing is not None else {})

    def _venue_details(self, routing: VenueSession) -> dict[str, Any]:
        return {
            "name": routing.venue.name,
            "endpoint": self.executor_settings.venue_endpoint(),
            "working": [routing.client_id(paper.id) for paper in self.broker.working()],
            "unknown": routing.unknown_lines(),
            "last_poll": routing.last_poll.isoformat() if routing.last_poll else None,
            "reconciliation_differences_accepted": self.mismatches,
        }
