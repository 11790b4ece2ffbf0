"""Write the bundled deterministic bar fixtures and their symbol catalog into data/fixtures/.

Run ``.venv/bin/python data/generate_fixtures.py [--output-dir DIR]``. Every file draws from its own
``numpy.random.default_rng([SEED, n])`` stream and prices are rounded to integer ticks before they
are written as text, so a run reproduces the committed files byte for byte.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from logos.symbols import AssetClass, SymbolSpec

SEED = 20240101
DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "fixtures"
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = np.timedelta64(1, "m")
HEADER = "timestamp,symbol,open,high,low,close,volume"
VOLUME_DECIMALS = 4  # crypto volumes: a few decimals, written from integer units so the text is exact

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Bars:
    """One symbol's bars: UTC minutes, prices in integer cents, volume in integer units of its precision."""

    symbol: str
    minutes: NDArray[np.datetime64]
    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray
    volume: IntArray
    volume_decimals: int


def main(output_dir: Path | None = None) -> list[Path]:
    """Write every fixture file into ``output_dir`` (default: data/fixtures/) and return their paths."""
    target = output_dir or DEFAULT_OUTPUT_DIR
    target.mkdir(parents=True, exist_ok=True)
    files = {
        "crypto_1m.csv": _csv(_crypto_bars(np.random.default_rng([SEED, 1])), with_symbol=True),
        "equities_1m.csv": _csv(_equity_bars(np.random.default_rng([SEED, 2])), with_symbol=True),
        "sma_demo_1m.csv": _csv([_sma_demo_bars(np.random.default_rng([SEED, 3]))], with_symbol=False),
        "symbols.json": _catalog_json(),
    }
    written = []
    for name, text in files.items():
        path = target / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def _crypto_bars(rng: np.random.Generator) -> list[Bars]:
    """BTC-USD and ETH-USD minute bars over five 24/7 days, sharing one market factor."""
    count = 5 * 1440
    minutes = np.datetime64("2024-01-01T00:00") + np.arange(count) * MINUTE
    hour = (np.arange(count) % 1440) / 60.0
    # Busier while the US trades (about 14:00-21:00 UTC), calmer in the Asian night.
    session = 0.75 + 0.6 * np.exp(-(((hour - 17.0) / 3.0) ** 2))
    volatility = session * _regimes(rng, count, calm=1.0, stormy=2.2, mean_minutes=300)
    drift = _drift(count, [(1 * 1440 + 360, 1 * 1440 + 1080, 0.035), (3 * 1440 + 720, 4 * 1440 + 240, -0.045)])
    market = rng.standard_normal(count)
    specs = (("BTC-USD", 42_000.0, 0.0007, 1.0, 6.0), ("ETH-USD", 2_300.0, 0.0009, 1.25, 90.0))
    bars = []
    for symbol, start, sigma, beta, base_volume in specs:
        shocks = sigma * volatility * (0.8 * market + 0.6 * rng.standard_normal(count))
        returns = shocks + beta * drift
        closes = start * np.exp(np.cumsum(returns))
        opens = np.concatenate(([start], closes[:-1]))
        activity = volatility * (1.0 + 0.4 * np.abs(shocks) / sigma)
        volume = base_volume * activity * rng.lognormal(0.0, 0.5, count)
        bars.append(_bars(symbol, minutes, opens, closes, sigma * volatility, volume, VOLUME_DECIMALS, rng))
    return bars


def _equity_bars(rng: np.random.Generator) -> list[Bars]:
    """AAPL and MSFT regular-session minute bars over five US trading days, with overnight gaps."""
    days = _trading_days(date(2024, 1, 2), 5)
    minutes = np.concatenate([_session_minutes(day) for day in days])
    per_day = 390
    count = len(minutes)
    minute_of_day = np.arange(count) % per_day
    # The U shape of a trading day: busy open, quiet lunch, busy close.
    session = 0.7 + 1.3 * np.exp(-minute_of_day / 25.0) + 0.6 * np.exp(-(per_day - 1 - minute_of_day) / 30.0)
    drift = _drift(count, [(2 * per_day + 200, 3 * per_day, -0.02), (4 * per_day, 4 * per_day + 180, 0.018)])
    market = rng.standard_normal(count)
    gaps = rng.normal(0.0, 0.006, (len(days), 2))
    specs = (("AAPL", 185.0, 0.0006, 110_000.0), ("MSFT", 370.0, 0.0005, 45_000.0))
    bars = []
    for column, (symbol, start, sigma, base_volume) in enumerate(specs):
        shocks = sigma * session * (0.8 * market + 0.6 * rng.standard_normal(count))
        returns = shocks + drift
        # The first bar of each later day opens away from the previous close: the overnight gap.
        day_starts = np.arange(1, len(days)) * per_day
        gap_returns = np.zeros(count)
        gap_returns[day_starts] = gaps[1:, column]
        opens_log = np.cumsum(returns + gap_returns) - returns
        opens = start * np.exp(opens_log)
        closes = start * np.exp(opens_log + returns)
        volume = base_volume * session * rng.lognormal(0.0, 0.45, count)
        bars.append(_bars(symbol, minutes, opens, closes, sigma * session, volume, 0, rng))
    return bars


def _sma_demo_bars(rng: np.random.Generator) -> Bars:
    """A smooth series for demos: a rise, a stretch of mean reversion, a fall (3,000 minutes)."""
    count = 3000
    minutes = np.datetime64("2024-01-01T00:00") + np.arange(count) * MINUTE
    # One step more than there are bars: step 0 is the close before the first bar, its open.
    steps = np.arange(count + 1)
    trend = np.cumsum(np.select([steps < 1000, steps < 2000], [0.00012, 0.0], -0.0001))
    cycles = 0.02 * np.sin(2 * np.pi * steps / 700.0) + 0.008 * np.sin(2 * np.pi * steps / 230.0 + 1.0)
    noise = np.zeros(count + 1)
    innovations = rng.normal(0.0, 0.0006, count + 1)
    for step in range(1, count + 1):  # an Ornstein-Uhlenbeck wobble that keeps pulling back to zero
        noise[step] = 0.95 * noise[step - 1] + innovations[step]
    path = 100.0 * np.exp(trend + cycles + noise - cycles[0])
    opens, closes = path[:-1], path[1:]
    volume = 1_500.0 * rng.lognormal(0.0, 0.35, count)
    return _bars("sma_demo_1m", minutes, opens, closes, np.full(count, 0.0004), volume, 0, rng)


def _bars(
    symbol: str,
    minutes: NDArray[np.datetime64],
    opens: FloatArray,
    closes: FloatArray,
    wick_scale: FloatArray,
    volume: FloatArray,
    volume_decimals: int,
    rng: np.random.Generator,
) -> Bars:
    """Add wicks, round to cents and whole volume units, and keep every bar's OHLC consistent."""
    count = len(opens)
    upper = np.maximum(opens, closes) * np.exp(0.6 * wick_scale * np.abs(rng.standard_normal(count)))
    lower = np.minimum(opens, closes) * np.exp(-0.6 * wick_scale * np.abs(rng.standard_normal(count)))
    open_cents, close_cents = _cents(opens), _cents(closes)
    # Rounding can push a wick inside the body; widen it back so high >= max(open, close) >= low.
    high_cents = np.maximum(_cents(upper), np.maximum(open_cents, close_cents))
    low_cents = np.minimum(_cents(lower), np.minimum(open_cents, close_cents))
    volume_units = np.rint(volume * 10**volume_decimals).astype(np.int64)
    return Bars(symbol, minutes, open_cents, high_cents, low_cents, close_cents, volume_units, volume_decimals)


def _regimes(rng: np.random.Generator, count: int, calm: float, stormy: float, mean_minutes: int) -> FloatArray:
    """Switch between a calm and a stormy volatility level, each lasting ``mean_minutes`` on average."""
    switches = rng.random(count) < 1.0 / mean_minutes
    stormy_now = np.cumsum(switches) % 2 == 1
    return np.where(stormy_now, stormy, calm)


def _drift(count: int, trends: Sequence[tuple[int, int, float]]) -> FloatArray:
    """Per-bar log drift that adds up to ``move`` between bars ``start`` and ``end`` of each trend."""
    drift = np.zeros(count)
    for start, end, move in trends:
        drift[start:end] += move / (end - start)
    return drift


def _trading_days(first: date, count: int) -> list[date]:
    """Return ``count`` weekdays from ``first`` (no exchange holiday falls in the fixtures' span)."""
    days: list[date] = []
    day = first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _session_minutes(day: date) -> NDArray[np.datetime64]:
    """Return the 390 bar-open minutes of the 09:30-16:00 New York session, in UTC."""
    opening = datetime.combine(day, time(9, 30), tzinfo=NEW_YORK).astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(opening, "m") + np.arange(390) * MINUTE


def _cents(prices: FloatArray) -> IntArray:
    """Round prices to the 0.01 tick, as integer cents."""
    return np.rint(prices * 100.0).astype(np.int64)


def _csv(symbols: list[Bars], with_symbol: bool) -> str:
    """Render bars as CSV, time-major (at each minute every symbol in name order), with exact decimals."""
    header = HEADER if with_symbol else HEADER.replace(",symbol", "")
    rows: list[tuple[str, str, str]] = []
    for bars in sorted(symbols, key=lambda bars: bars.symbol):
        stamps = np.datetime_as_string(bars.minutes, unit="s")
        columns = zip(
            stamps,
            bars.open.tolist(),
            bars.high.tolist(),
            bars.low.tolist(),
            bars.close.tolist(),
            bars.volume.tolist(),
            strict=True,
        )
        for stamp, open_, high, low, close, volume in columns:
            prices = ",".join(_decimal(cents, 2) for cents in (open_, high, low, close))
            symbol = f"{bars.symbol}," if with_symbol else ""
            rows.append(
                (str(stamp), bars.symbol, f"{stamp}Z,{symbol}{prices},{_decimal(volume, bars.volume_decimals)}")
            )
    rows.sort(key=lambda row: (row[0], row[1]))
    return "\n".join([header, *(line for _, _, line in rows)]) + "\n"


def _decimal(units: int, decimals: int) -> str:
    """Write a non-negative integer count of 10**-decimals as exact decimal text."""
    if decimals == 0:
        return str(units)
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}"


def _catalog_json() -> str:
    """Render the symbol specs of every fixture symbol as the JSON list ``load_catalog`` reads."""
    crypto = {"asset_class": AssetClass.CRYPTO, "lot_size": "0.0001", "min_notional": "10", "fractionable": True}
    equity = {"asset_class": AssetClass.EQUITY, "lot_size": "1", "fractionable": False}
    specs = [
        SymbolSpec.model_validate({"symbol": "BTC-USD", "tick_size": "0.01", **crypto}),
        SymbolSpec.model_validate({"symbol": "ETH-USD", "tick_size": "0.01", **crypto}),
        SymbolSpec.model_validate({"symbol": "AAPL", "tick_size": "0.01", **equity}),
        SymbolSpec.model_validate({"symbol": "MSFT", "tick_size": "0.01", **equity}),
        SymbolSpec.model_validate({"symbol": "sma_demo_1m", "tick_size": "0.01", **equity}),
    ]
    return json.dumps([spec.model_dump(mode="json") for spec in specs], indent=2) + "\n"


def _parse_args() -> Path | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output-dir", type=Path, default=None, help="where to write (default: data/fixtures/)")
    output_dir: Path | None = parser.parse_args().output_dir
    return output_dir


if __name__ == "__main__":
    for path in main(_parse_args()):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
