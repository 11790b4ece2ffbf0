from __future__ import annotations

import gzip
import importlib.util
import pickle
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from logos.data import (
    BAR_COLUMNS,
    FIXTURES_DIR,
    BarDataError,
    bar_interval,
    fixture_catalog,
    fixture_path,
    fixtures_dir,
    list_fixtures,
    load_bars,
)
from logos.symbols import AssetClass

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR = REPO_ROOT / "data" / "generate_fixtures.py"
HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2024-01-01T00:00:00Z,100,101,99,100.5,10\n2024-01-01T00:01:00Z,100.5,102,100,101,12\n"


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import data/generate_fixtures.py, a script outside every package."""
    spec = importlib.util.spec_from_file_location("generate_fixtures", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- the bundled fixtures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("crypto_1m", {"BTC-USD": 7200, "ETH-USD": 7200}),
        ("equities_1m", {"AAPL": 1950, "MSFT": 1950}),
        ("sma_demo_1m", {"sma_demo_1m": 3000}),
    ],
)
def test_load_bars_when_fixture_loaded_then_symbols_and_bar_counts_match(name: str, counts: dict[str, int]) -> None:
    frames = load_bars(fixture_path(name))
    assert list(frames) == sorted(counts)
    for symbol, frame in frames.items():
        assert len(frame) == counts[symbol]
        assert list(frame.columns) == list(BAR_COLUMNS)
        assert (frame.dtypes == np.float64).all()
        assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC"
        assert frame.index.name == "timestamp" and frame.index.is_monotonic_increasing
        assert bar_interval(frame) == pd.Timedelta(minutes=1)


@pytest.mark.parametrize("name", ["crypto_1m", "equities_1m", "sma_demo_1m"])
def test_fixture_when_loaded_then_prices_on_tick_and_bars_consistent(name: str) -> None:
    for frame in load_bars(fixture_path(name)).values():
        prices = frame[["open", "high", "low", "close"]].to_numpy()
        assert np.allclose(prices * 100, np.round(prices * 100), atol=1e-6)
        assert (frame.high >= frame[["open", "close"]].max(axis=1)).all()
        assert (frame.low <= frame[["open", "close"]].min(axis=1)).all()
        assert (frame.low > 0).all() and (frame.volume >= 0).all()


def test_crypto_fixture_when_loaded_then_five_full_days_near_expected_prices() -> None:
    frames = load_bars(fixture_path("crypto_1m"))
    btc, eth = frames["BTC-USD"], frames["ETH-USD"]
    assert btc.index[0] == pd.Timestamp("2024-01-01T00:00Z") and btc.index[-1] == pd.Timestamp("2024-01-05T23:59Z")
    assert btc.index.equals(eth.index) and len(pd.DatetimeIndex(btc.index).normalize().unique()) == 5
    assert 35_000 < btc.close.median() < 50_000 and 1_900 < eth.close.median() < 2_700
    assert (btc.volume != btc.volume.round()).any()  # fractional volumes


def test_equities_fixture_when_loaded_then_new_york_sessions_in_utc_with_gaps() -> None:
    aapl = load_bars(fixture_path("equities_1m"), symbol="AAPL")["AAPL"]
    index = pd.DatetimeIndex(aapl.index)
    assert [day.day for day in index.normalize().unique()] == [2, 3, 4, 5, 8]
    assert aapl.groupby(index.normalize()).size().eq(390).all()
    clock = index.strftime("%H:%M")
    assert clock.min() == "14:30" and clock.max() == "20:59"
    assert 170 < aapl.close.median() < 200 and (aapl.volume == aapl.volume.round()).all()
    first_bars = clock == "14:30"
    previous_closes = aapl.close.shift(1)[first_bars].dropna()
    assert (aapl.open[first_bars].iloc[1:] != previous_closes).any()  # overnight gaps


def test_fixture_catalog_when_loaded_then_every_fixture_symbol_has_its_spec() -> None:
    catalog = fixture_catalog()
    symbols = {symbol for name in list_fixtures() for symbol in load_bars(fixture_path(name))}
    assert symbols == set(catalog)
    btc, aapl = catalog["BTC-USD"], catalog["AAPL"]
    assert btc.asset_class is AssetClass.CRYPTO and btc.lot_size == Decimal("0.0001") and btc.fractionable
    assert btc.min_notional == Decimal("10") and btc.tick_size == Decimal("0.01")
    assert aapl.asset_class is AssetClass.EQUITY and aapl.lot_size == Decimal("1") and not aapl.fractionable


def test_list_fixtures_when_bundled_then_names_are_file_stems() -> None:
    assert list_fixtures() == ["crypto_1m", "equities_1m", "sma_demo_1m"]
    assert fixture_path("crypto_1m") == FIXTURES_DIR / "crypto_1m.csv"


def test_fixture_path_when_name_unknown_then_key_error_lists_known_names() -> None:
    with pytest.raises(KeyError, match="crypto_1m, equities_1m, sma_demo_1m"):
        fixture_path("nope")


def test_fixtures_dir_when_overridden_then_override_used_else_repository_copy(tmp_path: Path) -> None:
    assert fixtures_dir(tmp_path) == tmp_path
    assert fixtures_dir() == REPO_ROOT / "data" / "fixtures"
    write(tmp_path, HEADER + GOOD, "mine.csv.gz")
    assert list_fixtures(tmp_path) == ["mine"]


def test_generator_when_run_into_tmp_dir_then_bytes_equal_committed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = load_generator(monkeypatch).main(tmp_path)
    names = sorted(path.name for path in written)
    assert names == ["crypto_1m.csv", "equities_1m.csv", "sma_demo_1m.csv", "symbols.json"]
    for name in names:
        assert (tmp_path / name).read_bytes() == (FIXTURES_DIR / name).read_bytes(), f"{name} differs"
    assert sum((FIXTURES_DIR / name).stat().st_size for name in names) < 3_000_000


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "row", "rule", "detail"),
    [
        (GOOD + "2024-01-01T00:00:30Z,100,101,99,100,1\n", 3, "unsorted", "is earlier than row 2"),
        (GOOD + "2024-01-01T00:01:00Z,100,101,99,100,1\n", 3, "duplicate_timestamp", "the time repeats row 2"),
        (GOOD + "2024-01-01T00:02:00Z,100,,99,100,1\n", 3, "nan", "high is missing"),
        (GOOD + "2024-01-01T00:02:00Z,100,101,99,abc,1\n", 3, "nan", "close 'abc' is not a number"),
        (GOOD + "2024-01-01T00:02:00Z,100,101,99,100,\n", 3, "nan", "volume is missing"),
        (GOOD + "2024-01-01T00:02:00Z,0,101,0,100,1\n", 3, "non_positive_price", "open 0.0 is not positive"),
        (GOOD + "2024-01-01T00:02:00Z,100,99.5,100.0,100,1\n", 3, "high_below_low", "high 99.5 is below low 100.0"),
        (GOOD + "2024-01-01T00:02:00Z,100,101,99,101.5,1\n", 3, "close_outside_range", "close 101.5 is outside"),
        (GOOD + "2024-01-01T00:02:00Z,98,101,99,100,1\n", 3, "open_outside_range", "open 98.0 is outside"),
        (GOOD + "2024-01-01T00:02:00Z,100,101,99,100,-1\n", 3, "negative_volume", "volume -1.0 is negative"),
        (GOOD + "yesterday,100,101,99,100,1\n", 3, "bad_timestamp", "'yesterday'"),
        (GOOD + ",100,101,99,100,1\n", 3, "bad_timestamp", "the timestamp is missing"),
    ],
)
def test_load_bars_when_rule_broken_then_error_names_file_row_and_rule(
    tmp_path: Path, rows: str, row: int, rule: str, detail: str
) -> None:
    path = write(tmp_path, HEADER + rows)
    with pytest.raises(BarDataError) as caught:
        load_bars(path)
    error = caught.value
    assert (error.path, error.row, error.rule) == (path, row, rule)
    assert str(error).startswith(f"{path} row {row}")
    assert detail in str(error)
    assert f"({rule})" not in str(error)


def test_load_bars_when_high_below_low_then_message_is_one_readable_line(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-01T00:{minute:02d}:00Z,100,101,99,100,1\n" for minute in range(16))
    path = write(tmp_path, HEADER + rows + "2024-01-01T00:16:00Z,100,99.5,100.0,100,1\n", "x.csv")
    with pytest.raises(BarDataError) as caught:
        load_bars(path)
    assert str(caught.value) == f"{path} row 17 (2024-01-01T00:16:00Z): high 99.5 is below low 100.0"


@pytest.mark.parametrize("price", ["inf", "-inf"])
def test_load_bars_when_price_is_infinite_then_message_names_row_time_symbol_and_value(
    tmp_path: Path, price: str
) -> None:
    rows = "".join(f"2024-01-01T00:{minute:02d}:00Z,BTC-USD,100,101,99,100,1\n" for minute in range(16))
    text = (
        "timestamp,symbol,open,high,low,close,volume\n" + rows + f"2024-01-01T00:16:00Z,BTC-USD,100,101,99,{price},1\n"
    )
    path = write(tmp_path, text, "x.csv")
    with pytest.raises(BarDataError) as caught:
        load_bars(path)
    assert str(caught.value) == f"{path} row 17 (2024-01-01T00:16:00Z, BTC-USD): close is {price}, not a finite number"
    assert caught.value.rule == "nan"


def test_load_bars_when_a_symbol_has_fewer_bars_than_needed_then_too_short_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + GOOD.splitlines(keepends=True)[0], "one.csv")
    assert len(load_bars(path)["one"]) == 1
    with pytest.raises(BarDataError) as caught:
        load_bars(path, min_bars=2)
    assert (caught.value.row, caught.value.rule) == (None, "too_short")
    assert str(caught.value) == f"{path}: one has 1 bar; at least 2 needed"


def test_load_bars_when_several_rows_bad_then_first_row_reported(tmp_path: Path) -> None:
    rows = GOOD + "2024-01-01T00:02:00Z,100,101,99,100,-1\n2024-01-01T00:03:00Z,100,99,101,100,1\n"
    with pytest.raises(BarDataError) as caught:
        load_bars(write(tmp_path, HEADER + rows))
    assert (caught.value.row, caught.value.rule) == (3, "negative_volume")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("timestamp,open,high,close,volume\n2024-01-01,1,1,1,1\n", "missing_column"),
        (HEADER, "empty"),
        ("", "empty"),
    ],
)
def test_load_bars_when_file_unusable_then_error_without_row(tmp_path: Path, text: str, rule: str) -> None:
    with pytest.raises(BarDataError) as caught:
        load_bars(write(tmp_path, text))
    assert (caught.value.row, caught.value.rule) == (None, rule)


def test_load_bars_when_column_missing_then_message_lists_accepted_and_found(tmp_path: Path) -> None:
    with pytest.raises(BarDataError, match=r"no low column \(accepted: low, l; found: timestamp, open, high"):
        load_bars(write(tmp_path, "timestamp,open,high,close,volume\n2024-01-01,1,1,1,1\n"))


def test_load_bars_when_suffix_unknown_then_unsupported_format(tmp_path: Path) -> None:
    with pytest.raises(BarDataError) as caught:
        load_bars(write(tmp_path, HEADER + GOOD, "bars.txt"))
    assert caught.value.rule == "unsupported_format"


def test_bar_data_error_when_pickled_then_attributes_survive() -> None:
    error = pickle.loads(pickle.dumps(BarDataError("data/x.csv", 17, "nan", "open is missing", "2024-01-01T00:16:00Z")))
    assert (error.path, error.row, error.rule, error.at, str(error)) == (
        Path("data/x.csv"),
        17,
        "nan",
        "2024-01-01T00:16:00Z",
        "data/x.csv row 17 (2024-01-01T00:16:00Z): open is missing",
    )


# --- spellings and timestamps -----------------------------------------------------------------------


def test_load_bars_when_yahoo_style_then_columns_read_and_adj_close_ignored(tmp_path: Path) -> None:
    text = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,187.15,188.44,183.89,185.64,184.29,82488700\n"
        "2024-01-03,184.22,185.88,183.43,184.25,182.91,58414500\n"
        "2024-01-05,181.99,182.76,180.17,181.18,179.87,62303300\n"
    )
    frame = load_bars(write(tmp_path, text, "AAPL.csv"))["AAPL"]
    assert frame.close.tolist() == [185.64, 184.25, 181.18]
    assert frame.index[0] == pd.Timestamp("2024-01-02T00:00Z")
    assert bar_interval(frame) == pd.Timedelta(days=1)


def test_load_bars_when_short_names_mixed_case_then_read(tmp_path: Path) -> None:
    frame = load_bars(write(tmp_path, "TS,O,H,L,C,Vol\n" + GOOD), symbol="X")["X"]
    assert frame.loc[pd.Timestamp("2024-01-01T00:01Z"), "high"] == 102.0


@pytest.mark.parametrize(
    "stamps",
    [
        ("1704067200", "1704067260"),  # epoch seconds
        ("1704067200000", "1704067260000"),  # epoch milliseconds
        ("2024-01-01 00:00:00", "2024-01-01T00:01:00"),  # naive: taken as UTC
        ("2023-12-31T19:00:00-05:00", "2024-01-01T01:01:00+01:00"),  # offsets: converted to UTC
    ],
)
def test_load_bars_when_timestamps_in_any_accepted_form_then_utc(tmp_path: Path, stamps: tuple[str, str]) -> None:
    text = f"time,open,high,low,close,volume\n{stamps[0]},1,2,1,1.5,3\n{stamps[1]},1.5,2,1,1.5,3\n"
    frame = load_bars(write(tmp_path, text))["bars"]
    expected = pd.DatetimeIndex(["2024-01-01T00:00Z", "2024-01-01T00:01Z"], name="timestamp")
    assert pd.DatetimeIndex(frame.index).equals(expected)


@pytest.mark.parametrize(
    ("first", "naive"),
    [
        ("2024-01-01 00:00:00", True),
        ("2024-01-01", True),
        ("2024-01-01T00:00:00Z", False),
        ("2024-01-01T01:00:00+01:00", False),
        ("2023-12-31T19:00:00-0500", False),
        ("1704067200", False),
    ],
)
def test_load_bars_when_timestamps_have_no_zone_then_frame_says_naive(tmp_path: Path, first: str, naive: bool) -> None:
    frame = load_bars(write(tmp_path, f"time,open,high,low,close,volume\n{first},1,2,1,1.5,3\n"))["bars"]
    assert frame.attrs["naive_timestamps"] is naive
    assert frame.index[0] == pd.Timestamp("2024-01-01T00:00Z")


def test_load_bars_when_parquet_times_are_naive_then_frame_says_naive(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01"]),
            "open": [1.0, 1.0],
            "high": [2.0, 2.0],
            "low": [1.0, 1.0],
            "close": [1.5, 1.5],
            "volume": [3.0, 3.0],
        }
    )
    table.to_parquet(tmp_path / "naive.parquet", index=False)
    assert load_bars(tmp_path / "naive.parquet")["naive"].attrs["naive_timestamps"] is True


def test_load_bars_when_gzipped_csv_then_stem_names_symbol(tmp_path: Path) -> None:
    path = tmp_path / "ethusd.csv.gz"
    path.write_bytes(gzip.compress((HEADER + GOOD).encode()))
    assert list(load_bars(path)) == ["ethusd"]


# --- parquet ----------------------------------------------------------------------------------------


def test_load_bars_when_frame_saved_as_parquet_then_round_trips(tmp_path: Path) -> None:
    original = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    path = tmp_path / "demo.parquet"
    original.to_parquet(path)
    loaded = load_bars(path)["demo"]
    pd.testing.assert_frame_equal(loaded, original)


def test_load_bars_when_parquet_has_symbols_and_epoch_ms_then_split(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "Ticker": ["A", "B", "A", "B"],
            "ts": [1704067200000, 1704067200000, 1704067260000, 1704067260000],
            "o": [1.0, 2.0, 1.0, 2.0],
            "h": [1.0, 2.0, 1.0, 2.0],
            "l": [1.0, 2.0, 1.0, 2.0],
            "c": [1.0, 2.0, 1.0, 2.0],
            "v": [0, 1, 2, 3],
        }
    )
    path = tmp_path / "pair.pq"
    table.to_parquet(path, index=False)
    frames = load_bars(path)
    assert list(frames) == ["A", "B"] and frames["B"].volume.tolist() == [1.0, 3.0]
    assert frames["A"].index[1] == pd.Timestamp("2024-01-01T00:01Z")


# --- several symbols --------------------------------------------------------------------------------

MULTI = (
    "timestamp,symbol,open,high,low,close,volume\n"
    "2024-01-01T00:00:00Z,ZED,10,11,9,10,1\n"
    "2024-01-01T00:00:00Z,ABC,20,21,19,20,1\n"
    "2024-01-01T00:01:00Z,ZED,10,11,9,10,1\n"
    "2024-01-01T00:01:00Z,ABC,20,21,19,20,1\n"
)


def test_load_bars_when_symbol_column_then_split_and_ordered_by_name(tmp_path: Path) -> None:
    frames = load_bars(write(tmp_path, MULTI))
    assert list(frames) == ["ABC", "ZED"]
    assert frames["ABC"].close.tolist() == [20.0, 20.0] and len(frames["ZED"]) == 2


def test_load_bars_when_symbol_selected_then_only_that_symbol(tmp_path: Path) -> None:
    frames = load_bars(write(tmp_path, MULTI), symbol="ZED")
    assert list(frames) == ["ZED"] and frames["ZED"].close.tolist() == [10.0, 10.0]


def test_load_bars_when_symbol_absent_then_unknown_symbol_lists_present(tmp_path: Path) -> None:
    with pytest.raises(BarDataError, match=r"'XRP' is not in the file \(it holds: ABC, ZED\)") as caught:
        load_bars(write(tmp_path, MULTI), symbol="XRP")
    assert caught.value.rule == "unknown_symbol"


def test_load_bars_when_one_symbol_unsorted_then_its_file_row_reported(tmp_path: Path) -> None:
    path = write(tmp_path, MULTI + "2024-01-01T00:02:00Z,ZED,10,11,9,10,1\n2024-01-01T00:00:30Z,ABC,20,21,19,20,1\n")
    with pytest.raises(BarDataError) as caught:
        load_bars(path)
    assert (caught.value.row, caught.value.rule) == (6, "unsorted")
    assert str(caught.value).endswith(
        "row 6 (2024-01-01T00:00:30Z, ABC): the time is earlier than row 4 (2024-01-01T00:01:00Z)"
    )


def test_load_bars_when_symbol_blank_then_missing_symbol(tmp_path: Path) -> None:
    with pytest.raises(BarDataError) as caught:
        load_bars(write(tmp_path, MULTI + "2024-01-01T00:02:00Z,,10,11,9,10,1\n"))
    assert (caught.value.row, caught.value.rule) == (5, "missing_symbol")


# --- bar_interval -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_index", "expected"),
    [
        (lambda: pd.date_range("2024-01-01", periods=10, freq="5min", tz="UTC"), pd.Timedelta(minutes=5)),
        (lambda: pd.bdate_range("2024-01-01", periods=15, tz="UTC"), pd.Timedelta(days=1)),
        (
            lambda: pd.date_range("2024-01-02 14:30", periods=3, freq="min", tz="UTC").append(
                pd.date_range("2024-01-03 14:30", periods=3, freq="min", tz="UTC")
            ),
            pd.Timedelta(minutes=1),
        ),
    ],
)
def test_bar_interval_when_gaps_present_then_most_common_spacing(
    make_index: Callable[[], pd.DatetimeIndex], expected: pd.Timedelta
) -> None:
    index = make_index()
    frame = pd.DataFrame({"close": np.ones(len(index))}, index=index)
    assert bar_interval(frame) == expected


def test_bar_interval_when_single_bar_then_value_error() -> None:
    frame = pd.DataFrame({"close": [1.0]}, index=pd.DatetimeIndex(["2024-01-01"], tz="UTC"))
    with pytest.raises(ValueError, match="at least two bars"):
        bar_interval(frame)
