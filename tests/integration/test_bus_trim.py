"""Trimming never drops an entry a group has not acknowledged; a gap someone else made halts and is loud."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from logos.bus import Bus, ConsumerOptions, ConsumerStats, Delivery, Handler, encode
from logos.contracts import Message, TradingState
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.ml.worker import MLWorker
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from tests.support.apps import running
from tests.support.bus_helpers import eventually
from tests.support.redis_process import RedisProcess
from tests.support.risk_sessions import bar

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
FAST = ConsumerOptions(batch_size=100, block_seconds=0.05, max_deliveries=3, reclaim_idle_seconds=5)
ENTRIES = 20_000
MAXLEN = 1_000
SLACK = 200  # Redis trims whole macro nodes of 100 entries: a trimmed stream stays a little above maxlen
START = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


@pytest.fixture(params=["redis", "memory"])
async def bus(request: pytest.FixtureRequest, names: StreamNames) -> AsyncIterator[Bus]:
    options = {"maxlen": MAXLEN, "hard_maxlen": 100 * MAXLEN, "trim_seconds": 0.05}
    if request.param == "redis":
        instance = Bus.redis(request.getfixturevalue("redis_url"), names, block_seconds=0.05, **options)
    else:
        instance = Bus.memory(names, **options)
    yield instance
    await instance.close()


def settings(redis_url: str, names: StreamNames, **extra: object) -> LogosSettings:
    return LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05, **extra)  # type: ignore[arg-type]


async def test_publish_when_maxlen_small_and_a_group_slow_then_every_entry_handled_by_every_group(bus: Bus) -> None:
    stream = bus.names.bars()
    seen: dict[str, set[str]] = {"ml": set(), "risk": set(), "executor": set()}
    stats = {group: ConsumerStats() for group in seen}
    longest = 0

    def recorder(group: str) -> Handler:
        async def handle(message: Message, delivery: Delivery) -> None:
            seen[group].add(message.id)
            if group == "ml" and len(seen[group]) % 10 == 0:
                await asyncio.sleep(0.002)  # the slow group falls thousands of entries behind

        return handle

    stop = asyncio.Event()
    for group in seen:
        await bus.backend.ensure_group(stream, group)
    tasks = [
        asyncio.create_task(
            bus.consume(group, f"{group}-1", [stream], recorder(group), stop, options=FAST, stats=stats[group])
        )
        for group in seen
    ]
    for index in range(ENTRIES):
        await bus.publish(stream, bar("AAPL", START + timedelta(minutes=index)))
        if index % 1000 == 0:
            longest = max(longest, await bus.length(stream))

    async def all_handled() -> bool:
        return all(len(ids) == ENTRIES for ids in seen.values())

    await eventually(all_handled, timeout=120, what="every group to handle every entry")
    longest = max(longest, await bus.length(stream))

    async def bounded() -> bool:
        return await bus.length(stream) <= MAXLEN + SLACK

    await eventually(bounded, timeout=10, what="the stream trimmed back once the groups caught up")
    stop.set()
    await asyncio.gather(*tasks)
    assert longest > MAXLEN + SLACK  # the slow group held the trim back while it was behind
    assert all(s.trimmed_before_handled == 0 for s in stats.values())
    infos = await bus.group_info("ml", [stream])
    assert infos[0].lost() == 0 and infos[0].behind() == 0


async def test_trim_when_no_group_reads_the_stream_then_cut_to_maxlen(bus: Bus) -> None:
    stream = bus.names.bars()  # no group yet: nothing to wait for
    for index in range(3 * MAXLEN):
        await bus.publish(stream, bar("AAPL", START + timedelta(minutes=index)))

    async def bounded() -> bool:
        return await bus.length(stream) <= MAXLEN + SLACK

    await eventually(bounded, timeout=10, what="a stream no group reads trimmed to maxlen")


async def test_dead_letters_when_many_then_dead_letter_stream_stays_bounded(bus: Bus) -> None:
    stream = bus.names.bars()
    stats = ConsumerStats()
    stop = asyncio.Event()
    await bus.backend.ensure_group(stream, "ml")

    async def never_called(message: Message, delivery: Delivery) -> None:
        raise AssertionError("an invalid entry reached the handler")

    task = asyncio.create_task(bus.consume("ml", "ml-1", [stream], never_called, stop, options=FAST, stats=stats))
    for index in range(MAXLEN + 500):
        await bus.backend.add(stream, {"type": "bar", "v": "1", "body": f"not json {index} " + "x" * 5000}, 10**6)

    async def all_dead() -> bool:
        return stats.dead_lettered == MAXLEN + 500

    await eventually(all_dead, timeout=60, what="every invalid entry dead-lettered")
    stop.set()
    await task
    assert await bus.length(bus.names.dlq) <= MAXLEN + SLACK


async def test_planted_gap_when_another_group_lost_entries_then_risk_halts_stream_gap_not_ready_one_loud_line(
    redis_url: str, names: StreamNames, capsys: pytest.CaptureFixture[str]
) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    stream = names.bars()
    bus = Bus.redis(redis_url, names)
    await bus.backend.ensure_group(stream, "executor")  # a group that has read nothing yet
    await bus.close()
    risk = RiskSettings(logos=settings(redis_url, names), heartbeat_seconds=0.1)  # type: ignore[call-arg]
    async with running(risk_app(risk)) as api:
        assert (await api.get("/readyz")).status_code in (200, 503)
        for index in range(50):
            await client.xadd(stream, encode(bar("AAPL", START + timedelta(minutes=index))))  # type: ignore[arg-type]
        ids = [entry_id for entry_id, _ in await client.xrange(stream)]
        await client.xtrim(
            stream, minid=ids[20], approximate=False
        )  # 20 entries the executor's group never read are gone

        async def halted() -> bool:
            return (await api.get("/status")).json()["details"]["trading_state"] == "halted"

        await eventually(halted, timeout=10, what="risk halted by the gap")
        ready = await api.get("/readyz")
        status = (await api.get("/status")).json()
        await asyncio.sleep(0.5)  # several more heartbeats: still one loud line
    await client.aclose()
    assert ready.status_code == 503
    assert any(problem.startswith(f"stream_gap: 20 entries of {stream}") for problem in ready.json()["problems"])
    assert status["details"]["recent_events"][-1]["cause"] == "stream_gap"
    assert status["details"]["trading_state"] == TradingState.HALTED.value
    loud = [line for line in capsys.readouterr().err.splitlines() if "CRITICAL" in line and "stream_gap" in line]
    assert len(loud) == 1 and f"20 entries of {stream}" in loud[0] and "group executor" in loud[0]


async def test_planted_gap_when_own_group_lost_entries_then_ml_not_ready(
    redis_url: str, names: StreamNames, capsys: pytest.CaptureFixture[str]
) -> None:
    bus = Bus.redis(redis_url, names, block_seconds=0.05)
    stream = names.bars()
    await bus.backend.ensure_group(stream, "ml")
    for index in range(50):
        await bus.publish(stream, bar("AAPL", START + timedelta(minutes=index)))
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    ids = [entry_id for entry_id, _ in await client.xrange(stream)]
    await client.xtrim(stream, minid=ids[20], approximate=False)
    ml = MLSettings(logos=settings(redis_url, names), heartbeat_seconds=0.1)  # type: ignore[call-arg]
    async with running(ml_app(ml)) as api:

        async def not_ready() -> bool:
            return (await api.get("/readyz")).status_code == 503

        await eventually(not_ready, timeout=10, what="ml not ready after the gap")
        problems = (await api.get("/readyz")).json()["problems"]
        status = (await api.get("/status")).json()
    await client.aclose()
    await bus.close()
    assert problems == [f"stream_gap: 20 entries of {stream} were trimmed before group ml read them"]
    (bars,) = [load for load in status["consumers"][0]["streams"] if load["stream"] == stream]
    assert bars["lost"] == 20 and bars["lag"] == 0
    loud = [line for line in capsys.readouterr().err.splitlines() if "CRITICAL" in line and "stream_gap" in line]
    assert len(loud) == 1 and f"20 entries of {stream}" in loud[0] and "group ml" in loud[0]


async def test_lag_when_above_max_lag_then_not_ready_until_caught_up(
    redis_url: str, names: StreamNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()

    async def held(self: MLWorker, message: Message, delivery: Delivery) -> None:
        await release.wait()

    monkeypatch.setattr(MLWorker, "handle", held)
    bus = Bus.redis(redis_url, names, block_seconds=0.05)
    ml = MLSettings(logos=settings(redis_url, names, batch_size=1, max_lag=5), heartbeat_seconds=0.1)  # type: ignore[call-arg]
    async with running(ml_app(ml)) as api:
        for index in range(30):
            await bus.publish(names.bars(), bar("AAPL", START + timedelta(minutes=index)))

        async def lagging() -> bool:
            return (await api.get("/readyz")).status_code == 503

        await eventually(lagging, timeout=10, what="ml not ready while behind")
        problems = (await api.get("/readyz")).json()["problems"]
        release.set()

        async def ready() -> bool:
            return (await api.get("/readyz")).status_code == 200

        await eventually(ready, timeout=10, what="ml ready once caught up")
    await bus.close()
    assert any(p.startswith("lag: group ml is ") and "(LOGOS_MAX_LAG 5)" in p for p in problems)


async def test_redis_restart_when_read_counts_are_reset_then_no_loss_shown_and_a_later_gap_still_is(
    tmp_path: Path, names: StreamNames
) -> None:
    # Redis 7.0 forgets a group's entries-read over an AOF restart; the raw lag then counts the whole
    # history as unread, which would read as entries lost
    server = RedisProcess(tmp_path / "redis").start()
    try:
        bus = Bus.redis(server.url, names, block_seconds=0.05, maxlen=MAXLEN, trim_seconds=3600)
        stream = names.bars()
        await bus.backend.ensure_group(stream, "ml")
        for index in range(50):
            await bus.publish(stream, bar("BTC-USD", START + timedelta(minutes=index)))
        read = await bus.backend.read_group("ml", "ml-1", {stream: ">"}, 30, 0)
        for entry in read:
            await bus.backend.ack(stream, "ml", entry.entry_id)
        (info,) = await bus.group_info("ml", [stream])
        assert (info.lag, info.lost()) == (20, 0)
        await bus.close()
        server.restart()
        bus = Bus.redis(server.url, names, block_seconds=0.05, maxlen=MAXLEN, trim_seconds=3600)
        raw = aioredis.Redis.from_url(server.url)
        for entry in await bus.backend.read_group("ml", "ml-1", {stream: ">"}, 5, 0):  # counts again from 0
            await bus.backend.ack(stream, "ml", entry.entry_id)
        (group,) = await raw.xinfo_groups(stream)
        (info,) = await bus.group_info("ml", [stream])
        assert (info.lag, info.lost(), info.behind()) == (15, 0, 15), group
        (again,) = await bus.group_info("ml", [stream])
        assert again.lag == 15  # the correction is kept, not recomputed from scratch
        # entries trimmed unread after the restart still show as lost
        remaining = [entry_id for entry_id, _ in await raw.xrange(stream, count=100)]
        await raw.xtrim(stream, minid=remaining[-5], approximate=False)
        (gapped,) = await bus.group_info("ml", [stream])
        assert (gapped.lag, gapped.lost()) == (15, 10), gapped
        await raw.aclose()
        await bus.close()
    finally:
        server.stop()
