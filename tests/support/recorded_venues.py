"""Offline stand-ins for Binance's and Yahoo's HTTP APIs, answering from the recorded responses.

Each behaves like its venue where the providers depend on it: Binance returns candles from
``startTime`` on, at most ``limit`` of them; Yahoo returns the minutes in ``[period1, period2)``
and, for a window without trading, a result without timestamps.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import ccxt
import requests

from tests.support.recorded_http import Call, RecordedServer, Reply, recorded

SESSION_OPEN = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)
"""Open time of the first recorded bar of both venues (09:30 in New York)."""


class FakeClock:
    """A settable UTC clock for providers and the feed worker."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def binance_klines() -> list[list[Any]]:
    """Return a fresh copy of the recorded BTCUSDT 1-minute klines (12 candles from 13:30 UTC)."""
    klines: list[list[Any]] = recorded("binance_klines_BTCUSDT_1m.json")
    return klines


def binance_server(klines: list[list[Any]] | None = None) -> RecordedServer:
    """Return a Binance spot API with the recorded markets and ``klines`` (default: the recording)."""
    rows = klines if klines is not None else binance_klines()
    server = RecordedServer()
    server.route("/api/v3/exchangeInfo", Reply.ok(recorded("binance_exchange_info_spot.json")))
    futures = recorded("binance_exchange_info_futures_trimmed.json")
    server.route("/fapi/v1/exchangeInfo", Reply.ok(futures))
    server.route("/dapi/v1/exchangeInfo", Reply.ok(futures))
    server.route("/api/v3/klines", lambda call: Reply.ok(klines_since(rows, call)))
    return server


def klines_since(rows: list[list[Any]], call: Call) -> list[list[Any]]:
    """Answer like Binance: candles opening at or after ``startTime``, at most ``limit`` of them."""
    start = int(call.params.get("startTime", 0))
    return [row for row in rows if row[0] >= start][: int(call.params.get("limit", 500))]


def binance_exchange(server: RecordedServer) -> Any:
    """Return a real ccxt Binance client whose HTTP requests ``server`` answers."""
    exchange = ccxt.binance({"enableRateLimit": True})
    server.mount_on(exchange.session)
    return exchange


def yahoo_chart() -> dict[str, Any]:
    """Return a fresh copy of the recorded AAPL 1-minute chart (12 minutes from 13:30 UTC)."""
    chart: dict[str, Any] = recorded("yahoo_chart_AAPL_1m.json")
    return chart


def yahoo_server(chart: dict[str, Any] | None = None, sliced: bool = True) -> RecordedServer:
    """Return Yahoo's cookie, crumb and chart endpoints for AAPL; other tickers are unknown (404)."""
    minute = chart if chart is not None else yahoo_chart()
    day = recorded("yahoo_chart_AAPL_1d.json")
    server = RecordedServer()
    server.route("fc.yahoo.com", Reply(404, "<html><body>Not found</body></html>"))
    server.route("/v1/test/getcrumb", Reply.ok("rT4Zy8k1vQb"))

    def answer(call: Call) -> Reply:
        if not call.path.endswith("/AAPL"):
            return Reply(404, recorded("yahoo_chart_not_found.json"))
        if call.params.get("interval") == "1d":
            return Reply.ok(day)
        return Reply.ok(chart_window(minute, call) if sliced else minute)

    server.route("/v8/finance/chart/", answer)
    return server


def chart_window(chart: dict[str, Any], call: Call) -> dict[str, Any]:
    """Answer like Yahoo: the minutes in ``[period1, period2)``; none at all is a result without timestamps."""
    start, end = int(call.params["period1"]), int(call.params["period2"])
    window = copy.deepcopy(chart)
    result = window["chart"]["result"][0]
    keep = [i for i, ts in enumerate(result["timestamp"]) if start <= ts < end]
    if not keep:
        del result["timestamp"]
        result["indicators"] = {"quote": [{}]}
        return window
    result["timestamp"] = [result["timestamp"][i] for i in keep]
    quote = result["indicators"]["quote"][0]
    for name, values in quote.items():
        quote[name] = [values[i] for i in keep]
    return window


def yahoo_session(server: RecordedServer) -> requests.Session:
    """Return a requests session (a kind yfinance accepts) whose requests ``server`` answers."""
    return server.mount_on(requests.Session())
