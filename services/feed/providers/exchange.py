"""The ccxt provider: public 1-minute OHLCV candles of a crypto exchange, paged forward by time."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import ccxt

from logos.contracts import utc_now
from logos.symbols import SpecCatalog
from services.feed.config import RetryPolicy
from services.feed.providers.base import Clock, PollingProvider, RawBar

MINUTE_MS = 60_000


def build_exchange(exchange_id: str, timeout_seconds: float = 10.0) -> ccxt.Exchange:
    """Return a public (keyless) ccxt client that keeps to the exchange's own rate limit."""
    exchange: ccxt.Exchange = getattr(ccxt, exchange_id)(
        {"enableRateLimit": True, "timeout": int(timeout_seconds * 1000)}
    )
    return exchange


def exchange_symbol(symbol: str, symbol_map: Mapping[str, str]) -> str:
    """Return the exchange's unified symbol for ours: the map's entry, else BASE-QUOTE as BASE/QUOTE."""
    if symbol in symbol_map:
        return symbol_map[symbol]
    return symbol if "/" in symbol else symbol.replace("-", "/", 1)


class CcxtProvider(PollingProvider):
    """Polls ``fetch_ohlcv(symbol, "1m", since=…, limit=…)`` for each symbol."""

    def __init__(
        self,
        *,
        exchange: ccxt.Exchange,
        symbols: Sequence[str],
        specs: SpecCatalog,
        lookback: timedelta,
        retry: RetryPolicy,
        symbol_map: Mapping[str, str] | None = None,
        page_size: int = 500,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(
            source=f"ccxt:{exchange.id}", symbols=symbols, specs=specs, lookback=lookback, retry=retry, clock=clock
        )
        self.exchange = exchange
        self.symbol_map = dict(symbol_map or {})
        self.page_size = page_size

    def fetch(self, symbol: str, start: datetime, end: datetime) -> list[RawBar]:
        market = exchange_symbol(symbol, self.symbol_map)
        self.request(self.exchange.load_markets)  # once; ccxt keeps them
        since, end_ms = _ms(start), _ms(end)
        rows: list[RawBar] = []
        # A page holds at most page_size candles, so this many pages reach ``end`` (one spare for rounding).
        for _ in range(math.ceil((end_ms - since) / (MINUTE_MS * self.page_size)) + 1):
            page: list[list[Any]] = self.request(
                self.exchange.fetch_ohlcv, market, "1m", since=since, limit=self.page_size
            )
            rows.extend(_row(candle) for candle in page)
            if not page:
                break
            newest = int(page[-1][0])
            # A short page means the exchange has nothing newer yet; a candle ending at ``end`` is the last.
            if len(page) < self.page_size or newest + MINUTE_MS >= end_ms or newest < since:
                break
            since = newest + MINUTE_MS
        return rows

    def is_transient(self, error: BaseException) -> bool:
        # NetworkError covers RequestTimeout, RateLimitExceeded, DDoSProtection and ExchangeNotAvailable.
        return isinstance(error, ccxt.NetworkError)

    def is_permanent(self, error: BaseException) -> bool:
        # ExchangeError covers BadSymbol, BadRequest and every authentication or permission error.
        return isinstance(error, ccxt.ExchangeError)


def _row(candle: list[Any]) -> RawBar:
    timestamp, open_, high, low, close, volume = candle[:6]
    return RawBar(
        ts=datetime.fromtimestamp(int(timestamp) / 1000, UTC), open=open_, high=high, low=low, close=close,
        volume=volume,
    )  # fmt: skip


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
