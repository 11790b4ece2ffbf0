"""Bus behaviour, run against a real Redis and against the in-memory backend (same semantics)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from logos.bus import Bus, ConsumerOptions, ConsumerStats, Delivery, Refused, decode
from logos.bus.dead_letter import EXCERPT_CHARACTERS, canonical_json
from logos.contracts import Bar, DeadLetter, Fill, Message
from logos.streams import StreamNames
from tests.support.bus_helpers import bar, eventually, intent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
FAST = ConsumerOptions(batch_size=10, block_seconds=0.05, max_deliveries=3, reclaim_idle_seconds=0.1)


@pytest.fixture(params=["redis", "memory"])
async def bus(request: pytest.FixtureRequest, names: StreamNames) -> AsyncIterator[Bus]:
    if request.param == "redis":
        instance = Bus.redis(request.getfixturevalue("redis_url"), names, block_seconds=0.05)
    else:
        instance = Bus.memory(names)
    yield instance
    await instance.close()


async def raw_add(bus: Bus, stream: str, fields: dict[str, str]) -> None:
    """Write an entry the way a misbehaving producer would, bypassing the codec."""
    await bus.backend.add(stream, fields, 1000)


async def dead_letters(bus: Bus) -> list[DeadLetter]:
    found = []
    async for tailed in _drain(bus, bus.names.dlq):
        assert isinstance(tailed, DeadLetter)
        found.append(tailed)
    return found


async def _drain(bus: Bus, stream: str) -> AsyncIterator[Message]:
    entries = await bus.backend.read({stream: "0"}, 10_000, 0.01)
    for entry in entries:
        yield decode(entry.fields or {}, bus.names.accepted_types(stream))


class Recorder:
    def __init__(self, fail_ids: set[str] | None = None) -> None:
        self.seen: list[tuple[str, int]] = []
        self.fail_ids = fail_ids or set()

    async def __call__(self, message: Message, delivery: Delivery) -> None:
        self.seen.append((message.id, delivery.deliveries))
        if message.id in self.fail_ids:
            raise RuntimeError(f"cannot handle {message.id}")

    def handled_ids(self) -> set[str]:
        return {message_id for message_id, _ in self.seen} - self.fail_ids


async def run_consumer(
    bus: Bus, handler: Recorder, streams: list[str], stats: ConsumerStats, group: str = "ml"
) -> asyncio.Event:
    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume(group, f"{group}-1", streams, handler, stop, options=FAST, stats=stats))
    stop.task = task  # type: ignore[attr-defined]
    return stop


async def stop_consumer(stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(stop.task, 5)  # type: ignore[attr-defined]


async def test_publish_when_consumed_then_handled_in_order_and_acknowledged(bus: Bus) -> None:
    stream = bus.names.bars()
    for index in range(25):
        await bus.publish(stream, bar(index))
    recorder, stats = Recorder(), ConsumerStats()
    stop = await run_consumer(bus, recorder, [stream], stats)

    async def all_handled() -> bool:
        return len(recorder.seen) == 25

    await eventually(all_handled, what="25 bars handled")
    await stop_consumer(stop)
    assert [message_id for message_id, _ in recorder.seen] == [f"BTC/USDT-{index}" for index in range(25)]
    assert all(deliveries == 1 for _, deliveries in recorder.seen)
    (info,) = await bus.group_info("ml", [stream])
    assert info.pending == 0
    assert stats.handled == {"bar": 25} and stats.dead_lettered == 0


async def test_publish_when_type_does_not_belong_on_stream_then_refused(bus: Bus) -> None:
    with pytest.raises(ValueError, match="does not belong"):
        await bus.publish(bus.names.fills, bar(1))


async def test_invalid_entry_when_consumed_then_dead_lettered_at_once_and_loop_goes_on(bus: Bus) -> None:
    stream = bus.names.bars()
    body = '{"id": "b1", "ts": "2024-01-02T14:30:00Z", "symbol": "BTC/USDT", "open": 1.5}'
    await raw_add(bus, stream, {"type": "bar", "v": "1", "body": body})
    await raw_add(bus, stream, {"hello": "world"})
    await bus.publish(stream, bar(1))
    recorder, stats = Recorder(), ConsumerStats()
    stop = await run_consumer(bus, recorder, [stream], stats)

    async def settled() -> bool:
        return len(recorder.seen) == 1 and stats.dead_lettered == 2

    await eventually(settled, what="one bar handled and two entries dead-lettered")
    await stop_consumer(stop)
    letters = await dead_letters(bus)
    assert [letter.source_stream for letter in letters] == [stream, stream]
    assert "body is not a valid bar" in letters[0].reason and "not as floats" in letters[0].reason
    assert "missing field" in letters[1].reason and letters[1].fields == {"hello": "world"}
    assert all(letter.deliveries == 1 and letter.group == "ml" for letter in letters)
    (info,) = await bus.group_info("ml", [stream])
    assert info.pending == 0


async def test_huge_invalid_entry_when_read_by_two_groups_then_one_bounded_dead_letter_and_both_acknowledge(
    bus: Bus,
) -> None:
    stream = bus.names.bars()
    fields = {"type": "bar", "v": "1", "body": '{"id": "' + "x" * 5_000_000 + '"}'}
    await raw_add(bus, stream, fields)
    await bus.publish(stream, bar(1))
    groups = {"ml": (Recorder(), ConsumerStats()), "risk": (Recorder(), ConsumerStats())}
    stops = [await run_consumer(bus, recorder, [stream], stats, group) for group, (recorder, stats) in groups.items()]

    async def settled() -> bool:
        return all(stats.dead_lettered == 1 and len(recorder.seen) == 1 for recorder, stats in groups.values())

    await eventually(settled, what="both groups dead-lettered the huge entry and handled the bar")
    for stop in stops:
        await stop_consumer(stop)
    (letter,) = await dead_letters(bus)
    assert letter.truncated is True and letter.size == len("typebarv1body") + len(fields["body"])
    assert letter.sha256 == hashlib.sha256(canonical_json(fields).encode()).hexdigest()
    assert sum(len(name) + len(value) for name, value in letter.fields.items()) <= EXCERPT_CHARACTERS
    (raw,) = await bus.backend.read({bus.names.dlq: "0"}, 10, 0.01)
    assert sum(len(value) for value in (raw.fields or {}).values()) < 4 * EXCERPT_CHARACTERS
    for group in groups:
        (info,) = await bus.group_info(group, [stream])
        assert info.pending == 0


class FailingAs(Recorder):
    """Fails every message with an error naming its group, as two services' own handlers would."""

    def __init__(self, group: str) -> None:
        super().__init__()
        self.group = group

    async def __call__(self, message: Message, delivery: Delivery) -> None:
        raise RuntimeError(f"{self.group} cannot handle {message.id}")


async def test_handler_failures_when_different_in_two_groups_then_each_dead_lettered(bus: Bus) -> None:
    stream = bus.names.bars()
    await bus.publish(stream, bar(1))
    stats = {group: ConsumerStats() for group in ("ml", "risk")}
    stops = [await run_consumer(bus, FailingAs(group), [stream], stats[group], group) for group in stats]

    async def settled() -> bool:
        return all(counters.dead_lettered == 1 for counters in stats.values())

    await eventually(settled, what="each group gave up on the bar")
    for stop in stops:
        await stop_consumer(stop)
    letters = await dead_letters(bus)
    assert sorted(letter.group for letter in letters) == ["ml", "risk"]
    assert all(f"{letter.group} cannot handle BTC/USDT-1" in letter.reason for letter in letters)


async def test_wrong_type_when_on_stream_then_dead_lettered(bus: Bus) -> None:
    from logos.bus import encode
    from tests.unit.test_contracts import EXAMPLES

    fill = next(example for example in EXAMPLES if isinstance(example, Fill))
    await raw_add(bus, bus.names.bars(), encode(fill))
    stats = ConsumerStats()
    stop = await run_consumer(bus, Recorder(), [bus.names.bars()], stats)

    async def dead() -> bool:
        return stats.dead_lettered == 1

    await eventually(dead, what="the fill on the bar stream dead-lettered")
    await stop_consumer(stop)
    (letter,) = await dead_letters(bus)
    assert "type 'fill' does not belong on this stream" in letter.reason


async def test_poison_entry_when_handler_keeps_failing_then_dead_lettered_after_max_deliveries(bus: Bus) -> None:
    stream = bus.names.bars()
    for index in range(5):
        await bus.publish(stream, bar(index))
    recorder, stats = Recorder(fail_ids={"BTC/USDT-2"}), ConsumerStats()
    stop = await run_consumer(bus, recorder, [stream], stats)

    async def dead() -> bool:
        return stats.dead_lettered == 1

    await eventually(dead, what="the poison bar dead-lettered")
    await stop_consumer(stop)
    attempts = [deliveries for message_id, deliveries in recorder.seen if message_id == "BTC/USDT-2"]
    assert attempts == [1, 2, 3]
    assert recorder.handled_ids() == {f"BTC/USDT-{index}" for index in (0, 1, 3, 4)}
    (letter,) = await dead_letters(bus)
    assert letter.deliveries == 3 and "handler failed on delivery 3" in letter.reason
    assert "cannot handle BTC/USDT-2" in letter.reason
    assert Bar.model_validate_json(letter.fields["body"]).id == "BTC/USDT-2"
    (info,) = await bus.group_info("ml", [stream])
    assert info.pending == 0 and stats.handler_failures == 3


async def test_refused_message_when_handled_then_dead_lettered_once_with_its_reason_and_never_retried(bus: Bus) -> None:
    stream = bus.names.bars()
    for index in range(3):
        await bus.publish(stream, bar(index))
    seen: list[tuple[str, int]] = []

    async def handler(message: Message, delivery: Delivery) -> None:
        seen.append((message.id, delivery.deliveries))
        if message.id == "BTC/USDT-1":
            await bus.publish(bus.names.intents(), intent(9))  # dropped: a refused message publishes nothing
            raise Refused("unauthenticated: no signature")

    stats = ConsumerStats()
    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume("ml", "ml-1", [stream], handler, stop, options=FAST, stats=stats))

    async def done() -> bool:
        return stats.dead_lettered == 1 and stats.handled_total == 2

    await eventually(done, what="two bars handled and one refused")
    await asyncio.sleep(0.3)  # past the reclaim idle time: a refused entry is not delivered again
    stop.set()
    await asyncio.wait_for(task, 5)
    assert seen == [("BTC/USDT-0", 1), ("BTC/USDT-1", 1), ("BTC/USDT-2", 1)]
    assert stats.refused == {"unauthenticated": 1} and stats.handler_failures == 0
    (letter,) = await dead_letters(bus)
    assert letter.reason == "unauthenticated: no signature" and letter.deliveries == 1
    (info,) = await bus.group_info("ml", [stream])
    assert info.pending == 0
    assert await bus.length(bus.names.intents()) == 0


async def test_consumer_when_restarted_then_own_pending_entries_come_first(bus: Bus) -> None:
    stream = bus.names.bars()
    await bus.backend.ensure_group(stream, "ml")
    await bus.publish(stream, bar(1))
    # read but never acknowledged, as by a consumer that died before acknowledging
    await bus.backend.read_group("ml", "ml-1", {stream: ">"}, 10, 0)
    recorder, stats = Recorder(), ConsumerStats()
    stop = await run_consumer(bus, recorder, [stream], stats)

    async def handled() -> bool:
        return len(recorder.seen) == 1

    await eventually(handled, what="the pending bar redelivered")
    await stop_consumer(stop)
    assert recorder.seen == [("BTC/USDT-1", 2)]


async def test_entry_when_delivered_more_than_max_without_ack_then_dead_lettered_unhandled(bus: Bus) -> None:
    stream = bus.names.bars()
    await bus.backend.ensure_group(stream, "ml")
    await bus.publish(stream, bar(1))
    for _ in range(FAST.max_deliveries):  # consumers that crashed while handling it
        await bus.backend.read_group("ml", "crashed", {stream: ">" if _ == 0 else "0"}, 10, 0)
    await asyncio.sleep(FAST.reclaim_idle_seconds * 1.5)
    recorder, stats = Recorder(), ConsumerStats()
    stop = await run_consumer(bus, recorder, [stream], stats)

    async def dead() -> bool:
        return stats.dead_lettered == 1

    await eventually(dead, what="the crash-looping bar dead-lettered")
    await stop_consumer(stop)
    assert recorder.seen == []
    (letter,) = await dead_letters(bus)
    assert "without an acknowledgement" in letter.reason and letter.deliveries == FAST.max_deliveries + 1


async def test_tail_when_following_then_yields_new_messages_only(bus: Bus) -> None:
    stream = bus.names.bars()
    await bus.publish(stream, bar(0))
    stop = asyncio.Event()
    received: list[str] = []

    async def follow() -> None:
        async for tailed in bus.tail([stream], stop):
            received.append(tailed.message.id)
            if len(received) == 2:
                stop.set()

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.2)
    await bus.publish(stream, bar(1))
    await bus.publish(stream, bar(2))
    await asyncio.wait_for(task, 5)
    assert received == ["BTC/USDT-1", "BTC/USDT-2"]


async def test_publish_when_maxlen_reached_then_stream_trimmed(names: StreamNames, redis_url: str) -> None:
    bus = Bus.redis(redis_url, names, maxlen=100, trim_seconds=0.05)
    try:
        for index in range(1000):
            await bus.publish(names.bars(), bar(index))

        async def trimmed() -> bool:  # by the bus's trimmer, within trim_seconds; whole macro nodes, never below
            return 100 <= await bus.length(names.bars()) < 1000

        await eventually(trimmed, what="the stream trimmed towards maxlen")
    finally:
        await bus.close()


async def test_redelivered_entry_count_when_read_again_then_matches_redis(names: StreamNames, redis_url: str) -> None:
    # The in-memory backend counts a re-read of one's own pending entries as a delivery, like Redis.
    client = aioredis.Redis.from_url(redis_url)
    stream = names.bars()
    await client.xgroup_create(stream, "g", id="0", mkstream=True)
    entry_id = await client.xadd(stream, {"a": "b"})
    await client.xreadgroup("g", "c", {stream: ">"})
    await client.xreadgroup("g", "c", {stream: "0"})
    (row,) = await client.xpending_range(stream, "g", min="-", max="+", count=10)
    await client.aclose()
    assert row["message_id"] == entry_id and row["times_delivered"] == 2


async def test_handler_when_it_publishes_then_messages_leave_with_the_ack_and_a_failed_try_sends_none(
    bus: Bus,
) -> None:
    source, target = bus.names.bars(), bus.names.intents()
    await bus.publish(source, bar(1))
    await bus.publish(source, bar(2))
    tries: dict[str, int] = {}
    seen_while_handling: list[int] = []  # the target's length after the handler's first publish

    async def forward(message: Message, delivery: Delivery) -> None:
        tries[message.id] = tries.get(message.id, 0) + 1
        await bus.publish(target, intent(tries[message.id]))
        seen_while_handling.append(await bus.length(target))
        await bus.publish(target, intent(10 + tries[message.id]))
        if message.id == "BTC/USDT-2" and tries[message.id] == 1:
            raise RuntimeError("fails once after publishing")

    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume("ml", "ml-1", [source], forward, stop, options=FAST))

    async def both_handled() -> bool:
        (info,) = await bus.group_info("ml", [source])
        return tries.get("BTC/USDT-2") == 2 and info.pending == 0

    await eventually(both_handled, what="bar 2 handled on its second try")
    stop.set()
    await asyncio.wait_for(task, 5)
    entries = await bus.backend.read({target: "0"}, 100, 0.01)
    published = [decode(entry.fields or {}, bus.names.accepted_types(target)).id for entry in entries]
    # bar 1's two intents, in order; bar 2's failed first try published nothing, its second try both
    assert published == ["intent-1", "intent-11", "intent-2", "intent-12"]
    assert seen_while_handling == [0, 2, 2], "a handler's messages wait for its acknowledgement"
