"""kill -9 of the executor in the middle of a replay: it resumes its session and nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import redis
from typer.testing import CliRunner

from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.cli import app as cli
from services.feed.app import create_app as feed_app
from services.feed.config import FeedSettings
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from tests.support.apps import running
from tests.support.redis_process import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
BIN = Path(sys.executable).parent


def start_executor(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / "logos"), "serve", "executor"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


async def executor_fills(port: int) -> int | None:
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/status", timeout=1)
            fills: int = response.json()["details"]["fills"]
            return fills
    except (httpx.HTTPError, KeyError, ValueError):
        return None


async def test_executor_when_killed_mid_replay_then_resumed_session_equals_the_backtest(
    redis_url: str, names: StreamNames, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISK_LIMITS__MAX_ORDER_NOTIONAL", "1000000")
    monkeypatch.setenv("RISK_LIMITS__MAX_POSITION_NOTIONAL", "1000000")
    port = free_port()
    env = os.environ | {
        "LOGOS_REDIS_URL": redis_url, "LOGOS_STREAM_PREFIX": names.prefix, "LOGOS_HOME": str(isolated_home),
        "LOGOS_READ_BLOCK_SECONDS": "0.05", "LOGOS_RECLAIM_IDLE_SECONDS": "0.5", "EXECUTOR_PORT": str(port),
    }  # fmt: skip
    logos = LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)  # type: ignore[arg-type]
    executor = start_executor(env)
    try:
        async with AsyncExitStack() as stack:
            for factory, settings in (
                (ml_app, MLSettings(logos=logos, strategy="sma_cross")),  # type: ignore[call-arg]
                (risk_app, RiskSettings(logos=logos, clock="data")),  # type: ignore[call-arg]
            ):
                await stack.enter_async_context(running(factory(settings)))
            feed = await stack.enter_async_context(
                running(feed_app(FeedSettings(logos=logos, provider="replay", replay_fixture="sma_demo_1m")))  # type: ignore[call-arg]
            )
            for _ in range(600):
                if (await executor_fills(port) or 0) >= 12:
                    break
                await asyncio.sleep(0.05)
            killed_after = await executor_fills(port)
            assert killed_after is not None and 12 <= killed_after < 59  # mid-replay, with fills behind it
            executor.send_signal(signal.SIGKILL)
            assert executor.wait(timeout=10) == -9
            executor = start_executor(env)
            for _ in range(1800):
                details = (await feed.get("/status")).json()["details"]
                if details["replay_finished"]:
                    break
                await asyncio.sleep(0.1)
            assert details["replay_finished"], details
        executor.send_signal(signal.SIGTERM)  # a clean stop writes the session's files
        assert executor.wait(timeout=30) in (0, -15)
    finally:
        if executor.poll() is None:
            executor.kill()
    sessions = list((isolated_home / "runs" / "live" / "sessions").iterdir())
    assert len(sessions) == 1, "the restarted executor resumed the interrupted session"
    backtest = CliRunner().invoke(cli, ["backtest", "--fixture", "sma_demo_1m", "--strategy", "sma_cross",
                                        "--runs-dir", str(tmp_path / "runs"), "--run-id", "b"])  # fmt: skip
    assert backtest.exit_code == 0, backtest.output
    assert (sessions[0] / "trades.csv").read_text() == (tmp_path / "runs" / "b" / "trades.csv").read_text()
    client = redis.Redis.from_url(redis_url)
    for stream in (names.orders, names.bars()):
        assert all(group["pending"] == 0 for group in client.xinfo_groups(stream))
    client.close()
