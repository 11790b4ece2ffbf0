"""The executor's bus side: approved targets to paper orders, bars to fills and account snapshots."""

from __future__ import annotations

import logging
from datetime import datetime
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
from logos.live.paper_broker import PaperBroker
from logos.live.session import SessionCorrupt, SessionRecorder
from logos.streams import Group
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
        self.recorder = SessionRecorder(
            paths,
            session_id,
            {"account": settings.account, "cash": str(settings.cash), "fills": settings.fills.model_dump(mode="json")},
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

    def finish(self) -> None:
        """Write the session's artifacts (once)."""
        if self.finished:
            return
        self.finished = True
        ledger = self.broker.ledger
        directory = self.recorder.finish(list(self.broker.orders.values()), ledger.executions, ledger.realized_pnl,
                                         ledger.fees_paid)  # fmt: skip
        self.pointer.unlink(missing_ok=True)
        log.info("session artifacts in %s", directory)

    def stopped(self) -> None:
        self.finish()

    def details(self) -> dict[str, Any]:
        ledger = self.broker.ledger
        return {
            "session": self.executor_settings.session_id,
            "cash": str(ledger.cash),
            "positions": {symbol: str(quantity) for symbol, quantity in ledger.positions.items()},
            "fills": len(ledger.executions),
            "working_orders": len(self.broker.working()),
        }
