"""The yfinance provider: 1-minute equity bars from Yahoo Finance's chart API, within Yahoo's limits.

Yahoo serves 1-minute bars for the last 30 days only, and at most 7 days of them per request, so
a long first look back (or a long outage) is fetched as several windows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yfinance as yf
from yfinance.exceptions import (
    YFDataException,
    YFPricesMissingError,
    YFRateLimitError,
    YFTickerMissingError,
)

from logos.contracts import utc_now
from logos.symbols import SpecCatalog
from services.feed.config import RetryPolicy
from services.feed.providers.base import Clock, PollingProvider, RawBar

MAX_WINDOW = timedelta(days=7)
MAX_AGE = timedelta(days=30)
# A request that starts exactly 30 days back is refused by the time it arrives.
AGE_MARGIN = timedelta(minutes=5)
REFUSED_STATUSES = frozenset({401, 403, 404})


def yahoo_windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Split ``start``..``end`` into consecutive windows of at most 7 days, none older than 30 days."""
    start = max(start, end - MAX_AGE + AGE_MARGIN)
    while start < end:
        stop = min(start + MAX_WINDOW, end)
        yield start, stop
        start = stop


class YfinanceProvider(PollingProvider):
    """Polls ``Ticker.history(interval="1m")`` for each symbol."""

    def __init__(
        self,
        *,
        symbols: Sequence[str],
        specs: SpecCatalog,
        lookback: timedelta,
        retry: RetryPolicy,
        symbol_map: Mapping[str, str] | None = None,
        timeout_seconds: float = 10.0,
        cache_dir: Path | None = None,
        session: Any = None,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(source="yfinance", symbols=symbols, specs=specs, lookback=lookback, retry=retry, clock=clock)
        self.symbol_map = dict(symbol_map or {})
        self.timeout_seconds = timeout_seconds
        self.session = session
        self._tickers: dict[str, yf.Ticker] = {}
        # By default yfinance logs a failure and returns an empty frame; the provider must see the
        # error to tell a rate limit from a delisted symbol.
        yf.config.debug.hide_exceptions = False
        if cache_dir is not None:  # yfinance keeps time zones and cookies in a small database
            cache_dir.mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(cache_dir))

    def fetch(self, symbol: str, start: datetime, end: datetime) -> list[RawBar]:
        rows: list[RawBar] = []
        for window_start, window_end in yahoo_windows(start, end):
            frame = self.request(self._history, symbol, window_start, window_end)
            rows.extend(_rows(frame))
        return rows

    def is_transient(self, error: BaseException) -> bool:
        # OSError covers curl_cffi's and requests' connection errors, timeouts and HTTP errors; an
        # unreadable body or Yahoo's "will be right back" page is an overloaded server.
        if _http_status(error) in REFUSED_STATUSES:
            return False
        return isinstance(error, YFRateLimitError | OSError | json.JSONDecodeError) or (
            isinstance(error, YFDataException) and "CURRENTLY DOWN" in str(error)
        )

    def is_permanent(self, error: BaseException) -> bool:
        # A ticker without a time zone does not exist, and Yahoo answers 404 for an unknown or
        # delisted one; a 401/403 is a refusal that retrying does not change.
        return isinstance(error, YFTickerMissingError) or _http_status(error) in REFUSED_STATUSES

    def _history(self, symbol: str, start: datetime, end: datetime) -> pd.DataFrame:
        ticker = self._tickers.get(symbol)
        if ticker is None:
            ticker = self._tickers[symbol] = yf.Ticker(self.symbol_map.get(symbol, symbol), session=self.session)
        try:
            frame: pd.DataFrame = ticker.history(
                start=start,
                end=end,
                interval="1m",
                prepost=False,
                actions=False,
                auto_adjust=False,
                repair=False,
                timeout=self.timeout_seconds,
            )
        except YFPricesMissingError as exc:
            if _empty_window(exc):  # the market was closed: nothing to fetch, nothing wrong
                return pd.DataFrame()
            raise
        return frame


def _empty_window(error: BaseException) -> bool:
    """Tell a window without trading (Yahoo gives no reason, or says the data does not exist) from a bad symbol."""
    if not isinstance(error, YFPricesMissingError):
        return False
    reason = (error.yahoo_reason or "").lower()
    return not reason or ("doesn't exist" in reason and "delisted" not in reason)


def _http_status(error: BaseException) -> int | None:
    """Return the HTTP status of a requests or curl_cffi HTTP error, else None."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _rows(frame: pd.DataFrame) -> list[RawBar]:
    if frame.empty:
        return []
    index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
    columns = frame[["Open", "High", "Low", "Close", "Volume"]].itertuples(index=False, name=None)
    return [
        RawBar(ts.to_pydatetime(), _number(o), _number(h), _number(low), _number(c), _number(v))
        for ts, (o, h, low, c, v) in zip(index, columns, strict=True)
    ]


def _number(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)
