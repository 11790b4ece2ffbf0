"""A backtest's files say what they hold: open round trips, a compact deterministic equity file, honest figures."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from logos.backtest.artifacts import write_backtest, write_equity
from logos.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from logos.data.fixtures import fixture_catalog, fixture_path
from logos.data.loading import load_bars
from logos.strategies import get_strategy
from services.cli import app
from services.cli.backtest_summary import process_seconds

runner = CliRunner()


def buy_and_hold() -> tuple[pd.DataFrame, BacktestConfig, BacktestResult]:
    frame = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    config = BacktestConfig(strategy="buy_and_hold")
    return frame, config, run_backtest(frame, fixture_catalog()["sma_demo_1m"], get_strategy("buy_and_hold"), config)


def test_backtest_when_position_open_at_the_end_then_one_open_round_trip_marked_at_last_close() -> None:
    frame, _, result = buy_and_hold()
    assert result.round_trips == [] and len(result.open_trips) == 1
    trip = result.open_trips[0]
    last_close = Decimal(repr(float(frame["close"].iloc[-1])))
    assert trip.status == "open" and trip.closed_at is None and trip.exit_price == last_close
    assert trip.pnl == (last_close - trip.entry_price) * trip.quantity
    assert trip.fees == result.executions[0].fee
    assert result.metrics.trades == 1 and result.metrics.open_trades == 1
    assert result.metrics.win_rate == (1.0 if trip.net_pnl > 0 else 0.0)
    assert result.metrics.average_trade_pnl == pytest.approx(float(trip.net_pnl))
    assert float(trip.net_pnl) == pytest.approx(result.metrics.end_equity - result.metrics.start_equity)


def test_write_backtest_when_position_open_then_round_trips_csv_marks_it_open_without_close_time(
    tmp_path: Path,
) -> None:
    _, config, result = buy_and_hold()
    run = write_backtest(result, config, fixture_catalog()["sma_demo_1m"], "fixture:sma_demo_1m", tmp_path / "r")
    trips = pd.read_csv(run / "round_trips.csv", dtype=str, keep_default_na=False)
    assert trips["status"].tolist() == ["open"] and trips["closed_at"].tolist() == [""]
    document = json.loads((run / "metrics.json").read_text())
    assert document["metrics"]["trades"] == 1 and document["metrics"]["open_trades"] == 1
    assert document["annualization"]["not_annualized"]["sharpe"] == "span 2.08 days < 30 days"


def test_write_equity_when_written_twice_then_parquet_byte_identical_and_reads_back_every_bar(tmp_path: Path) -> None:
    frame, _, result = buy_and_hold()
    write_equity(result, tmp_path / "one.parquet")
    write_equity(result, tmp_path / "two.parquet")
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()
    equity = pd.read_parquet(tmp_path / "one.parquet")
    assert list(equity.columns) == ["timestamp", "target", "position", "cash", "equity", "drawdown"]
    assert (pd.DatetimeIndex(equity["timestamp"]) == frame.index).all()
    assert equity["equity"].iloc[-1] == pytest.approx(result.metrics.end_equity)
    assert equity["drawdown"].min() == pytest.approx(result.metrics.max_drawdown)


def test_cli_when_span_short_then_summary_says_not_annualized_and_prints_wall_time(tmp_path: Path) -> None:
    args = ["backtest", "--fixture", "sma_demo_1m", "--strategy", "buy_and_hold", "--runs-dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--run-id", "r"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "n/a (span 2.08 days < 365 days)" in lines["CAGR"]
    assert "n/a (span 2.08 days < 30 days)" in lines["Sharpe"] and "n/a" in lines["Sortino"]
    assert "1 (1 open, marked at the last close)" in lines["trades"]
    assert "24/7 calendar, 1-minute bars, 525,960 a year" in result.output
    assert "s wall (simulation " in lines["time:"] and "artifacts " in lines["time:"]


def test_process_seconds_when_called_then_covers_the_time_since_the_process_started() -> None:
    first = process_seconds()
    assert first > 0 and process_seconds() >= first
