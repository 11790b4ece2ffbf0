"""kill -9 of executor, ml or risk in the middle of a replay over Redis: the session equals the backtest.

The service under test runs as its own process (`logos serve NAME`); the others run in the test's
event loop. After a dozen fills it is killed with SIGKILL and started again; the replay (its credit window)
waits for it, finishes, and the session's trades.csv must equal the backtest's, every session file
must equal an uninterrupted session's byte for byte, with no entry left pending and exactly one
session directory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from typer.testing import CliRunner

from logos.settings import LogosSettings
from logos.streams import StreamNames
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
from tests.support.redis_process import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
BIN = Path(sys.executable).parent
TOTAL_FILLS = 59  # sma_cross 10/30 on sma_demo_1m
SESSION_FILES = ("orders.csv", "trades.csv", "positions.csv", "account.csv", "state.jsonl", "state.json")
SIZING = "notional:20000"  # inside the default risk limits, which a service started with `logos serve` must keep


def start(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / "logos"), "serve", name], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


async def fills(client: httpx.AsyncClient) -> int | None:
    try:
        value: int = (await client.get("/status", timeout=1)).json()["details"]["fills"]
        return value
    except (httpx.HTTPError, KeyError, ValueError):
        return None


@pytest.mark.parametrize("victim", ["executor", "ml", "risk"])
async def test_service_when_killed_mid_replay_then_session_equals_the_backtest(
    victim: str,
    redis_url: str,
    names: StreamNames,
    isolated_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    env = os.environ | {
        "LOGOS_REDIS_URL": redis_url, "LOGOS_STREAM_PREFIX": names.prefix, "LOGOS_HOME": str(isolated_home),
        "LOGOS_READ_BLOCK_SECONDS": "0.05", "LOGOS_RECLAIM_IDLE_SECONDS": "0.5", f"{victim.upper()}_PORT": str(port),
        "ML_STRATEGY": "sma_cross", "ML_SIZING": SIZING, "RISK_CLOCK": "data",
    }  # fmt: skip
    logos = LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)  # type: ignore[arg-type]
    in_process: dict[str, tuple[Any, Any]] = {
        "ml": (ml_app, MLSettings(logos=logos, strategy="sma_cross", sizing=SIZING)),  # type: ignore[call-arg]
        "risk": (risk_app, RiskSettings(logos=logos, clock="data")),  # type: ignore[call-arg]
        "executor": (executor_app, ExecutorSettings(logos=logos)),  # type: ignore[call-arg]
    }
    del in_process[victim]
    process = start(victim, env)
    try:
        async with AsyncExitStack() as stack:
            clients = {name: await stack.enter_async_context(running(factory(settings)))
                       for name, (factory, settings) in in_process.items()}  # fmt: skip
            executor = clients.get("executor") or await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
            )
            feed = await stack.enter_async_context(
                running(feed_app(FeedSettings(logos=logos, provider="replay", replay_fixture="sma_demo_1m")))  # type: ignore[call-arg]
            )
            for _ in range(600):
                if (await fills(executor) or 0) >= 12:
                    break
                await asyncio.sleep(0.05)
            killed_after = await fills(executor)
            assert killed_after is not None and 12 <= killed_after < TOTAL_FILLS
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=10) == -9
            process = start(victim, env)
            for _ in range(1800):
                details = (await feed.get("/status")).json()["details"]
                if details["replay_finished"]:
                    break
                await asyncio.sleep(0.1)
            assert details["replay_finished"], details
            if victim != "executor":
                await asyncio.sleep(0.5)  # the last bar's account snapshot reaches everyone
        process.send_signal(signal.SIGTERM)  # a clean stop (the executor then writes the session's files)
        assert process.wait(timeout=30) in (0, -15)
    finally:
        if process.poll() is None:
            process.kill()
    sessions = list((isolated_home / "runs" / "live" / "sessions").iterdir())
    assert len(sessions) == 1
    backtest = CliRunner().invoke(cli, ["backtest", "--fixture", "sma_demo_1m", "--strategy", "sma_cross",
                                        "--sizing", SIZING, "--runs-dir", str(tmp_path / "runs"),
                                        "--run-id", "b"])  # fmt: skip
    assert backtest.exit_code == 0, backtest.output
    assert (sessions[0] / "trades.csv").read_text() == (tmp_path / "runs" / "b" / "trades.csv").read_text()
    # and every file of the session is the uninterrupted one's, byte for byte: the same session in one process
    # (session.md also describes the strategy and limits, which only the in-process session knows)
    monkeypatch.setenv("LOGOS_HOME", str(tmp_path / "uninterrupted"))
    uninterrupted = await asyncio.to_thread(CliRunner().invoke, cli, ["trade", "--fixture", "sma_demo_1m",
                                            "--strategy", "sma_cross", "--sizing", SIZING,
                                            "--session-id", sessions[0].name])  # fmt: skip
    assert uninterrupted.exit_code == 0, uninterrupted.output
    reference = tmp_path / "uninterrupted" / "runs" / "live" / "sessions" / sessions[0].name
    for name in SESSION_FILES:
        assert (sessions[0] / name).read_bytes() == (reference / name).read_bytes(), name
    client = redis.Redis.from_url(redis_url)
    for stream in (names.orders, names.bars(), names.intents(), names.account):
        assert all(group["pending"] == 0 for group in client.xinfo_groups(stream)), stream
    client.close()
