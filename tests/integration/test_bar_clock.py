"""A bar from the future is refused by every bar consumer and blinds nothing; repeated bars are counted."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from logos.bus import Bus, decode
from logos.contracts import AccountSnapshot, Bar, DeadLetter, Message
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.executor.app import create_app as executor_app
from services.executor.config import ExecutorSettings
from services.feed.app import create_app as feed_app
from services.feed.config import FeedSettings
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from tests.support.apps import running
from tests.support.bus_helpers import eventually
from tests.support.risk_sessions import bar

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


async def test_bar_dated_2099_when_published_then_refused_by_ml_risk_executor_and_later_bars_still_move_the_mark(
    redis_url: str, names: StreamNames
) -> None:
    logos = LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)  # type: ignore[arg-type]
    bus = Bus.redis(redis_url, names, block_seconds=0.05)
    pipeline = [names.bars(), names.intents(), names.orders, names.fills, names.account]
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    async def send(message: Bar) -> None:
        await bus.publish(names.bars(), message)
        assert await bus.wait_until_quiet(pipeline, timeout_seconds=30, poll_seconds=0.01)

    async with AsyncExitStack() as stack:
        apps: dict[str, httpx.AsyncClient] = {}
        for name, app in (
            ("executor", executor_app(ExecutorSettings(logos=logos, session_id="clock", heartbeat_seconds=0.1))),  # type: ignore[call-arg]
            ("risk", risk_app(RiskSettings(logos=logos, heartbeat_seconds=0.1))),  # type: ignore[call-arg]
            ("ml", ml_app(MLSettings(logos=logos, heartbeat_seconds=0.1))),  # type: ignore[call-arg]
        ):
            apps[name] = await stack.enter_async_context(running(app))
        workers = {name: client._transport.app.state.worker for name, client in apps.items()}  # type: ignore[attr-defined]
        await send(bar("AAPL", now - timedelta(minutes=10), "104"))
        await send(bar("AAPL", FUTURE, "104"))
        await send(bar("AAPL", now - timedelta(minutes=9), "90"))
        await send(bar("AAPL", now - timedelta(minutes=9), "90"))  # the same bar again: counted, harmless
        statuses = {name: (await client.get("/status")).json() for name, client in apps.items()}

    letters = [m for m in await _all(bus, names.dlq) if isinstance(m, DeadLetter)]
    snapshots = [m for m in await bus.history(names.account, "risk", 100) if isinstance(m, AccountSnapshot)]
    await bus.close()
    assert sorted(letter.group for letter in letters) == ["executor", "ml", "risk"]
    assert all(letter.reason.startswith("bar refused: AAPL 2099-01-01") for letter in letters)
    assert workers["risk"].engine.marks["AAPL"] == Decimal("90")  # the real bar after it moved the mark
    assert workers["risk"].data_time is None or workers["risk"].data_time < FUTURE
    assert workers["executor"].engine.paper_broker.last_bar["AAPL"].ts == now - timedelta(minutes=9)
    assert snapshots[-1].bar_ts == now - timedelta(minutes=9)
    assert all(s.bar_ts is None or s.bar_ts < FUTURE for s in snapshots)
    for status in statuses.values():
        assert status["bars"]["refused"] == {"AAPL": {"future": 1}}
        assert status["bars"]["non_monotonic"] == {"AAPL": {"duplicate": 1}}


async def test_replay_when_data_holds_a_future_bar_and_an_outlier_then_feed_publishes_neither(
    tmp_path: Path, names: StreamNames
) -> None:
    rows = ["timestamp,symbol,open,high,low,close,volume"]
    moments = [f"2024-01-01T00:0{minute}:00Z" for minute in range(6)] + ["2024-09-01T00:00:00Z", "2099-01-01T00:00:00Z"]
    rows += [f"{moment},BTC-USD,100,101,99,100,1" for moment in moments]
    data = tmp_path / "bars.csv"
    data.write_text("\n".join(rows) + "\n")
    settings = FeedSettings(  # type: ignore[call-arg]
        logos=LogosSettings(stream_prefix=names.prefix, read_block_seconds=0.05, replay_window=0),
        heartbeat_seconds=0.1,
        provider="replay",
        replay_data=data,
        replay_groups=[],
    )
    bus = Bus.memory(names)
    async with running(feed_app(settings, bus)) as client:

        async def finished() -> bool:
            return bool((await client.get("/status")).json()["details"]["replay_finished"])

        await eventually(finished, what="the replay to finish")
        details = (await client.get("/status")).json()["details"]
    published = [m for m in await _all(bus, names.bars_for("BTC-USD")) if isinstance(m, Bar)]
    await bus.close()
    assert [b.ts.isoformat() for b in published][-1] == "2024-01-01T00:05:00+00:00"
    assert len(published) == 6 and details["replay_refused"] == 2


async def _all(bus: Bus, stream: str) -> list[Message]:
    entries = await bus.backend.read({stream: "0"}, 10_000, 0.01)
    return [decode(entry.fields or {}, bus.names.accepted_types(stream)) for entry in entries]
