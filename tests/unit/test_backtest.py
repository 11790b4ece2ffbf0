"""The backtest end to end: determinism, golden artifacts, accounting identities and the CLI."""

from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from logos.backtest.engine import BacktestConfig, run_backtest
from logos.data.fixtures import fixture_catalog, fixture_path
from logos.data.loading import load_bars
from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.strategies import get_strategy
from services.cli import app

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "sma_cross_sma_demo"
ARTIFACTS = ["metrics.json", "trades.csv", "round_trips.csv", "equity.parquet", "config.yaml"]
runner = CliRunner()


def backtest(runs: Path, run_id: str, *extra: str) -> Path:
    args = ["backtest", "--fixture", "sma_demo_1m", "--strategy", "sma_cross", "--runs-dir", str(runs)]
    result = runner.invoke(app, [*args, "--run-id", run_id, *extra])
    assert result.exit_code == 0, result.output
    return runs / run_id


def test_backtest_when_run_twice_then_artifacts_byte_identical_and_match_golden(tmp_path: Path) -> None:
    first, second = backtest(tmp_path, "one"), backtest(tmp_path, "two")
    for name in ARTIFACTS:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "equity.png").stat().st_size > 10_000 and (first / "logs" / "run.log").read_text()
    if os.environ.get("LOGOS_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.json", "trades.csv"):
            shutil.copyfile(first / name, GOLDEN / name)
    for name in ("metrics.json", "trades.csv"):
        assert (first / name).read_text() == (GOLDEN / name).read_text(), f"{name} differs from the golden file"


def test_backtest_when_written_then_artifacts_agree_with_each_other(tmp_path: Path) -> None:
    run = backtest(tmp_path, "r")
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    trades = pd.read_csv(run / "trades.csv", dtype=str)
    trips = pd.read_csv(run / "round_trips.csv", dtype=str)
    equity = pd.read_parquet(run / "equity.parquet")
    bars = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    last = trades.iloc[-1]
    final = Decimal(last["cash_after"]) + Decimal(last["position_after"]) * Decimal(repr(float(bars["close"].iloc[-1])))
    assert abs(float(final) - metrics["end_equity"]) < 1e-6
    assert len(trades) == metrics["fills"] and len(trips) == metrics["trades"]
    assert float(sum(Decimal(fee) for fee in trades["fee"])) == pytest.approx(metrics["fees"], abs=1e-6)
    closed = trips[trips["status"] == "closed"]
    assert sum(Decimal(p) for p in trades["realized_pnl"]) == sum(Decimal(p) for p in closed["pnl"])
    assert len(trips) - len(closed) == metrics["open_trades"] == 1
    assert sum(Decimal(p) for p in trips["net_pnl"]) == final - Decimal(metrics["start_equity"])
    assert len(equity) == len(bars) and equity["equity"].iloc[-1] == pytest.approx(metrics["end_equity"])
    assert metrics["max_drawdown"] == pytest.approx(equity["drawdown"].min())


def test_engine_when_participation_capped_then_orders_fill_over_several_bars() -> None:
    frame = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    spec = fixture_catalog()["sma_demo_1m"]
    strategy = get_strategy("sma_cross")
    capped = BacktestConfig(strategy="sma_cross", fills=FillModelConfig(participation_cap=Decimal("0.01")))
    result = run_backtest(frame, spec, strategy, capped)
    per_order: dict[str, int] = {}
    for execution in result.executions:
        per_order[execution.order_id] = per_order.get(execution.order_id, 0) + 1
    assert max(per_order.values()) > 1
    volume = {ts: Decimal(repr(float(v))) for ts, v in frame["volume"].items()}
    assert all(e.quantity <= volume[pd.Timestamp(e.ts)] * Decimal("0.01") for e in result.executions)


def test_engine_when_close_timing_then_fills_on_the_decision_bar() -> None:
    frame = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    spec = fixture_catalog()["sma_demo_1m"]
    config = BacktestConfig(strategy="sma_cross", fills=FillModelConfig(timing=FillTiming.CLOSE))
    result = run_backtest(frame, spec, get_strategy("sma_cross"), config)
    first = result.executions[0]
    decided = int((result.targets != 0).argmax())
    assert pd.Timestamp(first.ts) == frame.index[decided]
    assert first.price == Decimal(repr(float(frame["close"].iloc[decided])))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "sma_cross"], "give exactly one of --data PATH or --fixture NAME"),
        (["--fixture", "crypto_1m", "--strategy", "sma_cross", "--sizing", "vol:0.2"], "volatility sizing is not"),
        (["--fixture", "crypto_1m", "--strategy", "sma_cross", "--risk-limit", "max_gros=1"], "did you mean max_gross"),
        (["--fixture", "crypto_1m", "--strategy", "sma_cross", "--risk-limit", "max_drawdown"], "NAME=VALUE"),
        (["--fixture", "crypto_1m", "--strategy", "sma_cross", "--risk-limit", "max_drawdown=lots"], "max_drawdown"),
        (["--fixture", "sma_demo_1m", "--strategy", "nope"], "unknown strategy 'nope'"),
        (["--fixture", "sma_demo_1m", "--strategy", "sma_cross", "--param", "fast=40"], "fast (40) must be shorter"),
        (["--fixture", "sma_demo_1m", "--strategy", "sma_cross", "--sizing", "kelly"], "use equity:FRACTION"),
        (["--fixture", "sma_demo_1m", "--strategy", "sma_cross", "--cash", "lots"], "--cash must be a number"),
        (["--fixture", "crypto_1m", "--symbol", "DOGE", "--strategy", "sma_cross"], "DOGE"),
    ],
)
def test_cli_when_arguments_wrong_then_one_line_error_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["backtest", *args, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_when_data_invalid_then_names_file_row_and_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,10,11,9,10,5\n"
                   "2024-01-01T00:01:00Z,10,9,11,10,5\n")  # fmt: skip
    result = runner.invoke(
        app, ["backtest", "--data", str(bad), "--strategy", "sma_cross", "--runs-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "bad.csv" in result.output and "row 2" in result.output
    assert "(2024-01-01T00:01:00Z): high 9.0 is below low 11.0" in result.output


def test_cli_when_run_id_taken_then_refused_without_touching_it(tmp_path: Path) -> None:
    run = backtest(tmp_path, "taken")
    before = (run / "metrics.json").read_bytes()
    result = runner.invoke(
        app, ["backtest", "--fixture", "sma_demo_1m", "--strategy", "buy_and_hold", "--runs-dir", str(tmp_path),
              "--run-id", "taken"],
    )  # fmt: skip
    assert result.exit_code == 2 and "exists already" in result.output
    assert (run / "metrics.json").read_bytes() == before


def test_strategies_cli_when_listed_and_shown_then_registry_and_schema_printed() -> None:
    listed = runner.invoke(app, ["strategies", "list"])
    assert listed.exit_code == 0 and "donchian_breakout" in listed.output
    shown = runner.invoke(app, ["strategies", "show", "rsi_reversion"])
    assert shown.exit_code == 0 and "period" in shown.output and "default 14" in shown.output
    assert "logos backtest --fixture" in shown.output
    assert runner.invoke(app, ["strategies", "show", "nope"]).exit_code == 2
