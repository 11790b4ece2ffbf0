"""The executor's bus side: approved targets to paper orders, bars to fills and account snapshots."""

from __future__ import annotations

import logging
from typing import Any

from logos.bus import Bus, Delivery
from logos.contracts import Bar, Control, ControlCommand, Fill, Message, Order, OrderDenied
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.live.paper_broker import PaperBroker
from logos.live.session import SessionRecorder
from logos.streams import Group
from services.executor.config import ExecutorSettings
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
        self.broker = PaperBroker(settings.cash, settings.logos.symbol_specs(), settings.fills)
        self.recorder = SessionRecorder(
            settings.logos.paths,
            settings.session_id,
            {"account": settings.account, "cash": str(settings.cash), "fills": settings.fills.model_dump(mode="json")},
        )
        self.finished = False

    def subscriptions(self) -> list[Subscription]:
        streams = [self.names.orders, *self.names.all_bars(), self.names.control]
        return [Subscription(Group.EXECUTOR, streams, self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        match message:
            case Bar():
                await self._publish_fills(self.broker.on_bar(message))
                snapshot = self.broker.snapshot(message, self.executor_settings.account)
                self.recorder.account(snapshot)
                await self.publish(self.names.account, snapshot)
            case Order():
                paper, executions = self.broker.on_order(message, message.ts)
                if paper is not None:
                    self.recorder.event("order", id=paper.id, intent_id=paper.intent_id, symbol=paper.symbol,
                                        side=paper.side.value, quantity=str(paper.quantity))  # fmt: skip
                await self._publish_fills(executions)
            case OrderDenied():
                self.recorder.denial(message)
            case Control() if message.command is ControlCommand.KILL:
                for paper in self.broker.orders.values():
                    if paper.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
                        paper.move(message.ts, OrderStatus.CANCELED)
                self.recorder.event("kill", reason=message.reason)

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
            self.recorder.event(
                "fill", **fill.model_dump(mode="json", include={"id", "order_id", "side", "quantity", "price", "fee"})
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
        log.info("session artifacts in %s", directory)

    async def stop(self) -> None:
        await super().stop()
        self.finish()

    def details(self) -> dict[str, Any]:
        ledger = self.broker.ledger
        return {
            "session": self.executor_settings.session_id,
            "cash": str(ledger.cash),
            "positions": {symbol: str(quantity) for symbol, quantity in ledger.positions.items()},
            "fills": len(ledger.executions),
            "working_orders": sum(1 for o in self.broker.orders.values() if o.status in (OrderStatus.ACCEPTED,)),
        }
