"""Wide price files (a date column and one column per asset) and the bundled daily price fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from logos.data.fixtures import FIXTURES_DIR

PRICE_FIXTURES_SUBDIR = "prices"
DATE_COLUMNS = ("date", "timestamp", "datetime", "time")
SECTORS_SUFFIX = ".sectors.json"


class PriceDataError(ValueError):
    """A price file that cannot be used; the message names the file and the problem."""


def price_fixtures_dir(fixtures: Path | None = None) -> Path:
    return (fixtures or FIXTURES_DIR) / PRICE_FIXTURES_SUBDIR


def list_price_fixtures(fixtures: Path | None = None) -> list[str]:
    """Return the names of the bundled wide price files, sorted."""
    directory = price_fixtures_dir(fixtures)
    return sorted(path.stem for path in directory.glob("*.csv")) if directory.is_dir() else []


def price_fixture_path(name: str, fixtures: Path | None = None) -> Path:
    """Return the file of the price fixture called ``name`` (such as ``sp500_daily``)."""
    path = price_fixtures_dir(fixtures) / f"{name}.csv"
    if not path.is_file():
        known = ", ".join(list_price_fixtures(fixtures)) or "none"
        raise KeyError(f"unknown price fixture {name!r} (known: {known})")
    return path


def load_sectors(prices_path: Path) -> dict[str, str]:
    """Return the asset -> sector map stored beside a price file (``NAME.sectors.json``), or an empty one."""
    path = prices_path.with_name(prices_path.name.split(".")[0] + SECTORS_SUFFIX)
    if not path.is_file():
        return {}
    return {str(asset): str(sector) for asset, sector in json.loads(path.read_text()).items()}


def load_prices(path: Path) -> pd.DataFrame:
    """Read a wide price file into a float frame indexed by date, one column per asset, oldest first."""
    if not path.is_file():
        raise PriceDataError(f"{path}: no such file")
    try:
        table = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise PriceDataError(f"{path}: cannot read: {exc}") from None
    lowered = {str(column).strip().lower(): column for column in table.columns}
    date_column = next((lowered[name] for name in DATE_COLUMNS if name in lowered), None)
    if date_column is None:
        raise PriceDataError(f"{path}: needs a date column (one of: {', '.join(DATE_COLUMNS)})")
    try:
        index = pd.DatetimeIndex(pd.to_datetime(table[date_column], utc=True, format="mixed"), name="date")
    except (ValueError, TypeError) as exc:
        raise PriceDataError(f"{path}: column {date_column!r} holds a value that is not a date: {exc}") from None
    frame = table.drop(columns=[date_column])
    frame.columns = [str(column).strip() for column in frame.columns]
    if frame.shape[1] < 2:
        raise PriceDataError(f"{path}: a portfolio needs at least two asset columns, found {frame.shape[1]}")
    try:
        frame = frame.apply(pd.to_numeric).astype(np.float64)
    except (ValueError, TypeError) as exc:
        raise PriceDataError(f"{path}: an asset column holds a value that is not a number: {exc}") from None
    frame.index = index
    if index.has_duplicates:
        raise PriceDataError(f"{path}: date {index[index.duplicated()][0].date()} appears twice")
    frame = frame.sort_index()
    values = frame.to_numpy()
    if np.isnan(values).any():
        # leading gaps (an asset listed later) cannot be filled; inner gaps carry the last price forward
        frame = frame.ffill()
        first_full = frame.notna().all(axis=1).to_numpy().argmax()
        frame = frame.iloc[first_full:]
    if frame.empty or frame.isna().any().any():
        raise PriceDataError(f"{path}: no date has a price for every asset")
    if (frame.to_numpy() <= 0).any():
        column = frame.columns[(frame <= 0).any().to_numpy()][0]
        raise PriceDataError(f"{path}: asset {column!r} has a price <= 0")
    return pd.DataFrame(frame)


def simple_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Return r_t = P_t / P_{t-1} - 1, one row fewer than ``prices``."""
    values = prices.to_numpy()
    return pd.DataFrame(values[1:] / values[:-1] - 1.0, index=prices.index[1:], columns=prices.columns)
