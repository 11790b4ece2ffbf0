"""The executor's bus side: approved targets to paper orders, bars to fills and account snapshots."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

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
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.files import atomic_write_text
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.live.session import SessionCorrupt, SessionRecorder
from logos.redact import redact
from logos.streams import Group
from services.executor.brokers.factory import build_broker
from services.executor.brokers.interface import Broker, OrderRequest, client_order_id
from services.executor.config import ExecutorSettings
from services.runtime.errors import StartupRefused
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.executor")


class ExecutorWorker(ServiceWorker):
    """Runs the paper broker on the streams and records the session."""

    service = "executor"

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        assert isinstance(settings, ExecutorSettings)
        self.executor_settings = settings
        paths = settings.logos.paths
        self.pointer = paths.runs / "live" / "current_session"
        session_id = settings.session_id
        if "session_id" not in settings.model_fields_set and self.pointer.exists():
            session_id = self.pointer.read_text().strip()  # resume the session a crash interrupted
        self.broker = PaperBroker(settings.cash, settings.logos.symbol_specs(), settings.fills)
        self.session_id = session_id
        self.venue = self._venue(settings)
        self.recorder = SessionRecorder(
            paths,
            session_id,
            {"account": settings.account, "cash": str(settings.cash), "fills": settings.fills.model_dump(mode="json")}
            | ({"broker": settings.broker, "exchange": settings.exchange, "dry_run": True} if self.venue else {}),
        )
        try:
            restored = self.recorder.restore(self.broker)
        except (SessionCorrupt, KeyError, ValueError) as exc:
            raise StartupRefused(f"executor: cannot reconcile session {session_id}: {exc}") from None
        if restored:
            log.warning("resumed session %s from %d events: cash %s, positions %s, %d working orders", session_id,
                        restored, self.broker.ledger.cash, dict(self.broker.ledger.positions),
                        len(self.broker.working()))  # fmt: skip
        atomic_write_text(self.pointer, session_id + "\n")
        self.finished = False
        self.last_checkpoint: dict[str, Any] | None = None

    @staticmethod
    def _venue(settings: ExecutorSettings) -> Broker | None:
        """The venue adapter a dry run builds requests with; None on the paper broker alone."""
        if settings.broker == "paper":
            return None
        if not settings.dry_run:
            raise StartupRefused(
                f"executor: sending orders to {settings.broker} from the executor is not available in this release; "
                "set EXECUTOR_DRY_RUN=true to build and record them (docs/RUNBOOK.md)"
            )
        try:
            return build_broker(settings)
        except ValueError as exc:
            raise StartupRefused(f"executor: {exc}") from None

    def subscriptions(self) -> list[Subscription]:
        streams = [self.names.orders, *self.names.all_bars(), self.names.control]
        return [Subscription(Group.EXECUTOR, streams, self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        match message:
            case Bar():
                last = self.broker.last_bar.get(message.symbol)
                if last is not None and message.ts <= last.ts:
                    # handled before a restart: only the acknowledgement was lost; say it again
                    await self.publish(self.names.account, self.broker.snapshot(last, self.executor_settings.account))
                    return
                executions = self.broker.on_bar(message)
                snapshot = self.broker.snapshot(message, self.executor_settings.account)
                self.recorder.bar(message, executions, snapshot)  # one line: the bar's effects, all or nothing
                await self._publish_fills(executions)
                await self.publish(self.names.account, snapshot)
            case Order():
                accepted = self.broker.on_order(message, message.ts)
                if accepted is None:
                    return  # the same decision delivered again (before or after a restart)
                self.recorder.order(message.id, accepted.order, accepted.canceled, accepted.executions,
                                    accepted.rejection)  # fmt: skip
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
                    self._cancel_working(message.ts, message.detail)  # a kill through risk's API, too
            case Control() if message.command is ControlCommand.KILL:
                self._cancel_working(message.ts, message.reason)
            case Control() if message.command is ControlCommand.CHECKPOINT:
                self.checkpoint(f"{message.reason} (by {message.issued_by})")

    async def _dry_run(self, decision: Order, paper: PaperOrder, venue: Broker) -> None:
        """Build the venue request the paper order stands for, exactly as it would be sent, and record it."""
        request = OrderRequest(client_order_id(self.session_id, paper.id), paper.symbol, paper.side, paper.quantity,
                               paper.order_type, paper.limit_price, self.broker.marks.get(paper.symbol))  # fmt: skip
        result = await asyncio.to_thread(venue.submit, request)
        log.info("dry run %s %s %s %s: %s", venue.name, paper.side.value, paper.quantity, paper.symbol, result.reason)
        self.recorder.dry_run(decision.id, paper, venue.name, result.outcome.value, result.reason,
                              request.client_order_id, redact(result.request))  # fmt: skip

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

    def checkpoint(self, reason: str) -> None:
        """Write the session's artifacts now and keep running (the end of a replay asks for it)."""
        ledger = self.broker.ledger
        directory = self.recorder.write(self._orders(), ledger.executions, ledger.realized_pnl, ledger.fees_paid)
        self.last_checkpoint = {
            "at": datetime.now(UTC).isoformat(),
            "bars": len(self.recorder.accounts),
            "fills": len(ledger.executions),
            "directory": str(directory),
            "reason": reason,
        }
        log.info("session checkpoint (%s): artifacts in %s", reason, directory)

    def finish(self) -> None:
        """Write the session's artifacts (once)."""
        if self.finished:
            return
        self.finished = True
        ledger = self.broker.ledger
        directory = self.recorder.finish(self._orders(), ledger.executions, ledger.realized_pnl, ledger.fees_paid)
        self.pointer.unlink(missing_ok=True)
        log.info("session artifacts in %s", directory)

    def stopped(self) -> None:
        self.finish()

    def warnings(self) -> list[str]:
        found = super().warnings()
        if self.venue is not None:
            found.append(f"dry run against {self.executor_settings.broker}: venue requests are recorded, none is sent")
        return found

    def details(self) -> dict[str, Any]:
        ledger = self.broker.ledger
        return {
            "session": self.recorder.session_id,
            "cash": str(ledger.cash),
            "positions": {symbol: str(quantity) for symbol, quantity in ledger.positions.items()},
            "fills": len(ledger.executions),
            "working_orders": len(self.broker.working()),
            "broker": self.executor_settings.broker,
            "dry_run": self.venue is not None,
            "dry_run_orders": len(self.recorder.dry_runs),
            "bars": len(self.recorder.accounts),
            "session_directory": str(self.recorder.directory),
            "checkpoint": self.last_checkpoint,
        }
