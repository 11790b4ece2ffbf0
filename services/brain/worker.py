"""The brain's bus side: watches heartbeats and signals, the inputs of its proposals."""

from __future__ import annotations

from logos.bus import Bus, Delivery
from logos.contracts import Message, ServiceStatus, Signal
from logos.streams import Group
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription


class BrainWorker(ServiceWorker):
    """Keeps the latest heartbeat of every service instance and the latest signal per symbol."""

    service = "brain"

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.fleet: dict[str, ServiceStatus] = {}
        self.latest_signals: dict[tuple[str, str], Signal] = {}

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(Group.BRAIN, [self.names.status, self.names.signals], self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        match message:
            case ServiceStatus():
                self.fleet[f"{message.service}/{message.instance}"] = message
            case Signal():
                self.latest_signals[(message.symbol, message.role.value)] = message
