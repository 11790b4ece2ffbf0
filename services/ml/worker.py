"""The ml service's bus side: reads the bars of its shards and the executor's fills and account."""

from __future__ import annotations

from logos.bus import Bus, Delivery
from logos.contracts import AccountSnapshot, Bar, Fill, Message
from logos.streams import Group
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription


class MLWorker(ServiceWorker):
    """Keeps the latest bar per symbol and the latest account; strategies plug in on top."""

    service = "ml"

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.latest_bars: dict[str, Bar] = {}
        self.account: AccountSnapshot | None = None
        self.fills_seen: set[str] = set()

    def subscriptions(self) -> list[Subscription]:
        streams = [*self.names.all_bars(), self.names.fills, self.names.account]
        return [Subscription(Group.ML, streams, self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        match message:
            case Bar():
                previous = self.latest_bars.get(message.symbol)
                if previous is None or message.ts >= previous.ts:
                    self.latest_bars[message.symbol] = message
            case Fill():
                self.fills_seen.add(message.id)
            case AccountSnapshot():
                self.account = message
