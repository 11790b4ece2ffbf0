"""A Redis restart (AOF) in the middle of a replay: every service reconnects, nothing is lost or doubled.

The session's trades equal the backtest's, and every session file equals an uninterrupted session's.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from logos.settings import LogosSettings
from services.cli import app as cli
from services.executor.app import create_app as executor_app
from services.executor.config import ExecutorSettings
from services.feed.app import create_app as feed_app
from services.feed.config import FeedSettings
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from tests.support.apps import running
from tests.support.redis_process import RedisProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def details(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/status")).json()["details"]
    return body


async def test_redis_when_restarted_mid_replay_then_session_equals_the_backtest(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISK_LIMITS__MAX_ORDER_NOTIONAL", "1000000")
    monkeypatch.setenv("RISK_LIMITS__MAX_POSITION_NOTIONAL", "1000000")
    server = RedisProcess(tmp_path / "redis").start()
    logos = LogosSettings(redis_url=server.url, read_block_seconds=0.05, reclaim_idle_seconds=0.5)  # type: ignore[arg-type]
    try:
        async with AsyncExitStack() as stack:
            for factory, settings in (
                (ml_app, MLSettings(logos=logos, strategy="sma_cross", sizing="equity:1.0")),  # type: ignore[call-arg]
                (risk_app, RiskSettings(logos=logos, clock="data")),  # type: ignore[call-arg]
            ):
                await stack.enter_async_context(running(factory(settings)))
            executor = await stack.enter_async_context(
                running(executor_app(ExecutorSettings(logos=logos, session_id="aof")))  # type: ignore[call-arg]
            )
            feed = await stack.enter_async_context(
                running(feed_app(FeedSettings(logos=logos, provider="replay", replay_fixture="sma_demo_1m")))  # type: ignore[call-arg]
            )
            for _ in range(600):
                if (await details(executor))["fills"] >= 12:
                    break
                await asyncio.sleep(0.05)
            before = (await details(feed))["replayed"]
            server.stop()  # SIGTERM: Redis flushes its AOF and exits, as in a restart
            await asyncio.sleep(1.0)
            assert (await feed.get("/readyz")).status_code == 503
            server.start()
            for _ in range(1800):
                progress = await details(feed)
                if progress["replay_finished"]:
                    break
                await asyncio.sleep(0.1)
            assert progress["replay_finished"] and progress["replayed"] == 3000 and before < 3000
    finally:
        server.stop()
    backtest = CliRunner().invoke(cli, ["backtest", "--fixture", "sma_demo_1m", "--strategy", "sma_cross",
                                        "--runs-dir", str(tmp_path / "runs"), "--run-id", "b"])  # fmt: skip
    assert backtest.exit_code == 0, backtest.output
    session = isolated_home / "runs" / "live" / "sessions" / "aof"
    assert (session / "trades.csv").read_text() == (tmp_path / "runs" / "b" / "trades.csv").read_text()
    # every file of the session is the uninterrupted one's: the same session in one process
    monkeypatch.setenv("LOGOS_HOME", str(tmp_path / "uninterrupted"))
    uninterrupted = await asyncio.to_thread(CliRunner().invoke, cli, ["trade", "--fixture", "sma_demo_1m",
                                            "--strategy", "sma_cross", "--sizing", "equity:1.0",
                                            "--session-id", "aof"])  # fmt: skip
    assert uninterrupted.exit_code == 0, uninterrupted.output
    reference = tmp_path / "uninterrupted" / "runs" / "live" / "sessions" / "aof"
    for name in ("orders.csv", "trades.csv", "positions.csv", "account.csv", "state.jsonl", "state.json"):
        assert (session / name).read_bytes() == (reference / name).read_bytes(), name
