"""The Redis stack replays a fixture (the causal order, a credit window) and produces the backtest's trades.csv."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from logos.contracts import ControlCommand
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.cli import app as cli
from services.cli.bus_control import send_control
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

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def executor_has(client: httpx.AsyncClient, what: str, bars: int) -> bool:
    details = (await client.get("/status")).json()["details"]
    handled = details["bars"] if what == "bars" else (details["checkpoint"] or {}).get("bars", 0)
    return bool(handled >= bars)


async def test_redis_stack_when_replaying_fixture_then_trades_equal_the_backtest(
    redis_url: str, names: StreamNames, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISK_LIMITS__MAX_ORDER_NOTIONAL", "1000000")
    monkeypatch.setenv("RISK_LIMITS__MAX_POSITION_NOTIONAL", "1000000")
    logos = LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)  # type: ignore[arg-type]
    feed = FeedSettings(logos=logos, provider="replay", replay_fixture="sma_demo_1m")  # type: ignore[call-arg]
    # fully invested, the backtest's default sizing (a session's own default is smaller)
    ml = MLSettings(logos=logos, strategy="sma_cross", params={"fast": 10, "slow": 30}, sizing="equity:1.0")  # type: ignore[call-arg]
    risk = RiskSettings(logos=logos, clock="data")  # type: ignore[call-arg]
    executor = ExecutorSettings(logos=logos, session_id="redis-replay")  # type: ignore[call-arg]
    async with AsyncExitStack() as stack:
        for factory, settings in ((ml_app, ml), (risk_app, risk)):
            await stack.enter_async_context(running(factory(settings)))
        executor_client = await stack.enter_async_context(running(executor_app(executor)))
        feed_client = await stack.enter_async_context(running(feed_app(feed)))
        for _ in range(1200):  # at most 120 s
            details = (await feed_client.get("/status")).json()["details"]
            if details["replay_finished"]:
                break
            await asyncio.sleep(0.1)
        assert details["replay_finished"] and details["replayed"] == 3000
        await eventually(lambda: executor_has(executor_client, "bars", 3000), 60, "the executor to handle every bar")
        # what `logos stack replay-check` does then: a signed checkpoint, and the session's files while it runs
        await send_control(logos, ControlCommand.CHECKPOINT, "replay finished: 3000 bars")
        await eventually(lambda: executor_has(executor_client, "checkpoint", 3000), 30, "the executor's checkpoint")
    # the executor wrote its session when it stopped
    session = isolated_home / "runs" / "live" / "sessions" / "redis-replay"
    backtest = CliRunner().invoke(cli, ["backtest", "--fixture", "sma_demo_1m", "--strategy", "sma_cross",
                                        "--runs-dir", str(tmp_path / "runs"), "--run-id", "b"])  # fmt: skip
    assert backtest.exit_code == 0, backtest.output
    assert (session / "trades.csv").read_text() == (tmp_path / "runs" / "b" / "trades.csv").read_text()
    assert "3000 handled" in (session / "session.md").read_text()
    assert "## Summary" in (session / "session.md").read_text()
    run_log = (session / "logs" / "run.log").read_text()
    assert run_log.startswith("- INFO session redis-replay started: ")
    assert "INFO summary (checkpoint): 59 fills from " in run_log and "INFO summary (end): 59 fills from " in run_log
    assert (isolated_home / "runs" / "live" / "latest_session").resolve() == session.resolve()
