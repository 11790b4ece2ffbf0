"""The bar cache: every published bar appended to a per-day CSV under data/cache/bars/, replayable later.

The files have the columns of the bundled fixtures (``timestamp,symbol,open,high,low,close,volume``)
so ``load_bars`` reads them and ``FEED_PROVIDER=replay FEED_REPLAY_DATA=<file>`` replays them. Each
append rewrites the day's file atomically; rows are unique per (symbol, timestamp), so a restart
that fetches the same minutes again leaves the file as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from logos.contracts import Bar
from logos.files import atomic_write_text

COLUMNS = ["timestamp", "symbol", "open", "high", "low", "close", "volume"]
UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class BarCache:
    """Appends bars to ``<directory>/<source>_<YYYYMMDD>_1m.csv`` (one file per source and UTC day)."""

    def __init__(self, directory: Path, source: str) -> None:
        self.directory = directory
        self.prefix = UNSAFE_IN_NAME.sub("-", source)  # ccxt:binance -> ccxt-binance
        self.appended = 0

    def path_for(self, day: str) -> Path:
        """Return the file of the UTC day ``day`` (``YYYYMMDD``)."""
        return self.directory / f"{self.prefix}_{day}_1m.csv"

    def append(self, bars: Iterable[Bar]) -> list[Path]:
        """Add ``bars`` to their days' files and return the files written."""
        by_day: dict[str, list[dict[str, str]]] = {}
        for bar in bars:
            by_day.setdefault(bar.ts.strftime("%Y%m%d"), []).append(_row(bar))
        written = []
        for day, rows in sorted(by_day.items()):
            path = self.path_for(day)
            fresh = pd.DataFrame(rows, columns=COLUMNS)
            table = pd.concat([_read(path), fresh]) if path.exists() else fresh
            table = table.drop_duplicates(["symbol", "timestamp"], keep="first").sort_values(["timestamp", "symbol"])
            atomic_write_text(path, table.to_csv(index=False, lineterminator="\n"))
            self.appended += len(rows)
            written.append(path)
        return written


def _row(bar: Bar) -> dict[str, str]:
    # Text, not floats: the file keeps the exact decimals that were published.
    return {
        "timestamp": bar.ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "symbol": bar.symbol,
        "open": str(bar.open),
        "high": str(bar.high),
        "low": str(bar.low),
        "close": str(bar.close),
        "volume": str(bar.volume),
    }


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)[COLUMNS]
