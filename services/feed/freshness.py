"""The freshness clock: how long ago each symbol's newest bar closed, and which symbols are stale."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

BAR_LENGTH = timedelta(minutes=1)


class FreshnessClock:
    """Per-symbol time of the newest published bar; a symbol is stale once that is ``stale_after`` old.

    Before its first bar a symbol is measured from ``started``, so a feed that just began polling is
    given ``stale_after`` to deliver.
    """

    def __init__(self, symbols: Sequence[str], stale_after: timedelta, started: datetime) -> None:
        self.symbols = tuple(dict.fromkeys(symbols))
        self.stale_after = stale_after
        self.started = started
        self.last_bar: dict[str, datetime] = {}

    def observe(self, symbol: str, bar_ts: datetime) -> None:
        """Record a published bar (its open time); an older one changes nothing."""
        if symbol not in self.last_bar or bar_ts > self.last_bar[symbol]:
            self.last_bar[symbol] = bar_ts

    def age(self, symbol: str, now: datetime) -> timedelta:
        """Return how long ago ``symbol``'s newest bar closed (or polling began, before any bar)."""
        last = self.last_bar.get(symbol)
        reference = last + BAR_LENGTH if last is not None else self.started
        return max(now - reference, timedelta(0))

    def stale(self, now: datetime) -> list[str]:
        """Return the symbols whose newest bar is older than ``stale_after``, in configured order."""
        return [symbol for symbol in self.symbols if self.age(symbol, now) > self.stale_after]

    def problems(self, now: datetime, ignore: Collection[str] = ()) -> list[str]:
        """Describe each stale symbol (except those in ``ignore``) in one line."""
        lines = []
        for symbol in self.stale(now):
            if symbol in ignore:
                continue
            last = self.last_bar.get(symbol)
            seen = f"last bar {last.isoformat()}" if last is not None else "no bar yet"
            lines.append(
                f"{symbol} is stale: {seen}, {self.age(symbol, now).total_seconds():.0f}s old "
                f"(stale after {self.stale_after.total_seconds():.0f}s)"
            )
        return lines

    def report(self, now: datetime) -> dict[str, dict[str, Any]]:
        """Return each symbol's newest bar, its age in seconds and whether it is stale, for /status."""
        return {
            symbol: {
                "last_bar": self.last_bar[symbol].isoformat() if symbol in self.last_bar else None,
                "age_seconds": round(self.age(symbol, now).total_seconds(), 3),
                "stale": self.age(symbol, now) > self.stale_after,
            }
            for symbol in self.symbols
        }
