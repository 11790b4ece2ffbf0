"""Determinism by causality: under binding limits every session file repeats byte for byte, run after run.

Two crypto symbols share one account; the gross-exposure limit denies entries, the position limit
breaches and is reduced by risk's slices, and the intraday drawdown halts trading. Risk sees the bar,
the fills and the account of each bar before its intents, whatever order the streams bring them in
(services/runtime/causal.py), so twenty runs in one process and five over Redis write the same
files; and their trades are the shared-account backtest's with the same limits.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from logos.data.fixtures import fixture_path
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.settings import LogosSettings
from services.cli import app
from services.executor.app import create_app as executor_app
from services.executor.config import ExecutorSettings
from services.feed.app import create_app as feed_app
from services.feed.config import FeedSettings
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from tests.support.apps import running
from tests.support.bus_helpers import eventually

pytestmark = pytest.mark.integration
runner = CliRunner()
# every file a session writes, but the plot (a PNG's encoder is not ours to pin)
FILES = ("orders.csv", "trades.csv", "positions.csv", "account.csv", "session.md", "state.jsonl", "state.json")
LIMITS = {
    "MAX_ORDER_NOTIONAL": "40000",  # above every order of the sizing: the other limits bind
    "MAX_POSITION_NOTIONAL": "30010",
    "MAX_GROSS_EXPOSURE": "50000",
    "MAX_INTRADAY_DRAWDOWN": "0.007",
}
STRATEGY = ["--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20", "--sizing", "notional:30000"]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in LIMITS.items():
        monkeypatch.setenv(f"RISK_LIMITS__{name}", value)
    path = tmp_path / "crypto.csv"
    pd.read_csv(fixture_path("crypto_1m")).head(1200).to_csv(path, index=False)  # 600 bars of BTC-USD and ETH-USD
    return path


def _files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in FILES}


def _backtest(data: Path, home: Path) -> Path:
    result = runner.invoke(app, ["backtest", "--data", str(data), *STRATEGY, "--risk", "--runs-dir", str(home / "bt"),
                                 "--run-id", "b"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return home / "bt" / "b"


def _assert_limits_bound(directory: Path, backtest: Path) -> None:
    records = [json.loads(line) for line in (directory / "state.jsonl").read_text().splitlines()]
    denials = [r["denial"]["reason"] for r in records if r["event"] == "denied"]
    changes = [r["change"]["cause"] for r in records if r["event"] == "trading_state"]
    assert denials.count("max_gross_exposure") >= 3 and changes.count("limit_breach") >= 3, (denials, changes)
    assert "intraday_drawdown" in changes
    assert (directory / "trades.csv").read_text() == (backtest / "trades.csv").read_text()
    session_denials = [(r["denial"]["symbol"], r["denial"]["reason"]) for r in records if r["event"] == "denied"]
    expected = pd.read_csv(backtest / "denials.csv", dtype=str)
    assert session_denials == list(map(tuple, expected[["symbol", "reason"]].to_numpy()))


def test_paper_sessions_when_limits_bind_then_twenty_runs_write_identical_files(
    data: Path, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for number in range(20):
        home = tmp_path / f"run{number}"  # one session id, its own home: the files may name it
        monkeypatch.setenv("LOGOS_HOME", str(home))
        monkeypatch.setenv("LOGOS_REPLAY_WINDOW", str([1, 7, 256, 4096][number % 4]))  # a window sets speed only
        result = runner.invoke(app, ["trade", "--data", str(data), *STRATEGY, "--session-id", "same"])
        assert result.exit_code == 0, result.output
        runs.append(_files(home / "runs" / "live" / "sessions" / "same"))
    first = runs[0]
    for number, files in enumerate(runs[1:], start=1):
        differing = [name for name in FILES if files[name] != first[name]]
        assert not differing, f"run {number} wrote different {differing}"
    monkeypatch.setenv("LOGOS_HOME", str(tmp_path / "run0"))
    _assert_limits_bound(tmp_path / "run0" / "runs" / "live" / "sessions" / "same", _backtest(data, tmp_path))


async def _redis_session(redis_url: str, prefix: str, data: Path, home: Path) -> Path:
    logos = LogosSettings(redis_url=redis_url, stream_prefix=prefix, read_block_seconds=0.05)  # type: ignore[arg-type]
    ml = MLSettings(logos=logos, strategy="sma_cross", params={"fast": 5, "slow": 20}, sizing="notional:30000")  # type: ignore[call-arg]
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(ml_app(ml)))
        await stack.enter_async_context(running(risk_app(RiskSettings(logos=logos, clock="data"))))  # type: ignore[call-arg]
        executor = ExecutorSettings(logos=logos, session_id="same")  # type: ignore[call-arg]
        await stack.enter_async_context(running(executor_app(executor)))
        feed = FeedSettings(logos=logos, provider="replay", replay_data=data)  # type: ignore[call-arg]
        feed_client = await stack.enter_async_context(running(feed_app(feed)))

        async def finished() -> bool:
            return bool((await feed_client.get("/status")).json()["details"]["replay_finished"])

        await eventually(finished, 120, "the replay to finish")
    return home / "runs" / "live" / "sessions" / "same"


@pytest.mark.anyio
async def test_redis_stack_when_limits_bind_then_five_runs_write_identical_files(
    data: Path, redis_url: str, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for number in range(5):
        home = tmp_path / f"redis{number}"
        monkeypatch.setenv("LOGOS_HOME", str(home))
        LogosSettings().secrets.ensure([ORDERS_KEY, CONTROL_KEY])
        directory = await _redis_session(redis_url, f"det{number}-{tmp_path.name[-8:]}", data, home)
        runs.append(_files(directory))
        await asyncio.sleep(0)
    first = runs[0]
    for number, files in enumerate(runs[1:], start=1):
        differing = [name for name in FILES if files[name] != first[name]]
        assert not differing, f"run {number} over Redis wrote different {differing}"
    _assert_limits_bound(tmp_path / "redis0" / "runs" / "live" / "sessions" / "same", _backtest(data, tmp_path))
