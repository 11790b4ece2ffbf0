from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from logos.data import fixture_path, load_bars
from logos.data.quality import data_report


def _bars(name: str, symbol: str) -> pd.DataFrame:
    return load_bars(fixture_path(name))[symbol]


@pytest.mark.parametrize(
    ("name", "symbol", "sessions"),
    [("equities_1m", "AAPL", True), ("crypto_1m", "BTC-USD", False), ("sma_demo_1m", "sma_demo_1m", False)],
)
def test_data_report_when_fixture_is_whole_then_no_gaps(name: str, symbol: str, sessions: bool) -> None:
    report = data_report(_bars(name, symbol))
    assert (report.gaps, report.sessions, report.naive_timestamps) == (0, sessions, False)
    assert report.interval == pd.Timedelta(minutes=1)
    assert len(report.lines()) == 1


def test_data_report_when_a_session_has_a_50_minute_hole_then_one_gap_and_closures_are_not_gaps() -> None:
    frame = _bars("equities_1m", "AAPL")
    holed = frame.drop(frame.index[100:149])  # 16:10 to 16:58 on 2024-01-02: 50 minutes from bar to bar
    report = data_report(holed)
    assert (report.sessions, report.gaps) == (True, 1)
    assert report.largest_gap == pd.Timedelta(minutes=50)
    assert report.largest_gap_after == pd.Timestamp("2024-01-02T16:09Z")
    assert report.lines()[1] == "data: 1 gap longer than 5 bars (largest 50m after 2024-01-02T16:09:00Z)"
    section = report.as_dict()
    assert section["gaps"] == 1 and section["largest_gap_seconds"] == 3000.0
    assert section["gap_threshold_seconds"] == 300.0 and section["largest_gap_after"] == "2024-01-02T16:09:00Z"


def test_data_report_when_24_7_data_misses_the_hour_around_midnight_then_it_is_a_gap() -> None:
    frame = _bars("crypto_1m", "BTC-USD")
    holed = frame.drop(frame.index[1410:1470])  # 23:30 to 00:29
    report = data_report(holed)
    assert (report.sessions, report.gaps, report.largest_gap) == (False, 1, pd.Timedelta(minutes=61))


def test_data_report_when_holes_are_short_then_they_are_not_gaps() -> None:
    frame = _bars("crypto_1m", "BTC-USD")
    assert data_report(frame.drop(frame.index[[10, 11, 12, 13, 500]])).gaps == 0  # 5 bars apart at most


def test_data_report_when_daily_bars_skip_weekends_then_no_gaps_but_two_missing_weeks_are_one(tmp_path: Path) -> None:
    days = pd.bdate_range("2024-01-01", "2024-03-29")
    rows = "".join(f"{day:%Y-%m-%d},1,2,1,1.5,3\n" for day in days.delete(range(20, 30)))  # Fri 26 Jan to Mon 12 Feb
    path = tmp_path / "daily.csv"
    path.write_text("date,open,high,low,close,volume\n" + rows)
    report = data_report(load_bars(path)["daily"])
    assert (report.interval, report.gaps, report.largest_gap) == (pd.Timedelta(days=1), 1, pd.Timedelta(days=17))
    assert report.naive_timestamps is True
    assert report.lines()[-1] == "data: timestamps have no time zone; read as UTC"
    assert report.as_dict()["timestamps"] == "naive, read as UTC"


def test_data_report_when_one_bar_then_no_interval_and_no_gaps() -> None:
    report = data_report(_bars("crypto_1m", "BTC-USD").iloc[:1])
    assert (report.bars, report.interval, report.gaps) == (1, None, 0)
    assert report.as_dict()["interval_seconds"] is None
