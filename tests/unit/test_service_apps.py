"""Every service shell, on the in-memory bus: endpoints, heartbeats, handling and refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic_settings import BaseSettings

from logos.bus import Bus, decode
from logos.contracts import DenialReason, Order, OrderDenied, ServiceStatus, TradingState, TradingStateChanged
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.brain.app import create_app as brain_app
from services.brain.config import BrainSettings
from services.executor.app import create_app as executor_app
from services.executor.config import ExecutorSettings
from services.feed.app import create_app as feed_app
from services.feed.config import FeedSettings
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from services.runtime.errors import StartupRefused
from tests.support.apps import running
from tests.support.bus_helpers import eventually, intent

pytestmark = pytest.mark.anyio
SERVICES: list[tuple[str, Any, type[BaseSettings], int]] = [
    ("feed", feed_app, FeedSettings, 8001),
    ("ml", ml_app, MLSettings, 8002),
    ("risk", risk_app, RiskSettings, 8003),
    ("executor", executor_app, ExecutorSettings, 8004),
    ("brain", brain_app, BrainSettings, 8005),
]


def build(factory: Any, settings_class: type[BaseSettings], bus: Bus, **overrides: Any) -> FastAPI:
    fast = LogosSettings(read_block_seconds=0.05, reclaim_idle_seconds=0.1, max_deliveries=2)  # reads LOGOS_HOME now
    settings = settings_class(logos=fast, heartbeat_seconds=0.1, **overrides)  # type: ignore[call-arg]
    app: FastAPI = factory(settings, bus)
    return app


async def entries(bus: Bus, stream: str) -> list[Any]:
    raw = await bus.backend.read({stream: "0"}, 10_000, 0.01)
    return [decode(entry.fields or {}, bus.names.accepted_types(stream)) for entry in raw]


@pytest.mark.parametrize(("name", "factory", "settings_class", "port"), SERVICES, ids=[s[0] for s in SERVICES])
async def test_service_when_running_then_endpoints_answer(
    name: str, factory: Any, settings_class: type[BaseSettings], port: int
) -> None:
    assert settings_class().port == port  # type: ignore[attr-defined]
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build(factory, settings_class, bus)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": name}

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, what=f"{name} ready")
        status = (await client.get("/status")).json()
        assert status["service"] == name and status["state"] == "ready"
        assert status["redis"]["reachable"] is True and status["unsafe"] == []
        assert status["consumers"] and all(consumer["connected"] for consumer in status["consumers"])
        assert status["dead_letter_stream_length"] == 0
        metrics = (await client.get("/metrics")).text
        assert f'logos_service_up{{service="{name}"}} 1.0' in metrics
        assert "logos_bus_connected" in metrics

        async def heartbeat() -> bool:
            return any(isinstance(m, ServiceStatus) and m.service == name for m in await entries(bus, "unit:status"))

        await eventually(heartbeat, what=f"{name} heartbeat on the status stream")


async def test_readyz_when_bus_unreachable_then_503_and_back_to_200_when_it_returns() -> None:
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build(feed_app, FeedSettings, bus)) as client:

        async def answers(code: int) -> bool:
            return (await client.get("/readyz")).status_code == code

        await eventually(lambda: answers(200), what="ready")
        bus.backend.available = False  # type: ignore[attr-defined]
        response = await client.get("/readyz")
        assert response.status_code == 503 and response.json()["redis"] is False
        status = (await client.get("/status")).json()
        assert status["redis"]["reachable"] is False and status["consumers"][0]["streams"][0]["pending"] is None
        assert (await client.get("/healthz")).status_code == 200

        async def consumer_noticed() -> bool:
            return (await client.get("/status")).json()["consumers"][0]["connected"] is False

        await eventually(consumer_noticed, what="the consumer to notice the outage")
        bus.backend.available = True  # type: ignore[attr-defined]
        await eventually(lambda: answers(200), what="ready again")
        assert (await client.get("/status")).json()["consumers"][0]["reconnects"] >= 1


async def test_risk_when_intent_within_limits_then_order_published_once_per_intent() -> None:
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build(risk_app, RiskSettings, bus)) as client:
        await bus.publish(bus.names.intents(), intent(7))
        await bus.publish(bus.names.intents(), intent(7))  # a duplicate gets the same decision

        async def decided() -> bool:
            return len(await entries(bus, bus.names.orders)) == 2

        await eventually(decided, what="two decisions")
        first, second = await entries(bus, bus.names.orders)
        assert isinstance(first, Order) and first == second
        assert (
            first.intent_id == "intent-7" and first.target_quantity == 7 and "max_order_notional" in first.checks_passed
        )
        status = (await client.get("/status")).json()
        assert status["details"]["trading_state"] == "active" and status["details"]["kill_switch"] is False


async def test_kill_when_token_missing_or_wrong_then_401_and_when_right_then_every_intent_denied(
    isolated_home: Path,
) -> None:
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build(risk_app, RiskSettings, bus)) as client:
        body = {"reason": "drill"}
        assert (await client.post("/kill", json=body)).status_code == 401
        wrong = await client.post("/kill", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        right = await client.post("/kill", json=body, headers={"Authorization": "Bearer test-control-token"})
        assert right.status_code == 200 and right.json()["kill_switch"] is True
        await bus.publish(bus.names.intents(), intent(1))

        async def denied() -> bool:
            return len(await entries(bus, bus.names.orders)) == 2

        await eventually(denied, what="the kill and a denial")
        changed, denial = await entries(bus, bus.names.orders)
        assert isinstance(changed, TradingStateChanged) and changed.kill_switch and changed.cause == "kill_switch"
        assert changed.trading_state is TradingState.HALTED and changed.detail == "drill (by api)"
        assert isinstance(denial, OrderDenied) and denial.reason is DenialReason.KILL_SWITCH
        status = (await client.get("/status")).json()
        assert status["details"]["kill_switch"] is True and any("kill switch" in line for line in status["unsafe"])
    saved = isolated_home / "runs" / "live" / "risk_state.json"
    assert '"killed": true' in saved.read_text()
    # a restarted risk service keeps the kill switch until an operator resumes
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build(risk_app, RiskSettings, bus)) as client:
        assert (await client.get("/status")).json()["details"]["kill_switch"] is True
        resumed = await client.post(
            "/resume", json={"reason": "ok"}, headers={"Authorization": "Bearer test-control-token"}
        )
        assert resumed.json() == {
            "trading_state": "active",
            "kill_switch": False,
            "cause": "operator",
            "detail": "ok (by api)",
        }


def test_risk_when_no_control_token_then_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISK_CONTROL_TOKEN")
    with pytest.raises(StartupRefused, match="RISK_CONTROL_TOKEN is not set"):
        risk_app(RiskSettings(), Bus.memory())


@pytest.mark.parametrize(
    ("factory", "env", "line"),
    [
        (
            "services.executor.app:create_app",
            {
                "EXECUTOR_BROKER": "alpaca",
                "EXECUTOR_LIVE": "true",
                "APCA_API_KEY_ID": "AKFAKE",
                "APCA_API_SECRET_KEY": "x",
            },
            "executor: EXECUTOR_LIVE=true needs EXECUTOR_ACKNOWLEDGE_RISK=true",
        ),
        ("services.executor.app:create_app", {"EXECUTOR_BROKER": "ib"}, "executor: EXECUTOR_BROKER=ib: Interactive"),
        (
            "services.risk.app:create_app",
            {"RISK_LIMITS__MAX_DRAWDOWN": "off"},
            "risk: RISK_LIMITS__MAX_DRAWDOWN is not",
        ),
    ],
    ids=["executor-live-unacknowledged", "executor-ib", "risk-limit-off"],
)
def test_create_app_when_started_like_uvicorn_factory_then_unsafe_settings_refused(
    monkeypatch: pytest.MonkeyPatch, factory: str, env: dict[str, str], line: str
) -> None:
    from uvicorn.importer import import_from_string

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    create_app = import_from_string(factory)  # what `uvicorn <factory> --factory` calls, with no arguments
    with pytest.raises(StartupRefused) as refused:
        create_app()
    assert any(refusal.startswith(line) for refusal in refused.value.lines), refused.value.lines


def test_uvicorn_when_executor_live_without_acknowledgement_then_it_never_serves() -> None:
    environment = {**os.environ, "EXECUTOR_BROKER": "alpaca", "EXECUTOR_LIVE": "true"}
    command = [sys.executable, "-m", "uvicorn", "services.executor.app:create_app", "--factory", "--port", "1"]
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode != 0
    assert "StartupRefused: executor: EXECUTOR_LIVE=true needs EXECUTOR_ACKNOWLEDGE_RISK=true" in completed.stderr


async def test_risk_when_intent_id_is_long_then_denial_id_still_valid() -> None:
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build(risk_app, RiskSettings, bus)):
        await bus.publish(bus.names.intents(), intent(1).model_copy(update={"id": "x" * 128}))

        async def denied() -> bool:
            return len(await entries(bus, bus.names.orders)) == 1

        await eventually(denied, what="a denial for the long intent id")
        (denial,) = await entries(bus, bus.names.orders)
        assert denial.intent_id == "x" * 128 and len(denial.id) == 32


async def test_service_when_bound_publicly_then_unsafe_is_loud() -> None:
    bus = Bus.memory(StreamNames(prefix="unit"))
    async with running(build(feed_app, FeedSettings, bus, host="0.0.0.0")) as client:
        status = (await client.get("/status")).json()
        assert any("0.0.0.0" in line for line in status["unsafe"])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@redis:6379/0", "redis://:********@redis:6379/0"),
        ("redis://logos:hunter2@redis:6379/0", "redis://logos:********@redis:6379/0"),
        ("rediss://redis:6380/0?password=hunter2", "rediss://redis:6380/0?password=********"),
        ("redis://redis:6379/0?db=0&PWD=hunter2", "redis://redis:6379/0?db=0&PWD=********"),
        ("unix:///run/redis.sock?token=hunter2", "unix:///run/redis.sock?token=********"),
    ],
)
async def test_status_when_secret_in_redis_url_then_never_shown(url: str, shown: str) -> None:
    bus = Bus.memory(StreamNames(prefix="unit"))
    settings = FeedSettings(logos=LogosSettings(redis_url=url))  # type: ignore[arg-type,call-arg]
    async with running(feed_app(settings, bus)) as client:
        status = (await client.get("/status")).json()
        assert "hunter2" not in str(status) and status["redis"]["url"] == shown
        assert "hunter2" not in (await client.get("/metrics")).text
