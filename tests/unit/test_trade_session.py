"""`logos trade --feed replay`: a paper session in one process equals the backtest, records itself, sums itself up."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from logos.data.fixtures import fixture_path
from logos.orders.sizing import parse_sizing
from services.cli import app
from services.ml.config import MLSettings
from services.risk.config import DEFAULT_LIMITS

runner = CliRunner()
BACKTEST = [
    "backtest",
    "--fixture",
    "sma_demo_1m",
    "--strategy",
    "sma_cross",
    "--param",
    "fast=10",
    "--param",
    "slow=30",
]
TRADE = ["trade", "--paper", "--feed", "replay", "--fixture", "sma_demo_1m", "--strategy", "sma_cross",
         "--param", "fast=10", "--param", "slow=30"]  # fmt: skip
FIRST_RUN = ["trade", "--paper", "--feed", "replay", "--fixture", "crypto_1m", "--symbol", "BTC-USD"]
FIRST_RUN += ["--strategy", "sma_cross", "--param", "fast=20", "--param", "slow=60"]  # the README's first session


def _sessions(home: Path) -> Path:
    return home / "runs" / "live" / "sessions"


def test_trade_when_replaying_fixture_then_trades_equal_the_backtest_at_the_same_sizing(
    isolated_home: Path, tmp_path: Path
) -> None:
    sizing = ["--sizing", MLSettings.model_fields["sizing"].default]  # the session's default, given to the backtest
    backtest = runner.invoke(app, [*BACKTEST, *sizing, "--runs-dir", str(tmp_path / "runs"), "--run-id", "b"])
    assert backtest.exit_code == 0, backtest.output
    session = runner.invoke(app, [*TRADE, "--session-id", "s1"])
    assert session.exit_code == 0, session.output
    directory = _sessions(isolated_home) / "s1"
    assert (directory / "trades.csv").read_text() == (tmp_path / "runs" / "b" / "trades.csv").read_text()
    for name in ("orders.csv", "positions.csv", "account.csv", "session.md", "state.jsonl", "state.json",
                 "plots/equity.png"):  # fmt: skip
        assert (directory / name).exists(), name
    assert (isolated_home / "runs" / "live" / "latest_session").resolve() == directory.resolve()
    assert "3000 handled" in (directory / "session.md").read_text()
    assert '"fills": [{' in (directory / "state.jsonl").read_text()
    assert " INFO fill o1 " in (directory / "logs" / "run.log").read_text()


def test_default_sizing_when_full_position_then_within_every_default_risk_limit() -> None:
    full = parse_sizing(MLSettings.model_fields["sizing"].default).largest_budget(Decimal(100_000))
    symbols = 2  # the bundled fixtures hold at most two symbols
    assert DEFAULT_LIMITS.max_order_notional is not None and full <= DEFAULT_LIMITS.max_order_notional
    assert DEFAULT_LIMITS.max_position_notional is not None and full <= DEFAULT_LIMITS.max_position_notional
    assert DEFAULT_LIMITS.max_gross_exposure is not None and symbols * full <= DEFAULT_LIMITS.max_gross_exposure
    assert DEFAULT_LIMITS.max_net_exposure is not None and symbols * full <= DEFAULT_LIMITS.max_net_exposure


def test_trade_when_first_run_from_the_docs_then_it_trades_and_says_so(isolated_home: Path) -> None:
    result = runner.invoke(app, [*FIRST_RUN, "--session-id", "first"])

    assert result.exit_code == 0, result.output
    assert "7,200 bars replayed" in result.output and "warning" not in result.output
    trades = (_sessions(isolated_home) / "first" / "trades.csv").read_text().splitlines()
    fills = len(trades) - 1
    assert fills > 0
    assert f"summary: {fills:,} fills from " in result.output and "0 denied" in result.output
    assert "trading state at the end: active" in result.output


def test_trade_when_every_intent_denied_then_console_names_the_rule_and_the_setting(isolated_home: Path) -> None:
    result = runner.invoke(app, [*TRADE, "--sizing", "equity:1.0", "--session-id", "s2"])  # 100,000 > 25,000

    assert result.exit_code == 0, result.output
    assert "summary: 0 fills from " in result.output
    warning = next(line for line in result.output.splitlines() if line.startswith("warning: no fill: "))
    assert "intents denied by max_order_notional (order notional " in warning and "exceeds 25000)" in warning
    assert warning.endswith("lower --sizing (ML_SIZING) or raise RISK_LIMITS__MAX_ORDER_NOTIONAL")
    directory = _sessions(isolated_home) / "s2"
    summary = (directory / "session.md").read_text()
    assert summary.index("## Summary") < summary.index("## Result")
    assert f"**warning:** {warning.removeprefix('warning: ')}" in summary
    assert "max_order_notional" in summary and "exceeds 25000" in summary
    run_log = (directory / "logs" / "run.log").read_text()
    assert "WARN denied sma_demo_1m by max_order_notional: order notional " in run_log
    assert f"WARN summary (end): {warning.removeprefix('warning: ')}" in run_log
    assert (directory / "trades.csv").read_text().count("\n") == 1  # header only: nothing passed


def test_trade_when_strategy_never_signals_then_console_says_no_intent(isolated_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "short.csv"
    frame = pd.read_csv(fixture_path("sma_demo_1m"))
    frame.head(40).to_csv(data, index=False)  # shorter than the slow window: no signal at all

    quiet = ["--param", "fast=10", "--param", "slow=60", "--session-id", "quiet"]
    result = runner.invoke(app, ["trade", "--data", str(data), "--strategy", "sma_cross", *quiet])

    assert result.exit_code == 0, result.output
    assert "warning: no fill: the strategy asked for no position in 40 bars" in result.output


def test_trade_when_replayed_twice_then_every_session_file_is_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "bars.csv"
    pd.read_csv(fixture_path("sma_demo_1m")).head(900).to_csv(data, index=False)
    # a tight breaker and dear fees, so the session holds fills, a trading-state change and denials
    monkeypatch.setenv("RISK_LIMITS__MAX_INTRADAY_DRAWDOWN", "0.001")
    homes = [tmp_path / "one", tmp_path / "two"]
    for home in homes:
        monkeypatch.setenv("LOGOS_HOME", str(home))
        options = ["--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=15", "--fee-bps", "50"]
        result = runner.invoke(app, ["trade", "--data", str(data), *options, "--session-id", "same"])
        assert result.exit_code == 0, result.output

    first, second = (_sessions(home) / "same" for home in homes)
    names = sorted(str(path.relative_to(first)) for path in first.rglob("*") if path.is_file())
    assert {"logs/run.log", "session.md", "state.jsonl", "trades.csv"} <= set(names)
    assert names == sorted(str(path.relative_to(second)) for path in second.rglob("*") if path.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    run_log = (first / "logs" / "run.log").read_text()
    assert " INFO fill o1 " in run_log and "WARN trading state halted (intraday_drawdown)" in run_log
    assert "WARN denied " in run_log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--live"], "EXECUTOR_LIVE=true needs EXECUTOR_ACKNOWLEDGE_RISK=true"),
        (["--feed", "ccxt"], "--data and --fixture belong to --feed replay"),
        (["--feed", "telegraph"], "unknown feed 'telegraph'"),
        (["--symbol", "NOPE"], "has no NOPE"),
        (["--param", "fast=99"], "must be shorter than slow"),
    ],
)
def test_trade_when_arguments_wrong_then_one_line_error(args: list[str], message: str) -> None:
    result = runner.invoke(app, [*TRADE, *args])
    assert result.exit_code == 2 and message in result.output


def test_replay_check_when_fixture_replayed_then_passes_and_says_so(isolated_home: Path) -> None:
    result = runner.invoke(app, ["replay-check", "--fixture", "sma_demo_1m"])
    assert result.exit_code == 0, result.output
    assert "replay check passed: 3,000 bars" in result.output
