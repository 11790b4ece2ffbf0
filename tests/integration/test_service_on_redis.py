"""Service shells on a real Redis: hand-written garbage is dead-lettered; a Redis restart is survived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from logos.bus import Bus, decode
from logos.contracts import DeadLetter, Order, OrderDenied
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.brain.app import create_app as brain_app
from services.brain.config import BrainSettings
from services.executor.app import create_app as executor_app
from services.executor.config import ExecutorSettings
from services.feed.app import create_app as feed_app
from services.feed.config import FeedSettings
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from tests.support.apps import running
from tests.support.bus_helpers import eventually, intent
from tests.support.redis_process import RedisProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def settings_for(redis_url: str, names: StreamNames, shards: int = 1) -> LogosSettings:
    return LogosSettings(
        redis_url=redis_url,  # type: ignore[arg-type]
        stream_prefix=names.prefix,
        shards=shards,
        read_block_seconds=0.05,
        reclaim_idle_seconds=0.2,
        max_deliveries=3,
    )


# Every service and every stream it consumes; a ":1" shard runs with two shards per topic.
CONSUMED: list[tuple[Any, Any, str]] = [
    (feed_app, FeedSettings, "control"),
    (ml_app, MLSettings, "bars:0"),
    (ml_app, MLSettings, "bars:1"),
    (ml_app, MLSettings, "account"),
    (risk_app, RiskSettings, "intents:0"),
    (risk_app, RiskSettings, "intents:1"),
    (risk_app, RiskSettings, "bars:0"),
    (risk_app, RiskSettings, "bars:1"),
    (risk_app, RiskSettings, "fills"),
    (risk_app, RiskSettings, "account"),
    (risk_app, RiskSettings, "control"),
    (executor_app, ExecutorSettings, "orders"),
    (executor_app, ExecutorSettings, "bars:0"),
    (executor_app, ExecutorSettings, "bars:1"),
    (executor_app, ExecutorSettings, "control"),
    (brain_app, BrainSettings, "signals"),
    (brain_app, BrainSettings, "status"),
]


@pytest.mark.parametrize(
    ("factory", "settings_class", "topic"), CONSUMED, ids=[f"{c[1].__name__[:-8].lower()}-{c[2]}" for c in CONSUMED]
)
async def test_malformed_entry_when_xadded_by_hand_then_dead_lettered_and_service_stays_ready(
    redis_url: str, names: StreamNames, factory: Any, settings_class: Any, topic: str
) -> None:
    shards = 2 if topic.endswith(":1") else 1
    settings = settings_class(logos=settings_for(redis_url, names, shards), heartbeat_seconds=0.2)
    app: FastAPI = factory(settings)
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    stream = f"{names.prefix}:{topic}"
    async with running(app) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, what="service ready")
        await raw.xadd(stream, {"type": "bar", "v": "1", "body": "{not json"})
        await raw.xadd(stream, {"garbage": "\xff"})

        async def two_dead() -> bool:
            return int(await raw.xlen(names.dlq)) == 2

        await eventually(two_dead, what="two dead letters")
        assert await ready() and app.state.worker.running()
        status = (await client.get("/status")).json()
        assert status["dead_letter_stream_length"] == 2
        assert sum(consumer["dead_lettered"] for consumer in status["consumers"]) == 2
    letters = [decode(fields, frozenset({"dead_letter"})) for _, fields in await raw.xrange(names.dlq)]
    await raw.aclose()
    assert all(isinstance(letter, DeadLetter) and letter.source_stream == stream for letter in letters)
    reasons = [letter.reason for letter in letters if isinstance(letter, DeadLetter)]
    assert any("body is not a valid bar" in reason or "does not belong" in reason for reason in reasons)
    assert any("missing field" in reason for reason in reasons)


async def test_redis_when_restarted_then_service_reconnects_and_loses_no_entry(
    tmp_path: Path, names: StreamNames
) -> None:
    server = RedisProcess(tmp_path / "redis").start()
    settings = RiskSettings(logos=settings_for(server.url, names), heartbeat_seconds=0.2)  # type: ignore[call-arg]
    publisher = Bus.redis(server.url, names, publish_timeout_seconds=20)
    try:
        async with running(risk_app(settings)) as client:

            async def readyz(code: int) -> bool:
                return (await client.get("/readyz")).status_code == code

            async def denials(count: int) -> bool:
                try:
                    return await publisher.length(names.orders) == count
                except ConnectionError:
                    return False

            await eventually(lambda: readyz(200), what="ready")
            for index in range(20):
                await publisher.publish(names.intents(), intent(index))
            await eventually(lambda: denials(20), what="20 denials")

            server.stop()
            await eventually(lambda: readyz(503), what="503 while Redis is down")
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/status")).json()["redis"]["reachable"] is False

            server.start()  # same port, same directory: the AOF brings the streams and groups back
            await eventually(lambda: readyz(200), timeout=20, what="ready again without a restart")
            for index in range(20, 40):
                await publisher.publish(names.intents(), intent(index))
            await eventually(lambda: denials(40), timeout=20, what="40 denials")
            raw = await publisher.backend.read({names.orders: "0"}, 1000, 0.01)
            decided = [decode(entry.fields or {}, frozenset({"order", "order_denied"})) for entry in raw]
            assert sorted(d.intent_id for d in decided if isinstance(d, Order | OrderDenied)) == sorted(
                f"intent-{index}" for index in range(40)
            )
            status = (await client.get("/status")).json()
            assert status["consumers"][0]["reconnects"] >= 1

            async def nothing_pending() -> bool:
                loads = (await client.get("/status")).json()["consumers"][0]["streams"]
                return all(load["pending"] == 0 for load in loads)

            await eventually(nothing_pending, what="every entry acknowledged")
    finally:
        await publisher.close()
        server.stop()


async def test_publish_when_redis_down_briefly_then_waits_and_succeeds(tmp_path: Path, names: StreamNames) -> None:
    import asyncio

    server = RedisProcess(tmp_path / "redis").start()
    bus = Bus.redis(server.url, names, publish_timeout_seconds=20)
    try:
        await bus.publish(names.intents(), intent(1))
        server.stop()
        pending = asyncio.create_task(bus.publish(names.intents(), intent(2)))
        await asyncio.sleep(0.5)
        assert not pending.done()
        server.start()
        await asyncio.wait_for(pending, 20)
        assert await bus.length(names.intents()) == 2
    finally:
        await bus.close()
        server.stop()
