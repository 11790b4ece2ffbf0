"""A long session over Redis restarts from its snapshot: it reads only the tail of state.jsonl and is the same session.

The executor consumes bars and risk-signed orders from a real Redis; after a couple of thousand
events its session directory is copied as a crash would leave it, and a new executor started on
the copy (same streams, same group) restores from snapshot.json plus the few events after it,
with the same cash, positions and working orders as the one that kept running.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from logos.auth import Authenticator
from logos.bus import Bus
from logos.contracts import Bar, Order
from logos.secrets import ORDERS_KEY
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.executor.config import ExecutorSettings
from services.executor.worker import ExecutorWorker

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
SESSION = "long"
SYMBOLS = [f"S{index:02d}" for index in range(20)]
T0 = datetime(2024, 2, 5, 14, 30, tzinfo=UTC)


def _settings(home: Path, redis_url: str, names: StreamNames) -> ExecutorSettings:
    logos = LogosSettings(home=home, redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)
    return ExecutorSettings(logos=logos, session_id=SESSION, snapshot_events=200)


async def _wait_for_bars(worker: ExecutorWorker, bars: int) -> None:
    for _ in range(3000):
        if worker.recorder.bars >= bars:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the executor handled {worker.recorder.bars} of {bars} bars")


async def test_executor_when_restarted_after_long_session_then_reads_snapshot_and_tail_only(
    redis_url: str, names: StreamNames, isolated_home: Path, tmp_path: Path
) -> None:
    settings = _settings(isolated_home, redis_url, names)
    worker = ExecutorWorker(settings, Bus.redis(redis_url, names, block_seconds=0.05))
    store = settings.logos.secrets
    risk = Bus.redis(redis_url, names).with_authenticator(
        Authenticator.from_store(names, store, "risk", [ORDERS_KEY], [])
    )
    await worker.start()
    minutes = 110
    for minute in range(minutes):
        ts = T0 + timedelta(minutes=minute)
        for index, symbol in enumerate(SYMBOLS):
            price = Decimal(50 + (minute + index) % 5)
            bar = Bar(id=f"b|{symbol}|{minute}", ts=ts, symbol=symbol, open=price, high=price + 1, low=price - 1,
                      close=price, volume=Decimal(1000), source="test")  # fmt: skip
            await risk.publish(names.bars_for(symbol), bar)
            if (minute + index) % 10 in (0, 4):
                target = Decimal(3) if (minute + index) % 10 == 0 else Decimal(0)
                order = Order(id=f"d|{symbol}|{minute}", ts=ts, intent_id=f"i|{symbol}|{minute}", symbol=symbol,
                              target_quantity=target, reference_price=price, strategy="test")  # fmt: skip
                await _wait_for_bars(worker, minute * len(SYMBOLS) + index + 1)  # the order after its bar
                await risk.publish(names.orders, order)
    await _wait_for_bars(worker, minutes * len(SYMBOLS))
    assert await risk.wait_until_quiet([names.orders, *names.all_bars()], timeout_seconds=30)
    crashed = tmp_path / "crashed"
    shutil.copytree(isolated_home, crashed, symlinks=True)  # the files as a kill -9 now would leave them
    alive = worker.details()
    await worker.stop()

    directory = crashed / "runs" / "live" / "sessions" / SESSION
    snapshot = json.loads((directory / "snapshot.json").read_text())
    restarted = ExecutorWorker(_settings(crashed, redis_url, names), Bus.redis(redis_url, names, block_seconds=0.05))

    assert restarted.restored == worker.recorder.events > 2000
    assert restarted.recorder.last_read == {"snapshot": True, "offset": snapshot["log_offset"],
                                            "events": restarted.restored - snapshot["events"]}  # fmt: skip
    assert restarted.recorder.last_read["events"] < 200 + 3  # never more than one snapshot interval behind
    again = restarted.details()
    for key in ("cash", "positions", "fills", "working_orders", "bars"):
        assert again[key] == alive[key], key
    assert alive["fills"] > 100
