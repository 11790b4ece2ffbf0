"""The risk service's bus side: every intent gets a decision, published on the orders stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from logos.bus import Bus, Delivery, Refused
from logos.contracts import (
    AccountSnapshot,
    Bar,
    Control,
    ControlCommand,
    Fill,
    Message,
    Order,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    ServiceStatus,
)
from logos.files import atomic_write_text
from logos.risk.decisions import decision_message, slice_message, state_change_message
from logos.risk.engine import RiskEngine, RiskEvent, RiskState, Slice
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.streams import Group
from services.risk.config import RiskSettings
from services.risk.control_guard import ControlGuard
from services.runtime.causal import CausalOrder, RiskOrder
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.risk")
REMEMBERED_DECISIONS = 10_000
REMEMBERED_OUTCOMES = 10_000


class RiskWorker(ServiceWorker):
    """Runs the risk engine on the streams; its trading state is kept on disk across restarts."""

    service = "risk"
    signs = (ORDERS_KEY,)  # its decisions and trading-state changes: only risk can send an order
    verifies = (CONTROL_KEY,)  # operator commands: only the control key's holder can kill or resume

    def __init__(self, settings: ServiceSettings, bus: Bus) -> None:
        super().__init__(settings, bus)
        assert isinstance(settings, RiskSettings)
        self.risk_settings = settings
        self.state_path = settings.state_path()
        self.control_guard = ControlGuard(
            self.state_path.with_name(self.state_path.name + ".controls"),
            timedelta(seconds=self.risk_settings.control_max_age_seconds),
        )
        saved = RiskState()
        if self.state_path.exists():
            saved = RiskState.model_validate_json(self.state_path.read_text())
            log.info(
                "restored trading state %s (kill switch %s) from %s", saved.state.value, saved.killed, self.state_path
            )
        self.engine = RiskEngine.restore(settings.limits, saved)
        self.engine.lot_sizes = {symbol: spec.lot_size for symbol, spec in settings.logos.symbol_specs().items()}
        self.data_time: datetime | None = None
        # a redelivered intent gets the decision it got the first time, not a second opinion
        self.decisions: OrderedDict[str, Order | OrderDenied] = OrderedDict()
        # orders whose venue answer (a first fill, or a rejection) the reject-rate breaker has counted
        self.answered: OrderedDict[str, None] = OrderedDict()

    def subscriptions(self) -> list[Subscription]:
        names = self.names
        # a read returns its entries stream by stream in this order: a bar, its fills and the account after
        # it come before the intent made from them (published later, so never read earlier), so the decision
        # sees the same position and breakers in every run
        streams = [*names.all_bars(), names.fills, names.account, *names.all_intents(), names.control]
        return [Subscription(Group.RISK, streams, self.handle)]

    def causal_order(self) -> CausalOrder:
        return RiskOrder(self)

    def loops(self) -> list[Any]:
        # on the data's clock time moves only with the data, which is evaluated as it comes: a timer would
        # only add evaluations at moments that differ from run to run
        return [] if self.risk_settings.clock == "data" else [self._evaluate_periodically()]

    def watched_streams(self) -> list[str]:
        """Every stream of the pipeline: entries lost to any service's group halt trading, not only risk's own."""
        names = self.names
        return [*names.all_bars(), *names.all_intents(), names.orders, names.fills, names.account, names.control]

    async def on_stream_gap(self, gaps: list[tuple[str, str, int]]) -> None:
        """Halt: a service that never read some entries (bars, orders, fills) holds a state nobody can trust."""
        detail = "; ".join(
            f"{lost:,} entries of {stream} trimmed before group {group} read them" for stream, group, lost in gaps
        )
        await self._changed([self.engine.halt(self.now(), detail, cause="stream_gap")])

    def now(self) -> datetime:
        if self.risk_settings.clock == "data" and self.data_time is not None:
            return self.data_time
        return datetime.now(UTC)

    def _seen(self, data_time: datetime) -> None:
        if self.data_time is None or data_time > self.data_time:
            self.data_time = data_time

    def decision_time(self, intent: OrderIntent) -> datetime:
        """When risk decides on ``intent``: live, the wall clock; on the data's clock, the intent's bar at least.

        An intent can arrive before risk has read the bar it was made on; its own bar time keeps the
        decision (and its stamp in the session's files) the same from run to run.
        """
        if self.risk_settings.clock == "data":
            self._seen(intent.bar_ts)
        return self.now()

    async def handle(self, message: Message, delivery: Delivery) -> None:
        match message:
            case OrderIntent():
                await self.decide(message)
            case Bar():
                self.engine.on_bar(message.symbol, message.ts, message.close)
                self._seen(message.ts)
            case Fill():
                self.engine.on_fill(message)
                self._count_outcome(message.intent_id or message.order_id, rejected=False)
            case OrderRejected():
                self._count_outcome(message.intent_id, rejected=True)
                await self.evaluate(message.seq)
            case AccountSnapshot():
                if message.bar_ts is not None:  # the account after that bar: the data's time is there at least
                    self._seen(message.bar_ts)
                self.engine.on_account(message)
                await self.evaluate(message.seq)
                await self.slice_reductions(message.seq)
            case Control() if message.command is not ControlCommand.CHECKPOINT:
                problem = self.control_guard.problem(message, delivery.entry_id, datetime.now(UTC))
                if problem == "redelivered":
                    return  # acted on before a restart: only the acknowledgement was lost
                if problem is not None:
                    log.error("refused %s: %s", message.command.value, problem)
                    raise Refused(f"unauthenticated: {problem}")
                await self.control(message.command, message.reason, message.issued_by, delivery.signer)
                self.control_guard.acted_on(message, delivery.entry_id)

    def _count_outcome(self, key: str, *, rejected: bool) -> None:
        """Count the venue's first answer to an order (filled or rejected) once, for the reject-rate breaker."""
        if key in self.answered:
            return
        self.answered[key] = None
        if len(self.answered) > REMEMBERED_OUTCOMES:
            self.answered.popitem(last=False)
        self.engine.on_order_outcome(rejected)

    async def decide(self, intent: OrderIntent) -> Order | OrderDenied:
        decision = self.decisions.get(intent.id)
        if decision is None:
            now = self.decision_time(intent)
            # stamped with risk's clock: in a replay the data's, so the session's files repeat byte for byte
            decision = decision_message(intent, self.engine.check(intent, now), now, self.engine.state)
            self.decisions[intent.id] = decision
            if len(self.decisions) > REMEMBERED_DECISIONS:
                self.decisions.popitem(last=False)
            if isinstance(decision, OrderDenied):
                log.info("denied %s %s: %s (%s)", intent.symbol, intent.id, decision.reason.value, decision.detail)
        await self.publish(self.names.orders, decision)
        return decision

    async def slice_reductions(self, seq: int | None = None) -> None:
        """Approve the next slice of each sliced reduction the account of bar ``seq`` shows ready."""
        now = self.now()
        for step in self.engine.next_slices(now):
            await self.publish(self.names.orders, self._slice_message(step, now, seq))

    def _slice_message(self, step: Slice, now: datetime, seq: int | None) -> Order:
        intent = step.intent
        log.info("reduction of %s (intent %s): slice %d to %s", intent.symbol, intent.id, step.number,
                 step.target_quantity)  # fmt: skip
        return slice_message(step, now, seq)

    async def control(
        self, command: ControlCommand, reason: str, issued_by: str, signer: str | None = None
    ) -> RiskEvent:
        """Apply an operator command (from the API or the control stream) and keep the result on disk.

        A command from the control stream names the key that signed it: the audit (the trading-state
        change, itself signed by risk) says who issued it and with which key.
        """
        now = self.now()
        detail = f"{reason} (by {issued_by}, signed with {signer})" if signer else f"{reason} (by {issued_by})"
        if command is ControlCommand.KILL:
            event = self.engine.kill(now, detail)
        elif command is ControlCommand.HALT:
            event = self.engine.halt(now, detail)
        elif command is ControlCommand.RESUME:
            event = self.engine.resume(now, detail)
        else:  # e.g. checkpoint, which is the executor's: never read an unknown command as a resume
            raise ValueError(f"{command.value} does not change the trading state")
        await self._changed([event])
        return event

    async def evaluate(self, seq: int | None = None) -> None:
        """Run the breakers; ``seq``: the bar whose account (or rejection) prompted it, if one did."""
        events = self.engine.evaluate(self.now())
        if events:
            await self._changed(events, seq)

    async def _changed(self, events: list[RiskEvent], seq: int | None = None) -> None:
        for event in events:
            log.warning("trading state %s (%s): %s", event.state.value, event.cause, event.detail)
        atomic_write_text(self.state_path, self.engine.snapshot().model_dump_json(indent=2) + "\n")
        try:  # on the orders stream, in order with the decisions, for the executor and the session's record
            first = len(self.engine.events) - len(events)  # the events are the engine's newest
            for number, event in enumerate(events, start=first):
                changed = state_change_message(number, event, self.engine.killed, seq)
                await self.publish(self.names.orders, changed)
        except Exception:
            log.exception("could not publish the trading-state change; risk_state.json and /status hold it")
        with contextlib.suppress(Exception):  # the heartbeat carries it again shortly if Redis is away
            await self.publish(self.names.status, self.status_message())

    async def _evaluate_periodically(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.risk_settings.evaluate_seconds)
            await self.evaluate()

    def status_message(self) -> ServiceStatus:
        return (
            super()
            .status_message()
            .model_copy(update={"trading_state": self.engine.state, "kill_switch": self.engine.killed})
        )

    def details(self) -> dict[str, Any]:
        return {
            "trading_state": self.engine.state.value,
            "kill_switch": self.engine.killed,
            "reducing_causes": sorted(self.engine.reducing_causes),
            "limit_breach": self.engine.reducing_details.get("limit_breach"),
            "sliced_reductions": {
                symbol: {"intent": r.intent.id, "target": str(r.intent.target_quantity), "slices": r.slices}
                for symbol, r in sorted(self.engine.reductions.items())
            },
            "stale_symbols": sorted(self.engine.stale_symbols(self.now())),
            "recent_events": [
                {"ts": e.ts.isoformat(), "state": e.state.value, "cause": e.cause, "detail": e.detail}
                for e in self.engine.events[-10:]
            ],
            "limits": self.risk_settings.limits.model_dump(mode="json"),
        }

    def warnings(self) -> list[str]:
        found = super().warnings()
        if self.engine.killed:
            found.append("kill switch engaged: every intent is denied until an operator resumes")
        breach = self.engine.reducing_details.get("limit_breach")
        if breach is not None:
            found.append(f"UNSAFE: limit breach: {breach}; only reductions pass until it is back within the limits")
        return found
