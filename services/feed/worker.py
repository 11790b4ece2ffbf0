"""The feed's bus side: publishes bars (providers arrive with the live pipeline) and obeys control."""

from __future__ import annotations

import logging

from logos.bus import Delivery
from logos.contracts import Control, Message
from logos.streams import Group
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.feed")


class FeedWorker(ServiceWorker):
    service = "feed"
    last_control: Control | None = None

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(Group.FEED, [self.names.control], self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        """Remember the latest operator command (a halted stack keeps its data fresh)."""
        if isinstance(message, Control):
            self.last_control = message
            log.info("control %s from %s: %s", message.command.value, message.issued_by, message.reason)
