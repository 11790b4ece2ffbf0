"""Causal order: each service handles its inputs in the canonical order, whatever order the streams bring them.

The feed numbers every bar (``seq``, time then symbol); every message made from a bar carries its
number, and every service ends what it publishes for a bar with a :class:`Watermark` on its output
streams, in the same transaction. A service handles an input only once what precedes it causally
has been handled: its own earlier bars, and the watermarks upstream that say nothing more is coming
for the bars before. So each service sees one order of events, the backtest's, in every run, in one
process or over Redis, however far the replay runs ahead.

Per bar ``k`` the rules are (stage 1 happens only when stage 0 published something to answer):

- ml: bar ``k`` after its own bar ``k - 1`` is done. The bars alone say whether the target changed;
  if not, ml is done with ``k`` at once, else when the account snapshot of ``k`` has sized the
  intent. Then: intents of ``k``, ``Watermark(ml, k)`` on every intents stream.
- executor: bar ``k`` after risk is done with ``k - 1`` (its stage-0 watermark, and stage 1 if that
  was active). Then: fills, the account snapshot of ``k``, ``Watermark(executor, k, 0)`` on the
  fills stream (and on the account stream when no snapshot came of it). Risk's active watermark of
  ``k`` makes it answer with ``Watermark(executor, k, 1)`` after the fills and rejections its
  decisions caused.
- risk: bar ``k`` after it is done with ``k - 1``; fills of ``k`` after bar ``k``; the account of ``k``
  after the executor's stage 0 of ``k``; intents of ``k`` after the account of ``k``. Done with
  ``k`` once ml and the account are: ``Watermark(risk, k, 0)`` on the orders stream; an active
  executor stage 1 gets ``Watermark(risk, k, 1)`` after risk's reaction to it.

Inputs without a number (live bars from an older feed, operator commands) are handled as they come.
An input a service cannot handle yet is deferred: it stays pending on its stream (a crash delivers it
again) and is acknowledged, with its outputs, once handled (:class:`CausalInbox`). A restarted
service reads where it stood from what its group acknowledged (:meth:`CausalOrder.restore`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from logos.bus import (
    BackendUnavailable,
    Bus,
    Deferred,
    Delivery,
    Handler,
    RawEntry,
    Refused,
    dead_letter,
)
from logos.bus.outbox import CURRENT_OUTBOX, Outbox
from logos.contracts import (
    AccountSnapshot,
    Bar,
    Fill,
    Message,
    Order,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    TradingStateChanged,
    Watermark,
)

if TYPE_CHECKING:
    from services.runtime.worker import ServiceWorker

log = logging.getLogger("logos.causal")
HISTORY = 200  # acknowledged entries read back per stream on a restart: every bar leaves a watermark in fewer
Position = tuple[int, int]  # (seq, stage)

# among inputs ready at once, the earlier in this order goes first (then the lower seq)
_RANK: dict[type[Message], int] = {
    Bar: 0,
    Fill: 1,
    OrderRejected: 1,
    AccountSnapshot: 2,
    OrderIntent: 3,
    Order: 3,
    OrderDenied: 3,
    TradingStateChanged: 3,
    Watermark: 4,
}


def sequenced(message: Message) -> int | None:
    """The bar number that places ``message`` in the canonical order; None: handled as it comes."""
    seq = getattr(message, "seq", None)
    return seq if isinstance(seq, int) else None


class CausalOrder:
    """A service's rules: when an input is ready, and what handling it moves on (watermarks included)."""

    service: str = ""

    def __init__(self, worker: ServiceWorker) -> None:
        self.worker = worker
        self.names = worker.names
        self.bars: int | None = None  # bars handled through (None: not known until the first one)
        self.data_time: datetime | None = None  # the newest bar time handled: watermarks carry it
        self.outputs = 0  # what the service published since its last watermark, on the streams it covers

    def ready(self, message: Message, stream: str) -> bool:
        raise NotImplementedError

    async def after(self, message: Message, stream: str) -> None:
        """Move on after ``message`` was handled (or refused): publish what it completes."""
        if isinstance(message, Bar):
            if message.seq is not None and (self.bars is None or message.seq > self.bars):
                self.bars = message.seq
            if self.data_time is None or message.ts > self.data_time:
                self.data_time = message.ts

    def published(self, stream: str, message: Message) -> None:
        """Note a message the service published (watermarks are its own)."""

    async def restore(self, bus: Bus, group: str) -> None:
        """Read where the service stood from the entries its group acknowledged (after a restart)."""
        for stream in self.names.all_bars():
            for message in await bus.acknowledged(stream, group, HISTORY):
                if isinstance(message, Bar) and message.seq is not None:
                    self.bars = max(self.bars or 0, message.seq)
                    self.data_time = message.ts if self.data_time is None else max(self.data_time, message.ts)

    def bar_in_turn(self, bar: Bar) -> bool | None:
        """True: the next bar; None: one already handled (a redelivery, handled as it comes); False: too early."""
        seq = bar.seq
        assert seq is not None
        if self.bars is None:
            self.bars = seq - 1  # a fresh group: its first bar opens the order
        if seq <= self.bars:
            return None
        return seq == self.bars + 1

    def watermark(self, seq: int, stage: int = 0, *, active: bool = False) -> Watermark:
        ts = self.data_time
        fields = {"ts": ts} if ts is not None else {}
        return Watermark(service=self.service, seq=seq, stage=stage, active=active, **fields)

    async def _emit(self, stream: str, seq: int, stage: int) -> bool:
        """Publish the watermark of ``(seq, stage)`` on ``stream``; True if it covers outputs (``active``)."""
        active = self.outputs > 0
        self.outputs = 0
        await self.worker.publish(stream, self.watermark(seq, stage, active=active))
        return active

    async def _own_last(self, bus: Bus, stream: str) -> Watermark | None:
        """This service's newest watermark on ``stream`` (it publishes every one in a transaction: all are there)."""
        from logos.bus.codec import InvalidEntry, decode

        for entry in await bus.backend.read_backwards(stream, "+", HISTORY):
            if (entry.fields or {}).get("type") != "watermark":
                continue
            try:
                message = decode(entry.fields or {}, self.names.accepted_types(stream))
            except InvalidEntry:
                continue
            if isinstance(message, Watermark) and message.service == self.service:
                return message
        return None


class MLOrder(CausalOrder):
    """ml: bars in order; the account of a bar only after the bar; done with a bar once its intents are out."""

    service = "ml"

    def __init__(
        self,
        worker: ServiceWorker,
        awaits: Callable[[str, datetime], bool],
        abandon: Callable[[str, datetime], None],
    ) -> None:
        super().__init__(worker)
        self.awaits = awaits  # whether the decision on a bar (symbol, time) waits for its account snapshot
        self.abandon = abandon
        self.emitted = 0
        self.waiting: tuple[int, str, datetime] | None = None  # the bar whose account snapshot a decision waits for

    def ready(self, message: Message, stream: str) -> bool:
        if isinstance(message, Bar):
            turn = self.bar_in_turn(message)
            return turn is None or (turn and self.waiting is None)
        seq = sequenced(message)
        assert seq is not None
        return self.bars is not None and self.bars >= seq

    async def after(self, message: Message, stream: str) -> None:
        before = self.bars
        await super().after(message, stream)
        if isinstance(message, Bar):
            if message.seq is None or (before is not None and message.seq <= before):
                return
            if self.awaits(message.symbol, message.ts):
                self.waiting = (message.seq, message.symbol, message.ts)
                return
            await self._done(message.seq)
            return
        if self.waiting is None or sequenced(message) != self.waiting[0]:
            return
        seq, symbol, ts = self.waiting
        if isinstance(message, Watermark):  # the executor refused the bar: no snapshot will size the decision
            self.abandon(symbol, ts)
        elif self.awaits(symbol, ts):
            return
        await self._done(seq)

    async def _done(self, seq: int) -> None:
        self.waiting = None
        if seq <= self.emitted:
            return
        self.emitted = seq
        for stream in self.names.all_intents():
            await self.worker.publish(stream, self.watermark(seq))

    async def restore(self, bus: Bus, group: str) -> None:
        await super().restore(bus, group)
        for stream in self.names.all_intents():
            own = await self._own_last(bus, stream)
            if own is not None:
                self.emitted = max(self.emitted, own.seq)
        if self.bars is not None and self.bars > self.emitted:
            # its bar was handled, its snapshot not yet: the snapshot decides it (the runner's restored window)
            self.waiting = (self.bars, "", self.data_time or datetime.min)


class ExecutorOrder(CausalOrder):
    """executor: a bar only once risk is done with the one before; risk's decisions as they come."""

    service = "executor"

    def __init__(self, worker: ServiceWorker) -> None:
        super().__init__(worker)
        self.risk: Position = (0, 0)  # risk's newest watermark handled
        self.awaiting_risk = False  # an active stage 1 waits for risk's reaction
        self.snapshot_of: int | None = None  # the bar the last account snapshot was of

    def ready(self, message: Message, stream: str) -> bool:
        if isinstance(message, Bar):
            turn = self.bar_in_turn(message)
            if turn is None:
                return True
            number = message.seq or 0
            return turn and self.risk >= (number - 1, 0) and not self.awaiting_risk
        return True  # risk's decisions and watermarks, in their stream's order

    def published(self, stream: str, message: Message) -> None:
        if isinstance(message, Watermark):
            return
        if stream == self.names.fills:
            self.outputs += 1
        elif isinstance(message, AccountSnapshot):
            self.snapshot_of = message.seq

    async def after(self, message: Message, stream: str) -> None:
        before = self.bars
        await super().after(message, stream)
        if isinstance(message, Bar):
            seq = message.seq
            if seq is None or (before is not None and seq <= before):
                return
            await self._emit(self.names.fills, seq, 0)
            if self.snapshot_of != seq:  # a refused bar: ml and risk learn that no snapshot comes of it
                await self.worker.publish(self.names.account, self.watermark(seq))
        elif isinstance(message, Watermark) and message.service == "risk":
            position = (message.seq, message.stage)
            self.risk = max(self.risk, position)
            if message.stage == 0 and message.active:
                self.awaiting_risk = await self._emit(self.names.fills, message.seq, 1)
            elif message.stage == 1:
                self.awaiting_risk = False

    async def restore(self, bus: Bus, group: str) -> None:
        await super().restore(bus, group)
        for message in await bus.acknowledged(self.names.orders, group, HISTORY):
            if isinstance(message, Watermark) and message.service == "risk":
                self.risk = max(self.risk, (message.seq, message.stage))
        own = await self._own_last(bus, self.names.fills)
        if own is not None and own.stage == 1 and own.active and self.risk < (own.seq, 1):
            self.awaiting_risk = True


class RiskOrder(CausalOrder):
    """risk: bar, fills, account, then intents of each bar; the next bar once this one is done."""

    service = "risk"

    def __init__(self, worker: ServiceWorker) -> None:
        super().__init__(worker)
        self.executor: Position = (0, 0)  # the executor's newest watermark handled
        self.account = 0  # account snapshots handled through
        self.intents = dict.fromkeys(self.names.all_intents(), 0)  # ml's watermark on each intents stream
        self.emitted = 0  # risk's own stage 0 done through
        self.awaiting_executor = False  # an active stage 0 waits for the executor's answer

    def ready(self, message: Message, stream: str) -> bool:
        if isinstance(message, Bar):
            turn = self.bar_in_turn(message)
            if turn is None:
                return True
            number = message.seq or 0
            return turn and self.emitted >= number - 1 and not self.awaiting_executor
        seq = sequenced(message)
        assert seq is not None
        if stream == self.names.account:
            return (self.bars or 0) >= seq and self.executor >= (seq, 0)
        if isinstance(message, OrderIntent):
            return self.account >= seq
        if isinstance(message, Watermark):
            return True  # in its stream's order, after what it covers
        return (self.bars or 0) >= seq  # fills and rejections: after their bar

    def published(self, stream: str, message: Message) -> None:
        if stream == self.names.orders and not isinstance(message, Watermark):
            self.outputs += 1

    async def after(self, message: Message, stream: str) -> None:
        await super().after(message, stream)
        seq = sequenced(message)
        if stream == self.names.account and seq is not None:
            self.account = max(self.account, seq)
        elif isinstance(message, Watermark) and message.service == "ml" and stream in self.intents:
            self.intents[stream] = max(self.intents[stream], message.seq)
        elif isinstance(message, Watermark) and message.service == "executor":
            self.executor = max(self.executor, (message.seq, message.stage))
            if message.stage == 1:
                self.awaiting_executor = False
                if message.active:
                    await self._emit(self.names.orders, message.seq, 1)
        done = min(self.account, *self.intents.values())
        if done > self.emitted:
            self.emitted = done
            self.awaiting_executor = await self._emit(self.names.orders, done, 0)

    async def restore(self, bus: Bus, group: str) -> None:
        await super().restore(bus, group)
        for message in await bus.acknowledged(self.names.account, group, HISTORY):
            seq = sequenced(message)
            if seq is not None:
                self.account = max(self.account, seq)
        for stream in self.intents:
            for message in await bus.acknowledged(stream, group, HISTORY):
                if isinstance(message, Watermark):
                    self.intents[stream] = max(self.intents[stream], message.seq)
        for message in await bus.acknowledged(self.names.fills, group, HISTORY):
            if isinstance(message, Watermark):
                self.executor = max(self.executor, (message.seq, message.stage))
        own = await self._own_last(bus, self.names.orders)
        if own is not None:
            self.emitted = own.seq
            self.awaiting_executor = own.stage == 0 and own.active and self.executor < (own.seq, 1)


@dataclass
class _Held:
    message: Message
    delivery: Delivery
    failures: int = 0


@dataclass
class _Batch:
    """What a run of handled inputs published, and their ids: they leave in one transaction."""

    outbox: Outbox = field(default_factory=Outbox)
    acks: list[tuple[str, str]] = field(default_factory=list)  # (stream, entry id)
    handled: list[_Held] = field(default_factory=list)


@dataclass
class CausalInbox:
    """Holds a service's inputs until its :class:`CausalOrder` says they are ready, then handles them in order.

    Each stream's inputs keep their order; among streams whose next input is ready, the earlier in
    the canonical order goes first. A run of inputs handled one after the other is a batch: what
    their handlers published, watermarks included, and one acknowledgement of all their ids leave in
    one transaction (at most ``batch_size`` inputs), so a batch is the unit of redelivery.
    """

    bus: Bus
    group: str
    consumer: str
    order: CausalOrder
    handle: Handler
    max_failures: int = 5
    on_handled: Callable[[Message, Delivery], None] | None = None
    batch_size: int = 100
    queues: dict[str, deque[_Held]] = field(default_factory=dict)
    _held: dict[str, set[str]] = field(default_factory=dict)  # by stream: the entry ids waiting here
    _draining: bool = False

    def held(self, stream: str) -> frozenset[str]:
        """The entries of ``stream`` waiting here (the consumer neither redelivers nor reclaims them)."""
        return frozenset(self._held.get(stream, ()))

    def waiting(self) -> int:
        """Inputs received and not handled yet."""
        return sum(len(ids) for ids in self._held.values())

    async def offer(self, message: Message, delivery: Delivery) -> None:
        """The consumer's handler: an input without a number is handled now, any other joins its stream's queue.

        The queued inputs of a read are handled together once the read is over (:meth:`drain`, the
        consumer's ``after_read``), so the ready ones leave as one batch.
        """
        if sequenced(message) is None:
            await self.drain()  # what came before it first
            await self.handle(message, delivery)
            return
        held = self._held.setdefault(delivery.stream, set())
        if delivery.entry_id not in held:  # else a redelivery of an input waiting here
            held.add(delivery.entry_id)
            self.queues.setdefault(delivery.stream, deque()).append(_Held(message, delivery))
        raise Deferred

    async def drain(self) -> None:
        """Handle every input that is ready, in order, until none is; commit them in batches."""
        if self._draining:
            return
        self._draining = True
        batch = _Batch()
        try:
            while True:
                chosen = self._next()
                if chosen is None:
                    break
                if not await self._handle(chosen, batch):
                    break  # it failed; it is tried again with the next input
                if len(batch.acks) >= self.batch_size:
                    await self._commit(batch)
            await self._commit(batch)
        finally:
            self._draining = False

    def _next(self) -> deque[_Held] | None:
        """The queue whose head goes next: ready, and first in the canonical order (seq, then rank)."""
        chosen: deque[_Held] | None = None
        best: tuple[int, int] | None = None
        for stream, queue in self.queues.items():
            if not queue:
                continue
            head = queue[0].message
            if not self.order.ready(head, stream):
                continue
            key = (sequenced(head) or 0, _RANK.get(type(head), 5))
            if best is None or key < best:
                chosen, best = queue, key
        return chosen

    async def _handle(self, queue: deque[_Held], batch: _Batch) -> bool:
        held = queue[0]
        message, delivery = held.message, held.delivery
        outbox = batch.outbox
        mark = len(outbox.entries)
        token = CURRENT_OUTBOX.set(outbox)
        try:
            try:
                await self.handle(message, delivery)
            except Refused as exc:
                del outbox.entries[mark:]  # a refused input moves no state and publishes nothing: only the order moves
                await self.order.after(message, delivery.stream)
                self._pop(queue, delivery)
                await self._commit(batch)  # what came before it leaves first; then the dead letter, then the rest
                await self._dead_letter(held, exc.reason)
                return True
            await self.order.after(message, delivery.stream)
        except (BackendUnavailable, Deferred):
            raise
        except Exception as exc:
            del outbox.entries[mark:]
            held.failures += 1
            log.warning("%s: handling %s %s failed (%d of %d): %r", self.group, delivery.stream, delivery.entry_id,
                        held.failures, self.max_failures, exc)  # fmt: skip
            if held.failures < self.max_failures:
                return False
            self._pop(queue, delivery)
            await self._commit(batch)
            await self._dead_letter(held, f"handler failed {held.failures} times: {exc!r}")
            return True
        finally:
            CURRENT_OUTBOX.reset(token)
        self._pop(queue, delivery)
        batch.acks.append((delivery.stream, delivery.entry_id))
        batch.handled.append(held)
        return True

    def _pop(self, queue: deque[_Held], delivery: Delivery) -> None:
        queue.popleft()
        self._held[delivery.stream].discard(delivery.entry_id)

    async def _commit(self, batch: _Batch) -> None:
        """Publish what the batch's handlers published and acknowledge its inputs, in one transaction."""
        outbox, acks, handled = batch.outbox, batch.acks, batch.handled
        outbox.closed = True  # a task a handler started publishes directly from now on
        batch.outbox, batch.acks, batch.handled = Outbox(), [], []
        if acks:
            await self.bus.publish_and_ack_all(outbox, self.group, acks)
        elif outbox.entries:
            await self.bus.publish_outbox(outbox)  # what a refused input moved on: its watermarks
        if self.on_handled is not None:
            for held in handled:
                self.on_handled(held.message, held.delivery)

    async def _dead_letter(self, held: _Held, reason: str) -> None:
        delivery = held.delivery
        entry = RawEntry(delivery.stream, delivery.entry_id, delivery.fields or {})
        await dead_letter(self.bus, entry, self.group, self.consumer, delivery.deliveries, reason)
