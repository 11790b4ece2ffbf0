"""One account across symbols, through the risk engine: the backtest equals the paper session fill for fill."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from logos.backtest.account import run_account_backtest
from logos.backtest.engine import BacktestConfig, run_backtest
from logos.data.fixtures import fixture_catalog, fixture_path
from logos.data.loading import load_bars
from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.orders.sizing import parse_sizing
from logos.risk.limits import DEFAULT_LIMITS
from logos.strategies import get_strategy
from services.cli import app
from services.cli.replay_compare import compare_trades, expected_fills
from services.executor.config import ExecutorSettings
from services.ml.config import MLSettings

runner = CliRunner()
FILL_COLUMNS = ("ts", "symbol", "side", "quantity", "price", "fee", "realized_pnl", "position_after", "cash_after")


def _fills(executions: list) -> list[tuple[object, ...]]:
    return [tuple(getattr(e, name) for name in FILL_COLUMNS) for e in executions]


@pytest.mark.parametrize(
    ("fixture", "symbol", "strategy", "params", "timing", "sizing"),
    [
        ("crypto_1m", "BTC-USD", "sma_cross", {"fast": 20, "slow": 60, "allow_short": True}, "next_open", "equity:1"),
        ("crypto_1m", "ETH-USD", "donchian_breakout", {}, "close", "notional:20000"),
        ("equities_1m", "AAPL", "rsi_reversion", {}, "next_open", "equity:0.5"),
    ],
)
def test_account_backtest_when_one_symbol_without_limits_then_fills_equal_the_single_symbol_engine(
    fixture: str, symbol: str, strategy: str, params: dict[str, object], timing: str, sizing: str
) -> None:
    frames = load_bars(fixture_path(fixture), symbol)
    specs = fixture_catalog()
    config = BacktestConfig(strategy=strategy, params=params, sizing=parse_sizing(sizing),
                            fills=FillModelConfig(timing=FillTiming(timing)))  # fmt: skip
    single = run_backtest(frames[symbol], specs[symbol], get_strategy(strategy), config)
    account = run_account_backtest(frames, specs, get_strategy(strategy), config)

    assert len(single.executions) > 4
    assert _fills(account.executions) == _fills(single.executions)
    assert account.metrics.end_equity == pytest.approx(single.metrics.end_equity, abs=1e-6)
    assert account.metrics.trades == single.metrics.trades


def _truncated(tmp_path: Path, bars: int) -> Path:
    data = tmp_path / "crypto.csv"
    pd.read_csv(fixture_path("crypto_1m")).head(bars).to_csv(data, index=False)
    return data


@pytest.mark.parametrize(
    ("sizing", "limits"),
    [
        ("notional:20000", {"MAX_GROSS_EXPOSURE": "30000", "MAX_ORDERS_PER_MINUTE": "2"}),
        ("equity:0.3", {"MAX_ORDER_NOTIONAL": "off", "MAX_POSITION_NOTIONAL": "40000", "MAX_GROSS_EXPOSURE": "45000"}),
    ],
)
def test_paper_session_when_limits_bind_on_two_symbols_then_equals_the_account_backtest(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizing: str, limits: dict[str, str]
) -> None:
    for name, value in limits.items():
        monkeypatch.setenv(f"RISK_LIMITS__{name}", value)
    data = _truncated(tmp_path, 3000)  # 1,500 bars of each symbol, sharing one account
    strategy = ["--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30", "--sizing", sizing]
    session = runner.invoke(app, ["trade", "--data", str(data), *strategy, "--session-id", "s"])
    assert session.exit_code == 0, session.output
    backtest = runner.invoke(app, ["backtest", "--data", str(data), *strategy, "--risk", "--run-id", "b"])
    assert backtest.exit_code == 0, backtest.output

    directory = isolated_home / "runs" / "live" / "sessions" / "s"
    run = isolated_home / "runs" / "b"
    session_trades = (directory / "trades.csv").read_text()
    assert session_trades.count("\n") > 20
    assert session_trades == (run / "trades.csv").read_text()
    records = [json.loads(line) for line in (directory / "state.jsonl").read_text().splitlines()]
    denied = [(pd.Timestamp(d["ts"]), d["symbol"], d["reason"], d["detail"]) for d in
              (r["denial"] for r in records if r["event"] == "denied")]  # fmt: skip
    backtest_denials = pd.read_csv(run / "denials.csv", dtype=str)
    assert denied, "the limits were meant to bind"
    assert denied == [(pd.Timestamp(ts), symbol, reason, detail) for ts, symbol, reason, detail in
                      backtest_denials[["ts", "symbol", "reason", "detail"]].to_numpy()]  # fmt: skip
    # the replay check compares the same way: the shared-account backtest with the stack's limits, byte for byte
    frames = load_bars(data)
    ml = MLSettings(strategy="sma_cross", params={"fast": 10, "slow": 30}, sizing=sizing)
    assert compare_trades(session_trades, expected_fills(frames, ml, ExecutorSettings())) is None


def test_backtest_when_data_holds_two_symbols_then_one_account_with_a_breakdown(
    isolated_home: Path, tmp_path: Path
) -> None:
    options = ["--fixture", "crypto_1m", "--strategy", "sma_cross", "--sizing", "equity:0.2", "--run-id", "both"]
    result = runner.invoke(app, ["backtest", *options, "--risk-limit", "max_gross_exposure=30000"])

    assert result.exit_code == 0, result.output
    assert "one account" in result.output and "risk: denied by max_gross_exposure" in result.output
    run = isolated_home / "runs" / "both"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["symbols"] == ["BTC-USD", "ETH-USD"]
    assert metrics["risk"]["limits"]["max_gross_exposure"] == "30000"
    assert metrics["risk"]["denials"]["max_gross_exposure"] > 0
    breakdown = pd.read_csv(run / "breakdown.csv")
    trades = pd.read_csv(run / "trades.csv", dtype=str)
    assert list(breakdown["symbol"]) == ["BTC-USD", "ETH-USD"]
    assert breakdown["fills"].sum() == len(trades) == metrics["metrics"]["fills"]
    fees = sum((Decimal(fee) for fee in trades["fee"]), Decimal(0))
    assert sum((Decimal(str(fee)) for fee in breakdown["fees"]), Decimal(0)) == fees
    assert breakdown["denials"].sum() == metrics["risk"]["denials"]["max_gross_exposure"]
    assert len(pd.read_csv(run / "denials.csv")) == breakdown["denials"].sum()
    # trades in canonical order: by time, then symbol
    keys = list(zip(trades["ts"], trades["symbol"], strict=True))
    assert keys == sorted(keys)
    equity = pd.read_parquet(run / "equity.parquet")
    assert {"cash", "equity", "gross_exposure", "position:BTC-USD", "position:ETH-USD"} <= set(equity.columns)
    assert equity["cash"].min() > 0
    # two entries decided on one bar time, before either fills: the second sees the first's working order
    both = (equity["position:BTC-USD"] != 0) & (equity["position:ETH-USD"] != 0)
    assert not both.any()


def test_account_backtest_when_default_limits_then_all_in_orders_are_denied_as_paper_denies_them() -> None:
    frames = load_bars(fixture_path("crypto_1m"), "BTC-USD")
    config = BacktestConfig(strategy="sma_cross", params={"fast": 20, "slow": 60}, sizing=parse_sizing("equity:1"))
    result = run_account_backtest(frames, fixture_catalog(), get_strategy("sma_cross"), config, DEFAULT_LIMITS)

    assert result.executions == []
    assert result.denials_by_reason() == {"max_order_notional": len(result.denials)}
    assert "exceeds 25000" in result.denials[0].detail
