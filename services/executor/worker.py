"""The executor's bus side: each message to the executor engine, what it returns onto the streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from logos.bus import Bus, Delivery
from logos.contracts import Message, Watermark
from logos.error_text import validation_lines
from logos.files import atomic_write_text
from logos.live.paper_broker import PaperBroker
from logos.live.session import SessionCorrupt, SessionRecorder
from logos.risk.limits import ConfiguredLimits, RiskLimits
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.streams import Group
from services.executor.brokers.factory import build_broker
from services.executor.brokers.interface import Broker, CredentialsRefused, VenueUnavailable
from services.executor.config import ExecutorSettings
from services.executor.engine import ExecutorEngine, Publication
from services.executor.hard_limits import HardLimitGate
from services.executor.reconciliation import refusal
from services.executor.venue_session import VenueSession
from services.runtime.causal import CausalOrder, ExecutorOrder
from services.runtime.errors import StartupRefused
from services.runtime.session_identity import check_executor, uses_redis
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker, Subscription

log = logging.getLogger("logos.executor")


class ExecutorWorker(ServiceWorker):
    """Runs the executor engine on the streams: the paper broker, or orders routed to a venue, and the session."""

    service = "executor"
    verifies = (ORDERS_KEY, CONTROL_KEY)  # it acts only on risk's signed decisions and signed operator commands

    def __init__(self, settings: ServiceSettings, bus: Bus, symbols: Sequence[str] = ()) -> None:
        """Set up the session; ``symbols`` (besides the symbol map's) are the ones whose venue rules to read now."""
        super().__init__(settings, bus)
        assert isinstance(settings, ExecutorSettings)
        self.executor_settings = settings
        self.pointer = settings.logos.paths.runs / "live" / "current_session"
        explicit = settings.session_id if "session_id" in settings.model_fields_set else None
        # the stack's one session: the pointer's (a stop or a crash left it), the one Redis records, or a new one
        consumed = [self.names.orders, *self.names.all_bars(), self.names.control]
        self.session_id = check_executor(settings, bus, self.pointer, explicit, settings.session_id, consumed)
        paper_broker = PaperBroker(settings.cash, settings.logos.symbol_specs(), settings.fills)
        self.risk_limits = self._risk_limits()
        hard_limit_gate = HardLimitGate(settings.hard_limits(self.risk_limits))
        venue = self._venue(settings)
        if venue is not None:
            self._load_metadata(venue, settings, [*symbols, *settings.symbol_map])
        self.engine = self._engine(settings, paper_broker, hard_limit_gate, venue)
        self._lock = asyncio.Lock()  # one venue conversation at a time: a decision, a poll or a kill
        try:
            self.restored = self.engine.restore()
        except (SessionCorrupt, KeyError, ValueError) as exc:
            raise StartupRefused(f"executor: cannot reconcile session {self.session_id}: {exc}") from None
        if self.restored:
            log.warning(
                "resumed session %s from %d events: cash %s, positions %s, %d working orders",
                self.session_id,
                self.restored,
                paper_broker.ledger.cash,
                dict(paper_broker.ledger.positions),
                len(paper_broker.working()),
            )
        if self.engine.venue_session is not None:
            self._reconcile(self.engine.venue_session.venue, settings)
        atomic_write_text(self.pointer, self.session_id + "\n")

    def _engine(
        self,
        settings: ExecutorSettings,
        paper_broker: PaperBroker,
        hard_limit_gate: HardLimitGate,
        venue: Broker | None,
    ) -> ExecutorEngine:
        """The engine of this session: its recorder, and the venue its orders go to or its dry run builds for."""
        configuration: dict[str, Any] = {
            "account": settings.account,
            "cash": str(settings.cash),
            "fills": settings.fills.model_dump(mode="json"),
        }
        if venue is not None:
            configuration |= {
                "broker": settings.broker,
                "exchange": settings.exchange,
                "dry_run": settings.dry_run,
                "endpoint": settings.venue_endpoint(),
            }
        recorder = SessionRecorder(settings.logos.paths, self.session_id, configuration)
        venue_session = None
        if venue is not None and not settings.dry_run:
            fee_bps = settings.fills.taker_fee_bps  # the estimate when the venue does not report a fee
            venue_session = VenueSession(paper_broker, venue, recorder, self.session_id, fee_bps)
        else:  # a venue's orders are the venue session's state, which a snapshot does not hold
            recorder.snapshot_every = settings.snapshot_events
        return ExecutorEngine(
            paper_broker,
            recorder,
            hard_limit_gate,
            self.names,
            settings.account,
            venue_session=venue_session,
            dry_run_venue=venue if venue_session is None else None,
        )

    @property
    def recorder(self) -> SessionRecorder:
        """The session's recorder (the command line reads its directory and summary, and adds to its settings)."""
        return self.engine.recorder

    @staticmethod
    def _venue(settings: ExecutorSettings) -> Broker | None:
        """The venue adapter orders go to (or a dry run builds requests with); None on the paper broker alone."""
        if settings.broker == "paper":
            return None
        try:
            return build_broker(settings)
        except ValueError as exc:
            raise StartupRefused(f"executor: {exc}") from None

    @staticmethod
    def _load_metadata(venue: Broker, settings: ExecutorSettings, symbols: list[str]) -> None:
        """Read the venue's trading rules before the first bar: a venue that cannot be read fails here, once."""
        name = settings.exchange or venue.name
        try:
            venue.load_metadata(sorted(set(symbols)))
        except (VenueUnavailable, CredentialsRefused) as exc:
            raise StartupRefused(
                f"{name} market metadata could not be loaded (network unreachable?): {exc}; orders to {name} "
                "(dry run or not) are built from it, so the session does not start"
            ) from None

    def _reconcile(self, venue: Broker, settings: ExecutorSettings) -> None:
        """Refuse to start when the venue cannot be asked, or when its orders or positions differ from ours."""
        try:
            differences = self.engine.reconcile(settings.symbol_map, settings.accept_mismatch)
        except (VenueUnavailable, CredentialsRefused) as exc:
            raise StartupRefused(f"executor: cannot reconcile the session with {venue.name}: {exc}; start again "
                                 "when the venue answers (docs/RUNBOOK.md, Recovery)") from None  # fmt: skip
        if differences and not settings.accept_mismatch:
            raise StartupRefused(refusal(venue.name, differences))
        for line in differences:
            log.warning("reconciliation difference accepted by EXECUTOR_ACCEPT_MISMATCH: %s", line)

    @staticmethod
    def _risk_limits() -> RiskLimits:
        """Risk's limits as the stack configures them: the executor's own default to twice these."""
        try:
            return ConfiguredLimits().limits
        except ValidationError as exc:
            raise StartupRefused(f"executor: {'; '.join(validation_lines(exc))}") from None

    async def prepare(self) -> None:
        """Start the session's files, then publish the fills start-up reconciliation found (filled while down)."""
        startup = self.engine.start()
        for symbol, bar in self.engine.paper_broker.last_bar.items():  # a resumed session's bars: the guard goes on
            self.bar_guard.seed(symbol, bar.ts)
        await self._publish(startup)

    def loops(self) -> list[Any]:
        return [self._poll_loop()] if self.engine.venue_session is not None else []

    async def _poll_loop(self) -> None:
        """Ask the venue about working orders every EXECUTOR_POLL_SECONDS until the service stops."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.executor_settings.poll_seconds)
            if self.stopping.is_set():
                return
            await self.poll_venue()

    async def poll_venue(self) -> None:
        """Book what the venue reports for the working orders and publish it."""
        async with self._lock:
            await self._publish(await asyncio.to_thread(self.engine.poll))

    def subscriptions(self) -> list[Subscription]:
        streams = [self.names.orders, *self.names.all_bars(), self.names.control]
        return [Subscription(Group.EXECUTOR, streams, self.handle)]

    def causal_order(self) -> CausalOrder:
        return ExecutorOrder(self)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        if isinstance(message, Watermark):
            return  # risk's progress: the causal order acts on it (services/runtime/causal.py)
        async with self._lock:
            if self.engine.may_block(message):  # it talks to the venue: off the event loop
                published = await asyncio.to_thread(self.engine.handle, message, delivery.signer)
            else:
                published = self.engine.handle(message, delivery.signer)
            await self._publish(published)

    async def _publish(self, published: list[Publication]) -> None:
        for stream, message in published:
            await self.publish(stream, message)

    def finish(self) -> None:
        """Write the session's artifacts (once)."""
        if self.engine.finish() is not None and not uses_redis(self.bus):
            self.pointer.unlink(missing_ok=True)  # on Redis a stop does not end the session: the next start resumes it

    def stopped(self) -> None:
        self.finish()

    def warnings(self) -> list[str]:
        found = super().warnings()
        settings, engine = self.executor_settings, self.engine
        refused_by = engine.recorder.refused_by
        refused = sum(count for count, _ in refused_by.values())
        if refused:
            limit, (_, first) = next(iter(refused_by.items()))
            found.append(f"CRIT: {refused} approved orders refused by the executor's hard limits (first: {limit}: "
                         f"{first}); see docs/RUNBOOK.md, Executor hard limits")  # fmt: skip
        found += engine.hard_limit_gate.limits.below(self.risk_limits)
        if engine.dry_run_venue is not None:
            found.append(f"dry run against {settings.broker}: venue requests are recorded, none is sent")
        if engine.venue_session is not None:
            money = "LIVE: real money" if settings.live else f"the venue's {settings.venue_endpoint()} endpoint"
            found.append(f"orders are sent to {settings.broker} ({money})")
            found += [f"order outcome unknown: {line}" for line in engine.venue_session.unknown_lines()]
            found += [f"reconciliation difference accepted: {line}" for line in engine.accepted_differences]
        return found

    def details(self) -> dict[str, Any]:
        engine = self.engine
        broker, recorder, ledger = engine.paper_broker, engine.recorder, engine.paper_broker.ledger
        return {
            "session": recorder.session_id,
            "cash": str(ledger.cash),
            "positions": {symbol: str(quantity) for symbol, quantity in ledger.positions.items()},
            "fills": broker.fill_count,
            "working_orders": len(broker.working()),
            "broker": self.executor_settings.broker,
            "dry_run": engine.dry_run_venue is not None,
            "dry_run_orders": len(recorder.dry_runs),
            "bars": recorder.bars,
            "session_directory": str(recorder.directory),
            "checkpoint": engine.last_checkpoint,
            "hard_limits": engine.hard_limit_gate.details(recorder.refused_by),
        } | ({"venue": self._venue_details(engine.venue_session)} if engine.venue_session is not None else {})

    def _venue_details(self, venue_session: VenueSession) -> dict[str, Any]:
        return {
            "name": venue_session.venue.name,
            "endpoint": self.executor_settings.venue_endpoint(),
            "working": [venue_session.client_id(paper.id) for paper in self.engine.paper_broker.working()],
            "unknown": venue_session.unknown_lines(),
            "last_poll": venue_session.last_poll.isoformat() if venue_session.last_poll else None,
            "reconciliation_differences_accepted": self.engine.accepted_differences,
        }
