"""`logos trade --feed yfinance|ccxt`: a paper session on live bars until Ctrl-C, then the session's files."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logos.contracts import TradingState
from logos.data.loading import load_bars
from logos.live.summary import summarize
from logos.settings import LogosSettings
from services.cli import app
from services.cli.live_trade import run_live_session
from services.cli.session_report import SessionRun
from services.executor.config import ExecutorSettings
from services.feed.config import FeedSettings
from services.ml.config import MLSettings
from services.risk.config import RiskSettings
from services.runtime.errors import StartupRefused
from tests.support.bus_helpers import eventually
from tests.support.recorded_feed import RecordedCcxtFeed
from tests.support.recorded_venues import SESSION_OPEN

runner = CliRunner()


@pytest.mark.anyio
@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
async def test_live_session_when_interrupted_then_workers_stop_and_session_files_written(isolated_home: Path) -> None:
    RecordedCcxtFeed.fake_clock.now = SESSION_OPEN + timedelta(minutes=11, seconds=30)
    logos = LogosSettings(read_block_seconds=0.05)
    feed = FeedSettings(logos=logos, provider="ccxt", symbols=["BTC-USD"], poll_seconds=0.05, lookback_minutes=15)
    ml = MLSettings(logos=logos, strategy="sma_cross", params={"fast": 2, "slow": 4}, sizing="notional:10000")
    executor = ExecutorSettings(logos=logos, session_id="live-test")
    session_dir = logos.paths.live_session("live-test")
    risk = RiskSettings(logos=logos, clock="wall", state_file=session_dir / "risk_state.json")
    session = asyncio.create_task(run_live_session(feed, ml, risk, executor, feed_worker=RecordedCcxtFeed))
    cached = logos.paths.bar_cache / "ccxt-binance_20250602_1m.csv"

    async def recorded() -> bool:
        return cached.exists() and len(load_bars(cached)["BTC-USD"]) == 11

    await eventually(recorded, what="the polled bars in the bar cache")
    await asyncio.sleep(0.3)  # let ml, risk and executor handle the last bar
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
    directory, bars, summary = await asyncio.wait_for(session, 15)

    assert directory == session_dir and bars == 11
    assert all((directory / name).exists() for name in ("session.md", "account.csv", "state.jsonl", "trades.csv"))
    assert summary is not None and summary.bars == 11
    assert "## Summary" in (directory / "session.md").read_text()
    run_log = (directory / "logs" / "run.log").read_text()
    assert "session live-test started" in run_log and "summary (end): " in run_log


def test_trade_when_live_feed_has_no_symbols_or_replay_options_then_refused(isolated_home: Path) -> None:
    base = ["trade", "--paper", "--strategy", "sma_cross"]

    no_symbols = runner.invoke(app, [*base, "--feed", "ccxt"])
    with_fixture = runner.invoke(app, [*base, "--feed", "yfinance", "--symbols", "AAPL", "--fixture", "equities_1m"])
    unknown = runner.invoke(app, [*base, "--feed", "telegraph", "--symbols", "AAPL"])
    bad_exchange = runner.invoke(
        app, [*base, "--feed", "ccxt", "--symbols", "BTC-USD"], env={"FEED_CCXT_EXCHANGE": "nowhere"}
    )

    assert no_symbols.exit_code == 2 and "needs the symbols to poll" in no_symbols.output
    assert with_fixture.exit_code == 2 and "--data and --fixture belong to --feed replay" in with_fixture.output
    assert unknown.exit_code == 2 and "unknown feed 'telegraph'" in unknown.output
    assert bad_exchange.exit_code == 2 and "not a ccxt exchange id" in bad_exchange.output


def test_trade_when_live_session_ends_then_summary_printed_and_a_refused_venue_is_one_line(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ended(*args: object, **kwargs: object) -> SessionRun:
        return SessionRun(isolated_home / "s", 3, summarize(3, 0, 0, 0, [], TradingState.ACTIVE, False))

    async def refused(*args: object, **kwargs: object) -> SessionRun:
        raise StartupRefused("binance market metadata could not be loaded (network unreachable?): no answer")

    command = ["trade", "--paper", "--feed", "ccxt", "--symbols", "BTC-USD", "--strategy", "sma_cross"]
    monkeypatch.setattr("services.cli.live_trade.run_live_session", ended)
    result = runner.invoke(app, command)
    monkeypatch.setattr("services.cli.live_trade.run_live_session", refused)
    failed = runner.invoke(app, command)

    assert result.exit_code == 0, result.output
    assert "stopped after 3 live bars" in result.output and "summary: 0 fills from 0 intents" in result.output
    assert "warning: no fill: the strategy asked for no position in 3 bars" in result.output
    assert failed.exit_code == 2
    assert failed.output.strip().splitlines()[-1].startswith("error: binance market metadata could not be loaded")
