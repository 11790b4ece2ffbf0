"""What logos backtest says about its data: too few bars refused in one line, gaps and naive times reported."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from logos.data import fixture_path
from services.cli import app

runner = CliRunner()


def _fixture_rows(name: str, symbol: str) -> list[str]:
    lines = fixture_path(name).read_text().splitlines()
    return [lines[0], *(line for line in lines[1:] if f",{symbol}," in line)]


def test_backtest_when_the_file_has_one_bar_then_one_line_naming_the_file_and_the_bars_needed(tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("\n".join(_fixture_rows("crypto_1m", "BTC-USD")[:2]) + "\n")
    result = runner.invoke(
        app, ["backtest", "--data", str(data), "--strategy", "buy_and_hold", "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {data}: BTC-USD has 1 bar; at least 2 needed for a backtest"]
    assert not (tmp_path / "runs").exists()


def test_backtest_when_a_session_has_a_hole_and_times_are_naive_then_summary_and_metrics_report_them(
    tmp_path: Path,
) -> None:
    header, *rows = _fixture_rows("equities_1m", "AAPL")
    kept = rows[:100] + rows[149:]  # 16:10 to 16:58 of the first session missing: a 50-minute step
    data = tmp_path / "aapl.csv"
    data.write_text("\n".join([header, *(row.replace("Z,", ",", 1) for row in kept)]) + "\n")
    arguments = ["backtest", "--data", str(data), "--strategy", "buy_and_hold", "--runs-dir", str(tmp_path)]
    result = runner.invoke(app, [*arguments, "--run-id", "holed"])
    assert result.exit_code == 0, result.output
    assert "data: 1 gap longer than 5 bars (largest 50m after 2024-01-02T16:09:00Z)" in result.output
    assert "data: timestamps have no time zone; read as UTC" in result.output
    section = json.loads((tmp_path / "holed" / "metrics.json").read_text())["data"]
    assert section == {
        "bars": 1901,
        "first": "2024-01-02T14:30:00Z",
        "last": "2024-01-08T20:59:00Z",
        "interval_seconds": 60.0,
        "sessions": True,
        "gap_threshold_seconds": 300.0,
        "gaps": 1,
        "largest_gap_seconds": 3000.0,
        "largest_gap_after": "2024-01-02T16:09:00Z",
        "naive_timestamps": True,
        "timestamps": "naive, read as UTC",
    }
    assert "data: 1 gap longer than 5 bars" in (tmp_path / "holed" / "logs" / "run.log").read_text()


def test_backtest_when_the_fixture_has_only_session_closures_then_no_gaps_are_reported(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "backtest",
            "--fixture",
            "equities_1m",
            "--symbol",
            "MSFT",
            "--strategy",
            "buy_and_hold",
            "--runs-dir",
            str(tmp_path),
            "--run-id",
            "msft",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "one bar every 1m, no gaps (market sessions" in result.output
    section = json.loads((tmp_path / "msft" / "metrics.json").read_text())["data"]
    assert (section["gaps"], section["sessions"], section["naive_timestamps"]) == (0, True, False)
    assert pd.Timestamp(section["last"]) - pd.Timestamp(section["first"]) > pd.Timedelta(days=6)
