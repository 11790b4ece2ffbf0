"""Read bar files (CSV or Parquet) into validated, per-symbol OHLCV frames indexed by UTC time.

Every rule is checked with whole-column masks, so a file of millions of rows costs a few passes;
the error then names the first offending row as numbered in the file (1 is the first data row), with
its time and symbol. Timestamps without a time zone are read as UTC; each frame's
``attrs["naive_timestamps"]`` says whether the file's were (the backtest reports it).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
CSV_SUFFIXES = (".csv.gz", ".csv")
PARQUET_SUFFIXES = (".parquet", ".pq")
BAR_FILE_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES

# Accepted spellings, compared lower-cased; the first one present wins. "adj close" is deliberately
# absent: adjusted closes do not match the traded open/high/low of the same bar.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "datetime", "date", "time", "ts"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "symbol": ("symbol", "ticker"),
}

# Epoch numbers below these magnitudes are read in the unit beside them (1e11 s is the year 5138,
# 1e11 ms is 1973), so seconds, milliseconds, microseconds and nanoseconds are told apart.
EpochUnit = Literal["s", "ms", "us", "ns"]
_EPOCH_UNITS: tuple[tuple[float, EpochUnit], ...] = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
# Pandas 3 parses text to microseconds; every source is brought to the same unit so frames compare and combine.
_TIME_UNIT: Final = "us"

BoolArray = NDArray[np.bool_]
NAIVE_TIMESTAMPS: Final = "naive_timestamps"
# ISO 8601 text whose time part ends in Z or an offset (+01:00, -0500, +01) names its time zone
_ZONED = re.compile(r"[T ]\S*?(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")


class BarDataError(ValueError):
    """A bar file that cannot be used; the message names the file, the row (its time and symbol) and what is wrong.

    ``rule`` is a stable code of the rule broken (``nan``, ``unsorted``, ``too_short``, …) for callers.
    """

    def __init__(self, path: str | Path, row: int | None, rule: str, detail: str, at: str | None = None) -> None:
        self.path = Path(path)
        self.row = row
        self.rule = rule
        self.detail = detail
        self.at = at
        where = f"{path} row {row}" if row is not None else str(path)
        super().__init__(f"{where}{f' ({at})' if at else ''}: {detail}")

    def __reduce__(self) -> tuple[type[BarDataError], tuple[Path, int | None, str, str, str | None]]:
        return (BarDataError, (self.path, self.row, self.rule, self.detail, self.at))


def bar_file_stem(path: str | Path) -> str | None:
    """Return the name of a bar file without its format suffix (``x.csv.gz`` -> ``x``), or None if not one."""
    name = Path(path).name
    for suffix in BAR_FILE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def load_bars(path: str | Path, symbol: str | None = None, min_bars: int = 1) -> dict[str, pd.DataFrame]:
    """Read, normalize and validate a bar file into one OHLCV frame per symbol, ordered by symbol.

    Without a symbol column the file holds one symbol, named ``symbol`` or else the file's stem;
    with one, ``symbol`` selects a single symbol of the file. A symbol with fewer than ``min_bars``
    bars is refused (``too_short``), so a caller that needs a history says so here.
    """
    stem = bar_file_stem(path)
    if stem is None:
        accepted = ", ".join(BAR_FILE_SUFFIXES)
        raise BarDataError(path, None, "unsupported_format", f"not a bar file (accepted suffixes: {accepted})")
    table = _read_table(path)
    columns = _resolve_columns(path, table.columns)
    if len(table) == 0:
        raise BarDataError(path, None, "empty", "the file holds no bars")
    rows = np.arange(1, len(table) + 1)
    if "symbol" in columns:
        names, codes, keep = _split_symbols(path, table[columns["symbol"]], rows, symbol)
        if keep is not None:
            table, rows = table[keep], rows[keep]
    else:
        names, codes = [symbol or stem], np.zeros(len(table), dtype=np.intp)
    stamps = _parse_timestamps(path, table[columns["timestamp"]], rows)
    values = np.column_stack([_parse_numbers(table[columns[name]]) for name in BAR_COLUMNS])
    _validate(path, stamps, values, codes, rows, names, table, columns)
    naive = _naive(table[columns["timestamp"]])
    frames = {name: _frame(stamps, values, codes == code, naive) for code, name in enumerate(names)}
    short = next((name for name, frame in sorted(frames.items()) if len(frame) < min_bars), None)
    if short is not None:
        count = len(frames[short])
        raise BarDataError(
            path, None, "too_short", f"{short} has {count} bar{'s' if count != 1 else ''}; at least {min_bars} needed"
        )
    return dict(sorted(frames.items()))


def bar_interval(frame: pd.DataFrame) -> pd.Timedelta:
    """Return the most common spacing between consecutive bars (ties go to the shorter spacing)."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        raise ValueError("bar_interval needs a frame indexed by time with at least two bars")
    steps, counts = np.unique(np.diff(index.asi8), return_counts=True)
    return pd.Timedelta(int(steps[np.argmax(counts)]), unit=index.unit)


def _read_table(path: str | Path) -> pd.DataFrame:
    """Read the raw table, turning the reader's complaints into a BarDataError."""
    try:
        return _read_parquet(path) if Path(path).name.lower().endswith(PARQUET_SUFFIXES) else _read_csv(path)
    except BarDataError:
        raise
    except pd.errors.EmptyDataError:
        raise BarDataError(path, None, "empty", "the file is empty") from None
    except ValueError as exc:  # also pandas' ParserError, a bad encoding and pyarrow's ArrowInvalid
        raise BarDataError(path, None, "unreadable", f"cannot be parsed: {exc}") from None


def _read_csv(path: str | Path) -> pd.DataFrame:
    """Read only the bar columns; symbols stay text even when they look like numbers."""
    columns = _resolve_columns(path, pd.read_csv(path, nrows=0).columns)
    symbol_dtype = {columns["symbol"]: str} if "symbol" in columns else None
    return pd.read_csv(path, usecols=list(columns.values()), dtype=symbol_dtype)


def _read_parquet(path: str | Path) -> pd.DataFrame:
    """Read a Parquet table; an index (as ``DataFrame.to_parquet`` writes a frame's) becomes a column."""
    table = pd.read_parquet(path)
    return table if isinstance(table.index, pd.RangeIndex) else table.reset_index()


def _resolve_columns(path: str | Path, header: Sequence[Hashable] | pd.Index) -> dict[str, str]:
    """Map each canonical field to the file's column spelling (case-insensitive; the symbol is optional)."""
    spelled = {str(name).strip().lower(): str(name) for name in reversed(list(header))}
    resolved: dict[str, str] = {}
    for field, aliases in COLUMN_ALIASES.items():
        found = next((spelled[alias] for alias in aliases if alias in spelled), None)
        if found is not None:
            resolved[field] = found
        elif field != "symbol":
            present = ", ".join(str(name) for name in header) or "none"
            accepted = ", ".join(aliases)
            raise BarDataError(
                path, None, "missing_column", f"no {field} column (accepted: {accepted}; found: {present})"
            )
    return resolved


def _split_symbols(
    path: str | Path, column: pd.Series, rows: NDArray[np.int_], wanted: str | None
) -> tuple[list[str], NDArray[np.intp], BoolArray | None]:
    """Code each row by symbol; with ``wanted``, also return the mask of its rows."""
    text = column.astype("string").str.strip()
    missing = (text.isna() | (text == "")).to_numpy(dtype=bool)
    if missing.any():
        row = int(rows[np.argmax(missing)])
        raise BarDataError(path, row, "missing_symbol", "the symbol is missing")
    if wanted is None:
        codes, uniques = pd.factorize(text)
        return [str(name) for name in uniques], codes.astype(np.intp), None
    keep = (text == wanted).to_numpy(dtype=bool)
    if not keep.any():
        present = ", ".join(sorted(str(name) for name in text.unique()))
        raise BarDataError(path, None, "unknown_symbol", f"symbol {wanted!r} is not in the file (it holds: {present})")
    return [wanted], np.zeros(int(keep.sum()), dtype=np.intp), keep


def _parse_timestamps(path: str | Path, column: pd.Series, rows: NDArray[np.int_]) -> pd.DatetimeIndex:
    """Convert ISO 8601 text (naive means UTC), epoch numbers or datetimes to a UTC index."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        parsed = pd.DatetimeIndex(column).tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(column.dtype):
        parsed = pd.DatetimeIndex(column).tz_localize("UTC")
    elif _looks_like_epoch(column):
        parsed = _from_epoch(column)
    else:
        parsed = pd.DatetimeIndex(pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce"))
    bad = np.asarray(parsed.isna(), dtype=bool)
    if bad.any():
        position = int(np.argmax(bad))
        raw = column.iloc[position]
        detail = (
            "the timestamp is missing"
            if pd.isna(raw)
            else f"timestamp {raw!r} is neither ISO 8601 time nor epoch seconds/milliseconds"
        )
        raise BarDataError(path, int(rows[position]), "bad_timestamp", detail)
    return parsed.as_unit(_TIME_UNIT).rename("timestamp")


def _naive(column: pd.Series) -> bool:
    """Whether the file's times carry no time zone (read as UTC); epoch numbers are UTC by definition."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return False
    if pd.api.types.is_datetime64_dtype(column.dtype):
        return True
    if _looks_like_epoch(column):
        return False
    present = column.dropna()
    return not present.empty and _ZONED.search(str(present.iloc[0]).strip()) is None


def _looks_like_epoch(column: pd.Series) -> bool:
    """Decide by the first present value: a number means epoch time, anything else ISO text."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return False
    if pd.api.types.is_numeric_dtype(column.dtype):
        return True
    present = column.dropna()
    if present.empty:
        return False
    try:
        float(str(present.iloc[0]))
    except ValueError:
        return False
    return True


def _from_epoch(column: pd.Series) -> pd.DatetimeIndex:
    """Read epoch numbers in the unit their magnitude implies."""
    numbers = column if pd.api.types.is_numeric_dtype(column.dtype) else pd.to_numeric(column, errors="coerce")
    magnitudes = np.abs(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    typical = float(np.nanmedian(magnitudes)) if np.isfinite(magnitudes).any() else 0.0
    unit: EpochUnit = next((name for limit, name in _EPOCH_UNITS if typical < limit), "ns")
    return pd.DatetimeIndex(pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce"))


def _parse_numbers(column: pd.Series) -> NDArray[np.float64]:
    """Convert a column to float64; text that is not a number becomes NaN (reported by validation)."""
    numbers = column if pd.api.types.is_numeric_dtype(column.dtype) else pd.to_numeric(column, errors="coerce")
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _validate(
    path: str | Path,
    stamps: pd.DatetimeIndex,
    values: NDArray[np.float64],
    codes: NDArray[np.intp],
    rows: NDArray[np.int_],
    names: list[str],
    table: pd.DataFrame,
    columns: dict[str, str],
) -> None:
    """Raise for the first row (in file order) that breaks a rule; on one row the earlier rule wins."""
    unsorted, duplicate, previous = _order_faults(stamps.asi8, codes)
    open_, high, low, close, volume = values.T
    checks: list[tuple[str, BoolArray]] = [
        ("unsorted", unsorted),
        ("duplicate_timestamp", duplicate),
        ("nan", _any_per_row(~np.isfinite(values))),
        ("non_positive_price", _any_per_row(values[:, :4] <= 0)),
        ("high_below_low", high < low),
        ("close_outside_range", (close < low) | (close > high)),
        ("open_outside_range", (open_ < low) | (open_ > high)),
        ("negative_volume", volume < 0),
    ]
    faults = [(int(np.argmax(mask)), order, rule) for order, (rule, mask) in enumerate(checks) if mask.any()]
    if not faults:
        return
    position, _, rule = min(faults)
    at = _iso(stamps[position])
    if len(names) > 1 or "symbol" in columns:
        at += f", {names[codes[position]]}"
    detail = _describe(rule, position, stamps, values, rows, previous, table, columns)
    raise BarDataError(path, int(rows[position]), rule, detail, at)


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.isoformat().replace("+00:00", "Z")


def _any_per_row(mask: BoolArray) -> BoolArray:
    """Reduce a rows-by-columns mask to one flag per row."""
    return np.asarray(mask.any(axis=1), dtype=bool)


def _order_faults(stamps: NDArray[np.int64], codes: NDArray[np.intp]) -> tuple[BoolArray, BoolArray, NDArray[np.intp]]:
    """Mark bars earlier than, or at the same time as, the previous bar of their symbol (and say which that was)."""
    count = len(stamps)
    # A stable sort by symbol keeps each symbol's bars in file order, so neighbours are consecutive bars.
    order = np.argsort(codes, kind="stable")
    same_symbol = codes[order][1:] == codes[order][:-1]
    steps = np.diff(stamps[order])
    unsorted = np.zeros(count, dtype=bool)
    duplicate = np.zeros(count, dtype=bool)
    previous = np.full(count, -1, dtype=np.intp)
    unsorted[order[1:]] = same_symbol & (steps < 0)
    duplicate[order[1:]] = same_symbol & (steps == 0)
    previous[order[1:]] = np.where(same_symbol, order[:-1], -1)
    return unsorted, duplicate, previous


def _describe(
    rule: str,
    position: int,
    stamps: pd.DatetimeIndex,
    values: NDArray[np.float64],
    rows: NDArray[np.int_],
    previous: NDArray[np.intp],
    table: pd.DataFrame,
    columns: dict[str, str],
) -> str:
    """Say in a few words what is wrong with one row."""
    bar = dict(zip(BAR_COLUMNS, (float(value) for value in values[position]), strict=True))
    if rule in ("unsorted", "duplicate_timestamp"):
        before = int(previous[position])
        if rule == "unsorted":
            return f"the time is earlier than row {rows[before]} ({_iso(stamps[before])})"
        return f"the time repeats row {rows[before]}"
    if rule == "nan":
        name = next(name for name in BAR_COLUMNS if not np.isfinite(bar[name]))
        raw: Any = table[columns[name]].iloc[position]
        if pd.isna(raw):
            return f"{name} is missing"
        if np.isinf(bar[name]):
            return f"{name} is {bar[name]}, not a finite number"
        return f"{name} {str(raw)!r} is not a number"
    if rule == "non_positive_price":
        name = next(name for name in PRICE_COLUMNS if bar[name] <= 0)
        return f"{name} {bar[name]!r} is not positive"
    if rule == "high_below_low":
        return f"high {bar['high']!r} is below low {bar['low']!r}"
    if rule in ("close_outside_range", "open_outside_range"):
        name = rule.split("_", 1)[0]
        return f"{name} {bar[name]!r} is outside [low {bar['low']!r}, high {bar['high']!r}]"
    return f"volume {bar['volume']!r} is negative"


def _frame(stamps: pd.DatetimeIndex, values: NDArray[np.float64], mask: BoolArray, naive: bool) -> pd.DataFrame:
    """Build one symbol's frame from its rows."""
    frame = pd.DataFrame(values[mask], index=stamps[mask], columns=list(BAR_COLUMNS), dtype=np.float64)
    frame.attrs[NAIVE_TIMESTAMPS] = naive
    return frame
