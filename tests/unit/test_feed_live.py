"""The feed running a live provider: settings, freshness, the bar cache, /readyz and the heartbeat."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logos.bus import Bus, decode
from logos.contracts import Bar, ServiceStatus
from logos.data.loading import load_bars
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.feed.bar_cache import BarCache
from services.feed.config import FeedSettings, RetryPolicy
from services.feed.freshness import FreshnessClock
from services.feed.replay import replay_bars
from services.runtime.app import build_app
from tests.support.apps import running
from tests.support.bus_helpers import eventually
from tests.support.recorded_feed import RecordedCcxtFeed
from tests.support.recorded_venues import SESSION_OPEN


def test_settings_when_live_provider_lacks_symbols_then_start_up_refused_saying_what_to_set() -> None:
    with pytest.raises(ValidationError, match="FEED_SYMBOLS"):
        FeedSettings(provider="yfinance")


def test_settings_when_exchange_unknown_or_look_back_too_long_then_refused() -> None:
    with pytest.raises(ValidationError, match="not a ccxt exchange id"):
        FeedSettings(provider="ccxt", symbols=["BTC-USD"], ccxt_exchange="nowhere")
    with pytest.raises(ValidationError, match="lookback_minutes"):
        FeedSettings(provider="yfinance", symbols=["AAPL"], lookback_minutes=31 * 24 * 60)
    with pytest.raises(ValidationError, match="max_seconds"):
        RetryPolicy(initial_seconds=5, max_seconds=1)


def test_settings_when_read_from_environment_then_lists_maps_and_retry_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEED_PROVIDER", "ccxt")
    monkeypatch.setenv("FEED_SYMBOLS", '["BTC-USD","SOL-USD"]')
    monkeypatch.setenv("FEED_CCXT_SYMBOL_MAP", '{"SOL-USD":"SOL/USDT"}')
    monkeypatch.setenv("FEED_RETRY__ATTEMPTS", "2")

    settings = FeedSettings()

    assert settings.symbols == ["BTC-USD", "SOL-USD"] and settings.ccxt_symbol_map == {"SOL-USD": "SOL/USDT"}
    assert settings.retry.attempts == 2 and settings.stale_after_seconds == 180


def test_freshness_when_bar_older_than_stale_after_then_symbol_stale() -> None:
    clock = FreshnessClock(["AAPL", "MSFT"], timedelta(seconds=180), started=SESSION_OPEN)
    clock.observe("AAPL", SESSION_OPEN)  # closed 13:31
    clock.observe("AAPL", SESSION_OPEN - timedelta(minutes=5))  # an older bar changes nothing

    assert clock.stale(SESSION_OPEN + timedelta(minutes=2)) == []
    later = SESSION_OPEN + timedelta(minutes=4, seconds=1)
    assert clock.stale(later) == ["AAPL", "MSFT"]  # MSFT never delivered since polling began
    assert clock.report(later)["AAPL"] == {"last_bar": "2025-06-02T13:30:00+00:00", "age_seconds": 181.0, "stale": True}
    assert clock.problems(later, ignore={"MSFT"}) == [
        "AAPL is stale: last bar 2025-06-02T13:30:00+00:00, 181s old (stale after 180s)"
    ]


def _bar(minute: int, close: str, symbol: str = "BTC-USD") -> Bar:
    price = Decimal(close)
    ts = SESSION_OPEN + timedelta(minutes=minute)
    return Bar(id=f"{symbol}@{ts.isoformat()}", ts=ts, symbol=symbol, open=price, high=price + 1, low=price - 1,
               close=price, volume=Decimal("0.12345"), source="ccxt:binance")  # fmt: skip


def test_cache_when_appended_with_overlap_then_one_replayable_file_with_exact_prices(tmp_path: Path) -> None:
    cache = BarCache(tmp_path / "bars", "ccxt:binance")
    first = [_bar(0, "105110.01"), _bar(0, "2500.10", "ETH-USD"), _bar(1, "105120.50")]
    cache.append(first)
    (path,) = cache.append([_bar(1, "105120.50"), _bar(2, "105130.99")])  # a restart fetches 13:31 again

    assert path == tmp_path / "bars" / "ccxt-binance_20250602_1m.csv"
    assert path.read_text().splitlines()[:2] == [
        "timestamp,symbol,open,high,low,close,volume",
        "2025-06-02T13:30:00Z,BTC-USD,105110.01,105111.01,105109.01,105110.01,0.12345",
    ]
    frames = load_bars(path)
    assert list(frames) == ["BTC-USD", "ETH-USD"] and len(frames["BTC-USD"]) == 3
    replayed = [bar for bar in replay_bars(frames, LogosSettings().symbol_specs(), source="ccxt:binance")]
    assert replayed == sorted([*first, _bar(2, "105130.99")], key=lambda bar: (bar.ts, bar.symbol))


async def _entries(bus: Bus, stream: str) -> list[Any]:
    raw = await bus.backend.read({stream: "0"}, 10_000, 0.01)
    return [decode(entry.fields or {}, bus.names.accepted_types(stream)) for entry in raw]


@pytest.mark.anyio
async def test_feed_when_live_bars_stop_arriving_then_readyz_503_and_stale_symbol_in_status_and_heartbeat(
    isolated_home: Path,
) -> None:
    RecordedCcxtFeed.fake_clock.now = SESSION_OPEN + timedelta(minutes=11, seconds=30)
    settings = FeedSettings(
        logos=LogosSettings(read_block_seconds=0.05),
        heartbeat_seconds=0.1,
        provider="ccxt",
        symbols=["BTC-USD"],
        poll_seconds=0.05,
        lookback_minutes=15,
    )
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build_app(settings, RecordedCcxtFeed, bus)) as client:

        async def published(count: int) -> bool:
            return len(await _entries(bus, bus.names.bars_for("BTC-USD"))) == count

        await eventually(lambda: published(11), what="the recorded closed bars on the bar stream")
        await eventually(lambda: _status_code(client, 200), what="ready while bars are fresh")
        live = (await client.get("/status")).json()["details"]["live"]
        assert live["source"] == "ccxt:binance" and live["counters"]["published"] == 11
        assert live["freshness"]["BTC-USD"] == {"last_bar": "2025-06-02T13:40:00+00:00", "age_seconds": 30.0,
                                                "stale": False}  # fmt: skip

        RecordedCcxtFeed.fake_clock.advance(300)  # 13:46:30; the recording ends with 13:41, which has now closed

        await eventually(lambda: published(12), what="the last recorded bar once it has closed")
        await eventually(lambda: _status_code(client, 503), what="not ready once BTC-USD is stale")
        body = (await client.get("/readyz")).json()
        assert body["redis"] is True and body["worker"] is True
        assert body["problems"] == ["BTC-USD is stale: last bar 2025-06-02T13:41:00+00:00, 270s old (stale after 180s)"]
        status = (await client.get("/status")).json()
        assert status["details"]["live"]["freshness"]["BTC-USD"]["stale"] is True
        assert status["unsafe"] == body["problems"]

        async def stale_heartbeat() -> bool:
            beats = [m for m in await _entries(bus, bus.names.status) if isinstance(m, ServiceStatus)]
            return any(any("BTC-USD is stale" in line for line in beat.warnings) for beat in beats)

        await eventually(stale_heartbeat, what="a heartbeat warning of the stale symbol")
    cached = isolated_home / "data" / "cache" / "bars" / "ccxt-binance_20250602_1m.csv"
    assert len(load_bars(cached)["BTC-USD"]) == 12


async def _status_code(client: Any, code: int) -> bool:
    return bool((await client.get("/readyz")).status_code == code)


@pytest.mark.anyio
async def test_feed_when_bus_down_while_polling_then_bars_published_once_it_returns() -> None:
    RecordedCcxtFeed.fake_clock.now = SESSION_OPEN + timedelta(minutes=11, seconds=30)
    settings = FeedSettings(
        logos=LogosSettings(read_block_seconds=0.05), provider="ccxt", symbols=["BTC-USD"], poll_seconds=0.05
    )
    bus = Bus.memory(StreamNames(prefix="unit"))
    bus.backend.available = False  # type: ignore[attr-defined]
    async with running(build_app(settings, RecordedCcxtFeed, bus)) as client:
        await eventually(lambda: _status_code(client, 503), what="not ready without the bus")
        await asyncio.sleep(0.3)  # polls happen meanwhile; publishing waits
        bus.backend.available = True  # type: ignore[attr-defined]

        async def all_published() -> bool:
            bars = await _entries(bus, bus.names.bars_for("BTC-USD"))
            return [bar.ts.minute for bar in bars] == list(range(30, 41))

        await eventually(all_published, what="every closed bar, once, after the outage")
