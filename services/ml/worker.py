"""The ml service's bus side: bars and account snapshots in, signals and target-position intents out."""

from __future__ import annotations

import logging
from datetime import datetime

from logos.bus import Bus, Delivery
from logos.contracts import AccountSnapshot, Bar, Message, SignalRole
from logos.live.strategy_runner import Decision, StrategyRunner
from logos.orders.sizing import parse_sizing
from logos.strategies import get_strategy
from logos.streams import Group
from services.ml.config import MLSettings
from services.runtime.causal import CausalOrder, MLOrder
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.ml")
HISTORY_SYMBOLS = 50  # symbols per shard whose windows a restart rebuilds in full


class MLWorker(ServiceWorker):
    """Runs the champion strategy (intents) and an optional shadow (signals only) on every symbol."""

    service = "ml"

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        assert isinstance(settings, MLSettings)
        specs = settings.logos.symbol_specs()
        self.runners: list[StrategyRunner] = []
        if settings.strategy:
            champion = get_strategy(settings.strategy)
            self.runners.append(
                StrategyRunner(champion, champion.params(settings.params), specs, parse_sizing(settings.sizing))
            )
        if settings.shadow_strategy:
            shadow = get_strategy(settings.shadow_strategy)
            self.runners.append(
                StrategyRunner(
                    shadow,
                    shadow.params(settings.shadow_params),
                    specs,
                    parse_sizing(settings.sizing),
                    role=SignalRole.SHADOW,
                )
            )
        self.refusals: dict[str, int] = {}

    async def prepare(self) -> None:
        """After a restart, refill every strategy's windows with the bars ml had already been delivered."""
        if not self.runners:
            return
        depth = max(runner.lookback for runner in self.runners) + 1
        for stream in self.names.all_bars():
            bars = [
                m for m in await self.bus.acknowledged(stream, Group.ML, depth * HISTORY_SYMBOLS) if isinstance(m, Bar)
            ]
            for runner in self.runners:
                runner.warm_up(bars)
            if bars:
                log.info("rebuilt windows from %d bars of %s", len(bars), stream)

    def subscriptions(self) -> list[Subscription]:
        streams = [*self.names.all_bars(), self.names.account]
        return [Subscription(Group.ML, streams, self.handle)]

    def causal_order(self) -> CausalOrder:
        return MLOrder(self, self._awaits, self._abandon)

    def _awaits(self, symbol: str, ts: datetime) -> bool:
        """Whether the champion's decision on that bar waits for its account snapshot (a shadow never orders)."""
        return any(runner.awaiting(symbol, ts) for runner in self.runners if runner.role is SignalRole.CHAMPION)

    def _abandon(self, symbol: str, ts: datetime) -> None:
        for runner in self.runners:
            runner.abandon(symbol, ts)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        for runner in self.runners:
            decision: Decision | None = None
            if isinstance(message, Bar):
                decision = runner.on_bar(message)
            elif isinstance(message, AccountSnapshot):
                decision = runner.on_account(message)
            if decision is not None:
                await self._publish(runner, decision)

    async def _publish(self, runner: StrategyRunner, decision: Decision) -> None:
        await self.publish(self.names.signals, decision.signal)
        if runner.role is not SignalRole.CHAMPION:
            return  # a shadow never trades
        if decision.refusal is not None:
            self.refusals[decision.refusal.value] = self.refusals.get(decision.refusal.value, 0) + 1
        if decision.intent is not None:
            await self.publish(self.names.intents_for(decision.intent.symbol), decision.intent)

    def details(self) -> dict[str, object]:
        return {
            "strategies": [
                {"name": r.strategy.name, "role": r.role.value, "params": r.params.model_dump(mode="json")}
                for r in self.runners
            ],
            "translator_refusals": dict(self.refusals),
        }
