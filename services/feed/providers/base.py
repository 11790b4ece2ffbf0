"""What every live provider shares: closed bars only, validated, de-duplicated, retried, and failures told apart.

A provider's own module only fetches raw rows and says which of its library's errors pass (retry)
and which never will (the symbol is skipped from then on). Everything else happens here, so the
two providers cannot disagree on what a publishable bar is.
"""

from __future__ import annotations

import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential_jitter,
)

from logos.contracts import Bar, utc_now
from logos.symbols import SpecCatalog, SymbolSpec
from services.feed.config import RetryPolicy

log = logging.getLogger("logos.feed")
T = TypeVar("T")
ONE_MINUTE = timedelta(minutes=1)
Clock = Callable[[], datetime]
URL_QUERY = re.compile(r"\?[^\s'\"]*")


class BarProvider(Protocol):
    """A live source of 1-minute bars that publishes each closed bar once."""

    source: str
    symbols: tuple[str, ...]
    skipped: dict[str, str]  # symbols that failed for good, with the reason

    def poll(self) -> list[Bar]:
        """Return the bars that closed since the last poll, ordered by time, then symbol (blocking)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Return counters and per-symbol state for /status."""
        ...

    def close(self) -> None:
        """Stop waiting between retries; a poll in flight returns soon after."""
        ...


@dataclass(frozen=True)
class RawBar:
    """One OHLCV row as a provider's library returned it, before any check."""

    ts: datetime
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


@dataclass
class ProviderCounters:
    """What a provider has done since it started (shown on /status)."""

    polls: int = 0
    requests: int = 0
    retries: int = 0
    rows: int = 0
    published: int = 0
    still_forming: int = 0
    duplicates: int = 0
    rejected: int = 0
    transient_failures: int = 0
    permanent_failures: int = 0
    unexpected_failures: int = 0


class PollingProvider(ABC):
    """Polls each symbol from just after its newest seen bar up to now, and keeps what is publishable."""

    def __init__(
        self,
        *,
        source: str,
        symbols: Sequence[str],
        specs: SpecCatalog,
        lookback: timedelta,
        retry: RetryPolicy,
        clock: Clock = utc_now,
    ) -> None:
        self.source = source
        self.symbols = tuple(dict.fromkeys(symbols))
        self.specs = specs
        self.lookback = lookback
        self.retry = retry
        self.clock = clock
        self.counters = ProviderCounters()
        self.last_published: dict[str, datetime] = {}
        self.last_seen: dict[str, datetime] = {}  # newest closed row examined, published or rejected
        self.skipped: dict[str, str] = {}  # symbols that failed for good, with the reason
        self.last_rejection: str | None = None
        self._closed = threading.Event()

    # -- what a provider defines ---------------------------------------------------------------

    @abstractmethod
    def fetch(self, symbol: str, start: datetime, end: datetime) -> list[RawBar]:
        """Return the rows of ``symbol`` from ``start`` (inclusive) to ``end``; requests go through ``request``."""

    @abstractmethod
    def is_transient(self, error: BaseException) -> bool:
        """Tell whether ``error`` may pass by itself (network, timeout, rate limit): it is retried."""

    @abstractmethod
    def is_permanent(self, error: BaseException) -> bool:
        """Tell whether ``error`` will recur on every try (unknown or delisted symbol, refused access)."""

    # -- polling -------------------------------------------------------------------------------

    def poll(self) -> list[Bar]:
        """Fetch every active symbol once and return its newly closed, valid, unseen bars."""
        now = self.clock()
        self.counters.polls += 1
        bars: list[Bar] = []
        for symbol in self.symbols:
            if symbol in self.skipped or self._closed.is_set():
                continue
            try:
                rows = self.fetch(symbol, self.next_start(symbol, now), now)
            except Exception as exc:
                self._report_failure(symbol, exc)
                continue
            bars.extend(self._accept(symbol, rows, now))
        bars.sort(key=lambda bar: (bar.ts, bar.symbol))
        return bars

    def next_start(self, symbol: str, now: datetime) -> datetime:
        """Return where the next request for ``symbol`` starts: after its newest seen bar, else the look-back."""
        seen = self.last_seen.get(symbol)
        if seen is not None:
            return seen + ONE_MINUTE
        return (now - self.lookback).replace(second=0, microsecond=0)

    def request(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``operation``, retrying passing failures with exponential backoff and jitter."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts) | stop_when_event_set(self._closed),
            wait=wait_exponential_jitter(
                multiplier=self.retry.initial_seconds, max=self.retry.max_seconds, jitter=self.retry.initial_seconds
            ),
            retry=retry_if_exception(self.is_transient),
            sleep=self._pause,
            before_sleep=self._count_retry,
            reraise=True,
        )
        result: T = retrying(self._counted, operation, *args, **kwargs)
        return result

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "counters": asdict(self.counters),
            "last_published": {symbol: ts.isoformat() for symbol, ts in sorted(self.last_published.items())},
            "skipped_symbols": dict(self.skipped),
            "last_rejection": self.last_rejection,
        }

    def close(self) -> None:
        self._closed.set()

    # -- internals -----------------------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        self._closed.wait(seconds)  # close() cuts a backoff short

    def _counted(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.counters.requests += 1
        return operation(*args, **kwargs)

    def _count_retry(self, state: RetryCallState) -> None:
        self.counters.retries += 1
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: %s; retry %d in %.1fs", self.source, _describe_error(error), state.attempt_number, wait)

    def _report_failure(self, symbol: str, error: Exception) -> None:
        reason = _describe_error(error)
        if self.is_permanent(error):
            self.counters.permanent_failures += 1
            self.skipped[symbol] = reason
            log.error("%s: %s fails for good (%s); it is skipped until the feed restarts", self.source, symbol, reason)
        elif self.is_transient(error):
            self.counters.transient_failures += 1
            log.warning("%s: %s still failing after retries (%s); trying again next poll", self.source, symbol, reason)
        else:
            self.counters.unexpected_failures += 1
            log.exception("%s: %s failed unexpectedly; trying again next poll", self.source, symbol)

    def _accept(self, symbol: str, rows: list[RawBar], now: datetime) -> list[Bar]:
        """Keep the closed rows newer than the last seen one that make a valid bar."""
        self.counters.rows += len(rows)
        spec = self.specs[symbol]
        accepted: list[Bar] = []
        seen = self.last_seen.get(symbol)
        for row in sorted(rows, key=lambda raw: raw.ts):
            if row.ts + ONE_MINUTE > now:  # still forming: published once it has closed
                self.counters.still_forming += 1
                continue
            if seen is not None and row.ts <= seen:
                self.counters.duplicates += 1
                continue
            seen = row.ts
            try:
                bar = to_bar(symbol, spec, row, self.source)
            except (ValidationError, TypeError, ValueError, ArithmeticError) as exc:
                self.counters.rejected += 1
                self.last_rejection = f"{symbol}@{row.ts.isoformat()}: {_first_line(exc)}"
                log.warning("%s: rejected %s", self.source, self.last_rejection)
                continue
            accepted.append(bar)
        if seen is not None:
            self.last_seen[symbol] = seen
        if accepted:
            self.last_published[symbol] = accepted[-1].ts
            self.counters.published += len(accepted)
        return accepted


def to_bar(symbol: str, spec: SymbolSpec, row: RawBar, source: str) -> Bar:
    """Build the wire bar of ``row``: prices on the symbol's tick, exact decimals; raises if it is invalid."""
    return Bar(
        id=f"{symbol}@{row.ts.isoformat()}",
        ts=row.ts,
        symbol=symbol,
        open=spec.quantize_price(_decimal(row.open)),
        high=spec.quantize_price(_decimal(row.high)),
        low=spec.quantize_price(_decimal(row.low)),
        close=spec.quantize_price(_decimal(row.close)),
        volume=_decimal(row.volume),
        source=source,
    )


def _decimal(value: float | None) -> Decimal:
    if value is None:
        raise ValueError("a value is missing")
    # repr gives the shortest text that reads back as the same float: no binary noise in the decimal
    return Decimal(repr(float(value)))


def _describe_error(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    # Query strings may carry session tokens (Yahoo's crumb); the path names the request well enough.
    text = URL_QUERY.sub("", str(error)).strip()
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        text = first["msg"]
    return text.splitlines()[0] if text else type(error).__name__
