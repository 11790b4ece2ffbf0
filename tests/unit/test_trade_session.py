"""`logos trade --feed replay`: a paper session in one process equals the backtest and records itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app

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
         "--param", "fast=10", "--param", "slow=30", "--sizing", "equity:1.0"]  # fmt: skip


@pytest.fixture
def permissive(monkeypatch: pytest.MonkeyPatch) -> None:
    # a fully invested 100,000 account: limits that let the backtest's orders through
    monkeypatch.setenv("RISK_LIMITS__MAX_ORDER_NOTIONAL", "1000000")
    monkeypatch.setenv("RISK_LIMITS__MAX_POSITION_NOTIONAL", "1000000")


def test_trade_when_replaying_fixture_then_trades_equal_the_backtest(
    isolated_home: Path, tmp_path: Path, permissive: None
) -> None:
    backtest = runner.invoke(app, [*BACKTEST, "--runs-dir", str(tmp_path / "runs"), "--run-id", "b"])
    assert backtest.exit_code == 0, backtest.output
    session = runner.invoke(app, [*TRADE, "--session-id", "s1"])
    assert session.exit_code == 0, session.output
    directory = isolated_home / "runs" / "live" / "sessions" / "s1"
    assert (directory / "trades.csv").read_text() == (tmp_path / "runs" / "b" / "trades.csv").read_text()
    for name in ("orders.csv", "positions.csv", "account.csv", "session.md", "state.jsonl", "state.json",
                 "plots/equity.png"):  # fmt: skip
        assert (directory / name).exists(), name
    assert (isolated_home / "runs" / "live" / "latest_session").resolve() == directory.resolve()
    assert "3000 handled" in (directory / "session.md").read_text()
    assert '"fills": [{' in (directory / "state.jsonl").read_text()


def test_trade_when_risk_limit_breaks_then_denials_recorded_with_reason(isolated_home: Path) -> None:
    result = runner.invoke(app, [*TRADE, "--session-id", "s2"])  # the default limits cap one order at 25,000
    assert result.exit_code == 0, result.output
    directory = isolated_home / "runs" / "live" / "sessions" / "s2"
    summary = (directory / "session.md").read_text()
    assert "max_order_notional" in summary and "exceeds 25000" in summary
    assert (directory / "trades.csv").read_text().count("\n") == 1  # header only: nothing passed


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
