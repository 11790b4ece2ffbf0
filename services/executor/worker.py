"""The executor's bus side: reads risk decisions; brokers and the ledger plug in here."""

from __future__ import annotations

import logging

from logos.bus import Bus, Delivery
from logos.contracts import Control, Message, Order, OrderDenied
from logos.streams import Group
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.executor")


class ExecutorWorker(ServiceWorker):
    """Records every decision it receives; without a broker it sends nothing anywhere."""

    service = "executor"

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.orders: dict[str, Order] = {}
        self.denials: dict[str, OrderDenied] = {}
        self.last_control: Control | None = None

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(Group.EXECUTOR, [self.names.orders, self.names.control], self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        match message:
            case Order():
                self.orders.setdefault(message.id, message)
                log.warning(
                    "order %s for %s received but no broker is configured; nothing sent", message.id, message.symbol
                )
            case OrderDenied():
                self.denials.setdefault(message.id, message)
            case Control():
                self.last_control = message
