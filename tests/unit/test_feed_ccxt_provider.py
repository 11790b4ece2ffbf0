"""The ccxt provider against recorded Binance responses, through ccxt's own request and parsing code."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import requests

from logos.data.fixtures import fixture_catalog
from logos.symbols import SpecCatalog
from services.feed.config import RetryPolicy
from services.feed.providers.exchange import CcxtProvider, exchange_symbol
from tests.support.recorded_http import RecordedServer, Reply, recorded
from tests.support.recorded_venues import (
    SESSION_OPEN,
    FakeClock,
    binance_exchange,
    binance_klines,
    binance_server,
    klines_since,
)

FAST_RETRY = RetryPolicy(attempts=3, initial_seconds=0.001, max_seconds=0.002)
SYMBOL_MAP = {"BTC-USD": "BTC/USDT", "ETH-USD": "ETH/USDT"}


def provider(
    server: RecordedServer, clock: FakeClock, symbols: list[str] | None = None, **options: object
) -> CcxtProvider:
    return CcxtProvider(
        exchange=binance_exchange(server),
        symbols=symbols or ["BTC-USD"],
        specs=SpecCatalog(fixture_catalog()),
        lookback=timedelta(minutes=15),
        retry=FAST_RETRY,
        symbol_map=SYMBOL_MAP,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def test_poll_when_candles_recorded_then_closed_bars_published_as_exact_decimals() -> None:
    server = binance_server()
    clock = FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30))  # 13:41:30, the 13:41 candle is forming
    feed = provider(server, clock)

    bars = feed.poll()

    assert [bar.ts.strftime("%H:%M") for bar in bars] == [f"13:{minute}" for minute in range(30, 41)]
    first = bars[0]
    assert (
        first.symbol == "BTC-USD" and first.source == "ccxt:binance" and first.id == "BTC-USD@2025-06-02T13:30:00+00:00"
    )
    assert (first.open, first.high, first.low, first.close) == (
        Decimal("105110.00"),
        Decimal("105127.32"),
        Decimal("105104.88"),
        Decimal("105120.01"),
    )
    assert first.volume == Decimal("12.48211")
    assert feed.counters.still_forming == 1 and feed.counters.published == 11
    assert {call.params["symbol"] for call in server.calls_to("/api/v3/klines")} == {"BTCUSDT"}


def test_poll_when_gap_longer_than_a_page_then_pages_forward_by_since() -> None:
    server = binance_server()
    clock = FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30))
    feed = provider(server, clock, page_size=5)

    bars = feed.poll()

    starts = [int(call.params["startTime"]) for call in server.calls_to("/api/v3/klines")]
    minute = 60_000
    opening = int(SESSION_OPEN.timestamp() * 1000)
    assert starts == [opening - 4 * minute, opening + 5 * minute, opening + 10 * minute]
    assert all(call.params["limit"] == "5" for call in server.calls_to("/api/v3/klines"))
    assert len(bars) == 11


def test_poll_when_polls_overlap_then_each_bar_published_once() -> None:
    server = binance_server()
    klines = binance_klines()
    server.route("/api/v3/klines", Reply.ok(klines))  # a venue that ignores startTime sends old candles again
    clock = FakeClock(SESSION_OPEN + timedelta(minutes=8, seconds=30))
    feed = provider(server, clock)

    early = feed.poll()
    clock.advance(180)
    late = feed.poll()
    again = feed.poll()

    assert [bar.ts.minute for bar in early] == list(range(30, 38))
    assert [bar.ts.minute for bar in late] == [38, 39, 40]
    assert again == []
    assert len({bar.id for bar in early + late}) == 11 and feed.counters.published == 11
    second_start = int(server.calls_to("/api/v3/klines")[1].params["startTime"])
    assert second_start == int((SESSION_OPEN + timedelta(minutes=8)).timestamp() * 1000)


def test_poll_when_a_row_is_invalid_then_it_is_rejected_counted_and_the_rest_published() -> None:
    klines = binance_klines()
    klines[3][2], klines[3][3] = klines[3][3], klines[3][2]  # high below low
    server = binance_server(klines)
    feed = provider(server, FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30)))

    bars = feed.poll()

    assert len(bars) == 10 and "13:33" not in {bar.ts.strftime("%H:%M") for bar in bars}
    assert feed.counters.rejected == 1
    assert feed.last_rejection is not None and feed.last_rejection.startswith("BTC-USD@2025-06-02T13:33:00")
    assert "below low" in feed.last_rejection


def test_poll_when_rate_limited_and_connection_lost_then_retried_until_it_passes() -> None:
    server = binance_server()
    server.route_sequence(
        "/api/v3/klines",
        [
            Reply(429, recorded("binance_error_too_many_requests.json")),
            requests.ConnectionError("Connection reset by peer"),
            Reply.ok(binance_klines()),
        ],
    )
    feed = provider(server, FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30)))

    bars = feed.poll()

    assert len(server.calls_to("/api/v3/klines")) == 3
    assert feed.counters.retries == 2 and feed.counters.transient_failures == 0
    assert len(bars) == 11


def test_poll_when_transient_errors_outlast_the_retries_then_symbol_tried_again_next_poll() -> None:
    server = binance_server()
    server.route("/api/v3/klines", Reply(503, "<html>Service Unavailable</html>"))
    clock = FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30))
    feed = provider(server, clock)

    assert feed.poll() == []
    assert len(server.calls_to("/api/v3/klines")) == FAST_RETRY.attempts
    assert feed.counters.transient_failures == 1 and feed.skipped == {}

    server.route("/api/v3/klines", lambda call: Reply.ok(klines_since(binance_klines(), call)))
    assert len(feed.poll()) == 11


def test_poll_when_symbol_unknown_or_refused_then_reported_once_and_skipped_without_retry() -> None:
    server = binance_server()
    server.route(
        "/api/v3/klines",
        lambda call: (
            Reply(400, recorded("binance_error_invalid_symbol.json"))
            if call.params["symbol"] == "ETHUSDT"
            else Reply.ok(klines_since(binance_klines(), call))
        ),
    )
    clock = FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30))
    feed = provider(server, clock, symbols=["BTC-USD", "ETH-USD", "DOGE-USD"])

    bars = feed.poll()
    clock.advance(60)
    later = feed.poll()

    assert {bar.symbol for bar in bars + later} == {"BTC-USD"}
    assert set(feed.skipped) == {"ETH-USD", "DOGE-USD"}
    assert feed.skipped["ETH-USD"].startswith("BadSymbol") and "Invalid symbol" in feed.skipped["ETH-USD"]
    assert feed.skipped["DOGE-USD"] == "BadSymbol: binance does not have market symbol DOGE/USD"
    eth_calls = [call for call in server.calls_to("/api/v3/klines") if call.params["symbol"] == "ETHUSDT"]
    assert len(eth_calls) == 1 and feed.counters.retries == 0 and feed.counters.permanent_failures == 2
    assert feed.describe()["skipped_symbols"] == feed.skipped


def test_exchange_symbol_when_mapped_or_not_then_map_wins_and_dash_becomes_slash() -> None:
    assert exchange_symbol("BTC-USD", SYMBOL_MAP) == "BTC/USDT"
    assert exchange_symbol("SOL-EUR", SYMBOL_MAP) == "SOL/EUR"
    assert exchange_symbol("SOL/USDC", {}) == "SOL/USDC"
