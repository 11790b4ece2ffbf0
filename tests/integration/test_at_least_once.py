"""A consumer killed mid-batch loses nothing: another consumer of the group reclaims its entries."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
import redis

from logos.bus import Bus
from logos.streams import StreamNames
from tests.support.bus_helpers import bar

ENTRIES = 200


def consumer(redis_url: str, prefix: str, name: str, die_after: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.support.effect_consumer", redis_url, prefix, name, str(die_after)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_consumer_when_killed_mid_batch_then_survivor_handles_every_entry_once_in_effect(
    redis_url: str, names: StreamNames
) -> None:
    async def publish() -> None:
        bus = Bus.redis(redis_url, names)
        for index in range(ENTRIES):
            await bus.publish(names.bars(), bar(index))
        await bus.close()

    asyncio.run(publish())
    client = redis.Redis.from_url(redis_url)
    doomed = consumer(redis_url, names.prefix, "ml-a", die_after=7)
    assert doomed.wait(timeout=30) == -9, doomed.stderr.read() if doomed.stderr else ""
    # ml-a died holding a batch: the entry it applied but never acknowledged, and those after it
    pending_before = client.xpending(names.bars(), "ml")["pending"]
    assert pending_before > 1
    survivor = consumer(redis_url, names.prefix, "ml-b", die_after=0)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (
                client.xpending(names.bars(), "ml")["pending"] == 0
                and client.scard(f"{names.prefix}:applied") == ENTRIES
            ):
                break
            time.sleep(0.1)
    finally:
        survivor.kill()
        survivor.wait()
    assert client.scard(f"{names.prefix}:applied") == ENTRIES
    assert int(client.get(f"{names.prefix}:effects") or 0) == ENTRIES
    counts = [int(client.get(f"{names.prefix}:effect:BTC/USDT-{index}") or 0) for index in range(ENTRIES)]
    assert counts == [1] * ENTRIES
    calls_b = int(client.get(f"{names.prefix}:calls:ml-b") or 0)
    calls_a = int(client.get(f"{names.prefix}:calls:ml-a") or 0)
    assert calls_a == 7
    # the survivor re-handled the one entry ml-a applied but never acknowledged
    assert calls_a + calls_b == ENTRIES + 1
    assert client.xlen(names.dlq) == 0
    client.close()


pytestmark = pytest.mark.integration
