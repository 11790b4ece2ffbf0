"""The risk service's bus side: every intent gets a decision, published on the orders stream."""

from __future__ import annotations

import logging
import uuid

from logos.bus import Bus, Delivery
from logos.contracts import (
    AccountSnapshot,
    Control,
    DenialReason,
    Fill,
    Message,
    OrderDenied,
    OrderIntent,
    TradingState,
)
from logos.streams import Group
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.risk")
DENIAL_NAMESPACE = uuid.UUID("5f0c7c3e-3c1e-4f5e-9a57-6c1f1c0b9d21")


class RiskWorker(ServiceWorker):
    """Starts HALTED and, until risk rules are configured, refuses every intent with its reason."""

    service = "risk"

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        self.trading_state = TradingState.HALTED
        self.account: AccountSnapshot | None = None
        self.last_control: Control | None = None

    def subscriptions(self) -> list[Subscription]:
        streams = [*self.names.all_intents(), self.names.fills, self.names.account, self.names.control]
        return [Subscription(Group.RISK, streams, self.handle)]

    async def handle(self, message: Message, delivery: Delivery) -> None:
        match message:
            case OrderIntent():
                await self.deny(
                    message, DenialReason.TRADING_HALTED, "no risk rules are configured; trading stays halted"
                )
            case AccountSnapshot():
                self.account = message
            case Control():
                self.last_control = message
                log.info("control %s from %s: %s", message.command.value, message.issued_by, message.reason)
            case Fill():
                pass

    async def deny(self, intent: OrderIntent, reason: DenialReason, detail: str) -> None:
        # the denial id follows from the intent id, so a redelivered intent yields the same denial
        denial = OrderDenied(
            id=uuid.uuid5(DENIAL_NAMESPACE, intent.id).hex,
            intent_id=intent.id,
            symbol=intent.symbol,
            reason=reason,
            detail=detail,
            trading_state=self.trading_state,
        )
        await self.publish(self.names.orders, denial)
        log.info("denied intent %s (%s): %s", intent.id, reason.value, detail)
