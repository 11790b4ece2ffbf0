"""The yfinance provider against recorded Yahoo chart responses, through yfinance's own request and parsing code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
import requests
from yfinance.data import YfData

from logos.data.fixtures import fixture_catalog
from logos.symbols import SpecCatalog
from services.feed.config import RetryPolicy
from services.feed.providers.yahoo import MAX_AGE, MAX_WINDOW, YfinanceProvider, yahoo_windows
from tests.support.recorded_http import RecordedServer, Reply
from tests.support.recorded_venues import SESSION_OPEN, FakeClock, yahoo_chart, yahoo_server, yahoo_session

FAST_RETRY = RetryPolicy(attempts=3, initial_seconds=0.001, max_seconds=0.002)
MINUTE_REQUESTS = "/v8/finance/chart/AAPL"


@pytest.fixture(autouse=True)
def fresh_yfinance() -> Iterator[None]:
    """yfinance memoizes responses of past windows process-wide; each test starts without them."""
    YfData.cache_get.cache_clear()
    yield
    YfData.cache_get.cache_clear()


def provider(
    server: RecordedServer, clock: FakeClock, tmp_path: Path, symbols: list[str] | None = None, minutes: int = 15
) -> YfinanceProvider:
    return YfinanceProvider(
        symbols=symbols or ["AAPL"],
        specs=SpecCatalog(fixture_catalog()),
        lookback=timedelta(minutes=minutes),
        retry=FAST_RETRY,
        session=yahoo_session(server),
        cache_dir=tmp_path / "yfinance",
        clock=clock,
    )


def minute_calls(server: RecordedServer) -> list[dict[str, str]]:
    return [call.params for call in server.calls_to(MINUTE_REQUESTS) if call.params.get("interval") == "1m"]


def test_poll_when_chart_recorded_then_closed_bars_published_on_the_tick(tmp_path: Path) -> None:
    server = yahoo_server()
    feed = provider(server, FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30)), tmp_path)

    bars = feed.poll()

    assert [bar.ts.strftime("%H:%M") for bar in bars] == [f"13:{minute}" for minute in range(30, 41)]
    first = bars[0]
    assert first.symbol == "AAPL" and first.source == "yfinance" and first.ts.tzinfo is UTC
    # Yahoo sends float32 prices (200.4199981689453); the spec's 0.01 tick restores the traded price
    assert (first.open, first.high, first.low, first.close) == (
        Decimal("200.28"),
        Decimal("200.51"),
        Decimal("200.21"),
        Decimal("200.42"),
    )
    assert first.volume == Decimal("1587342.0")
    assert feed.counters.still_forming == 1  # 13:41 has not closed at 13:41:30


def test_poll_when_look_back_spans_weeks_then_requests_are_windows_of_at_most_7_days_within_30(
    tmp_path: Path,
) -> None:
    server = yahoo_server()
    now = SESSION_OPEN + timedelta(minutes=11, seconds=30)
    feed = provider(server, FakeClock(now), tmp_path, minutes=40 * 24 * 60)  # longer than Yahoo keeps

    bars = feed.poll()

    windows = [(int(params["period1"]), int(params["period2"])) for params in minute_calls(server)]
    assert len(windows) == 5
    assert all(0 < end - start <= MAX_WINDOW.total_seconds() for start, end in windows)
    assert all(previous[1] == following[0] for previous, following in pairwise(windows))
    assert windows[0][0] >= (now - MAX_AGE).timestamp() and windows[-1][1] == int(now.timestamp())
    assert len(bars) == 11


def test_yahoo_windows_when_range_short_then_one_window_and_when_empty_then_none() -> None:
    end = datetime(2025, 6, 2, 13, 41, tzinfo=UTC)
    assert list(yahoo_windows(end - timedelta(minutes=3), end)) == [(end - timedelta(minutes=3), end)]
    assert list(yahoo_windows(end, end)) == []


def test_poll_when_polls_overlap_then_each_bar_published_once(tmp_path: Path) -> None:
    server = yahoo_server(sliced=False)  # answers every request with the whole recording
    clock = FakeClock(SESSION_OPEN + timedelta(minutes=8, seconds=30))
    feed = provider(server, clock, tmp_path)

    early = feed.poll()
    clock.advance(180)
    late = feed.poll()

    assert [bar.ts.minute for bar in early] == list(range(30, 38))
    assert [bar.ts.minute for bar in late] == [38, 39, 40]
    assert feed.counters.duplicates == 8 and feed.last_published == {"AAPL": SESSION_OPEN + timedelta(minutes=10)}
    assert minute_calls(server)[1]["period1"] == str(int((SESSION_OPEN + timedelta(minutes=8)).timestamp()))


def test_poll_when_a_row_is_invalid_then_it_is_rejected_counted_and_the_rest_published(tmp_path: Path) -> None:
    chart = yahoo_chart()
    quote = chart["chart"]["result"][0]["indicators"]["quote"][0]
    quote["high"][2], quote["low"][2] = quote["low"][2], quote["high"][2]
    server = yahoo_server(chart)
    feed = provider(server, FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30)), tmp_path)

    bars = feed.poll()

    assert len(bars) == 10 and feed.counters.rejected == 1
    assert feed.last_rejection is not None and "13:32" in feed.last_rejection and "below low" in feed.last_rejection


def test_poll_when_rate_limited_or_disconnected_then_retried_until_it_passes(tmp_path: Path) -> None:
    server = yahoo_server()
    passing = server.routes[0][1]
    answers: list[Reply | BaseException] = [
        requests.ConnectionError("Connection aborted"),
        Reply(429, "Too Many Requests"),  # yfinance asks once more with another cookie, then gives up
        Reply(429, "Too Many Requests"),
    ]

    def flaky(call: object) -> Reply | BaseException:
        if getattr(call, "params", {}).get("interval") == "1m" and answers:
            return answers.pop(0)
        return passing(call)  # type: ignore[arg-type]

    server.route("/v8/finance/chart/", flaky)
    feed = provider(server, FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30)), tmp_path)

    bars = feed.poll()

    assert len(bars) == 11
    assert feed.counters.retries == 2 and feed.counters.transient_failures == 0 and feed.skipped == {}
    assert len(minute_calls(server)) == 4


def test_poll_when_ticker_unknown_then_reported_and_skipped_without_retry(tmp_path: Path) -> None:
    server = yahoo_server()
    clock = FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30))
    feed = provider(server, clock, tmp_path, symbols=["AAPL", "ZZZZ"])

    bars = feed.poll()
    asked = len(server.calls_to("/ZZZZ"))
    clock.advance(60)
    feed.poll()

    assert {bar.symbol for bar in bars} == {"AAPL"}
    assert list(feed.skipped) == ["ZZZZ"] and feed.counters.permanent_failures == 1
    assert feed.counters.retries == 0 and len(server.calls_to("/ZZZZ")) == asked  # never asked again
    assert "crumb" not in feed.skipped["ZZZZ"]  # no session token in what /status shows


def test_poll_when_market_closed_then_no_bars_and_no_failure(tmp_path: Path) -> None:
    server = yahoo_server()
    saturday = datetime(2025, 6, 7, 15, 0, tzinfo=UTC)
    feed = provider(server, FakeClock(saturday), tmp_path)

    assert feed.poll() == []
    assert feed.skipped == {} and feed.counters.transient_failures == feed.counters.unexpected_failures == 0
