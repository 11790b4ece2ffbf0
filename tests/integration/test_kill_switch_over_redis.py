"""`logos kill` over a real Redis: nothing passes from the next bar on, across a restart of risk too."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logos.bus import Bus
from logos.contracts import DenialReason, Fill, Message, Order, OrderDenied, TradingState, TradingStateChanged
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.executor.app import create_app as executor_app
from services.executor.config import ExecutorSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from tests.support.apps import running
from tests.support.risk_sessions import bar, intent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
TOKEN = {"Authorization": "Bearer test-control-token"}


async def test_kill_when_engaged_then_working_order_canceled_and_every_intent_denied_across_a_risk_restart(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    logos = LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)  # type: ignore[arg-type]
    risk = RiskSettings(logos=logos, heartbeat_seconds=0.2)  # type: ignore[call-arg]
    executor = ExecutorSettings(logos=logos, session_id="kill-drill", heartbeat_seconds=0.2)  # type: ignore[call-arg]
    bus = Bus.redis(redis_url, names, block_seconds=0.05)
    pipeline = [names.intents(), names.bars(), names.orders, names.fills, names.account, names.control]
    now = datetime.now(UTC).replace(microsecond=0)

    async def send(stream: str, message: Message) -> None:
        await bus.publish(stream, message)
        assert await bus.wait_until_quiet(pipeline, timeout_seconds=30, poll_seconds=0.01)

    async def decisions() -> list[Message]:
        return await bus.history(names.orders, "executor", 1000)

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(executor_app(executor)))
        async with running(risk_app(risk)) as client:
            await send(names.bars(), bar("AAPL", now))
            await send(names.intents(), intent("AAPL", "10", now))  # approved: a working order at the executor
            assert isinstance((await decisions())[-1], Order)

            body = {"reason": "drill"}
            assert (await client.post("/kill", json=body)).status_code == 401
            wrong = await client.post("/kill", json=body, headers={"Authorization": "Bearer wrong-token"})
            assert wrong.status_code == 401
            assert (await client.post("/kill", json=body, headers=TOKEN)).status_code == 200
            assert await bus.wait_until_quiet(pipeline, timeout_seconds=30, poll_seconds=0.01)
            await send(names.intents(), intent("AAPL", "20", now))
            await send(names.bars(), bar("AAPL", now + timedelta(minutes=1)))  # the next bar fills nothing

        async with running(risk_app(risk)) as client:  # risk restarted: the kill switch is still engaged
            assert (await client.get("/status")).json()["details"]["kill_switch"] is True
            for target in ("30", "-10", "0"):
                await send(names.intents(), intent("AAPL", target, now + timedelta(minutes=1)))
        fills = await bus.history(names.fills, "risk", 1000)
        decided = await decisions()
    await bus.close()

    order, killed, *denied = decided
    assert isinstance(order, Order) and order.target_quantity == 10
    assert isinstance(killed, TradingStateChanged) and killed.kill_switch and killed.cause == "kill_switch"
    assert killed.trading_state is TradingState.HALTED and killed.detail == "drill (by api)"
    assert [d.reason for d in denied if isinstance(d, OrderDenied)] == [DenialReason.KILL_SWITCH] * 4
    assert len(denied) == 4 and not [m for m in fills if isinstance(m, Fill)]  # nothing filled after the kill
    session = isolated_home / "runs" / "live" / "sessions" / "kill-drill"
    summary = (session / "session.md").read_text()
    assert "- kill_switch: 4 denied" in summary and "| halted | on | kill_switch | drill (by api) |" in summary
    assert ",canceled," in (session / "orders.csv").read_text()  # the order approved before the kill
    assert (session / "trades.csv").read_text().count("\n") == 1
