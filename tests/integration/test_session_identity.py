"""One session across services, on a real Redis: recorded once, resumed by all, a mix refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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
from services.ml.app import create_app as ml_app
from services.ml.config import MLSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from services.runtime.errors import StartupRefused
from services.runtime.session_identity import SessionIdentity, executor_key, session_key
from tests.support.apps import running
from tests.support.cli_process import run_logos
from tests.support.redis_process import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
BIN = Path(sys.executable).parent


def fast(redis_url: str, names: StreamNames) -> LogosSettings:
    return LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)


def record(client: redis.Redis, names: StreamNames, session_id: str) -> None:
    """Record ``session_id`` as the stack's session, its executor directory of the same name."""
    identity = SessionIdentity(id=session_id, started_at="2024-01-01T00:00:00Z", recorded_by="test")
    client.set(session_key(names.prefix), identity.model_dump_json())
    client.set(executor_key(names.prefix, session_id), session_id)


def recorded(client: redis.Redis, names: StreamNames) -> dict[str, Any]:
    raw = client.get(session_key(names.prefix))
    assert raw is not None, "no session recorded"
    value: dict[str, Any] = json.loads(raw)
    return value


async def test_services_when_started_together_then_one_session_and_a_restart_resumes_it(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    logos = fast(redis_url, names)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    for attempt in range(2):  # a clean stop of all of them, then a second start: the same session
        async with (
            running(ml_app(MLSettings(logos=logos, strategy="sma_cross"))),
            running(risk_app(RiskSettings(logos=logos))),
            running(executor_app(ExecutorSettings(logos=logos))) as executor,
        ):
            session = recorded(client, names)
            details = (await executor.get("/status")).json()["details"]
            assert details["session"] == session["id"], attempt
        if attempt == 0:
            first = session["id"]
    assert session["id"] == first
    live = isolated_home / "runs" / "live"
    assert (live / "current_session").read_text().strip() == first  # a stop on Redis does not end the session
    assert (live / "risk_state.json.session").read_text().strip() == first
    assert [path.name for path in (live / "sessions").iterdir()] == [first]
    client.close()


def test_executor_when_its_pointer_names_another_session_than_redis_then_refused_in_one_line(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    record(client, names, "session_b")
    pointer = isolated_home / "runs" / "live" / "current_session"
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text("session_a\n")
    env = {"LOGOS_REDIS_URL": redis_url, "LOGOS_STREAM_PREFIX": names.prefix, "EXECUTOR_PORT": str(free_port())}

    done = run_logos("serve", "executor", env=env)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: executor: {pointer} holds session session_a but the stack's session (Redis {names.prefix}:session) "
        "is session_b; resume session_b with `logos session resume` or start fresh with `logos session new` "
        "(make paper FRESH=1; the stack stopped)"
    ]
    assert not client.exists(names.orders)  # it joined no group (a group is created with its stream)
    assert not (isolated_home / "runs" / "live" / "sessions" / "session_a").exists()
    client.close()


async def test_risk_when_its_state_belongs_to_another_session_then_refused(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    record(client, names, "session_b")
    live = isolated_home / "runs" / "live"
    live.mkdir(parents=True, exist_ok=True)
    (live / "risk_state.json").write_text('{"state": "halted", "killed": true}\n')
    (live / "risk_state.json.session").write_text("session_a\n")

    with pytest.raises(StartupRefused) as refused:
        async with running(risk_app(RiskSettings(logos=fast(redis_url, names)))):
            pass

    assert refused.value.lines == [
        f"risk: {live / 'risk_state.json.session'} belongs to session session_a but the stack's session (Redis "
        f"{names.prefix}:session) is session_b; resume session_b with `logos session resume` or start fresh with "
        "`logos session new` (make paper FRESH=1; the stack stopped)"
    ]
    assert not client.exists(names.bars())  # it joined no group
    client.close()


async def test_ml_when_its_strategy_differs_from_the_session_then_refused(redis_url: str, names: StreamNames) -> None:
    logos = fast(redis_url, names)
    async with running(ml_app(MLSettings(logos=logos, strategy="sma_cross"))):
        pass
    with pytest.raises(StartupRefused) as refused:
        async with running(ml_app(MLSettings(logos=logos, strategy="sma_cross", sizing="notional:5000"))):
            pass
    (line,) = refused.value.lines
    assert line.startswith("ml: its configuration (ML_STRATEGY, ML_PARAMS, ML_SIZING, ML_SHADOW_STRATEGY, ")
    assert "restore it to resume, or start fresh with `logos session new`" in line


async def test_redis_when_it_holds_streams_no_session_was_recorded_for_then_ml_refuses(
    redis_url: str, names: StreamNames
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.xadd(names.bars(), {"type": "bar", "v": "1", "body": "{}"})
    client.xgroup_create(names.bars(), "ml", id="$")  # read to the end by a stack before sessions were recorded
    with pytest.raises(StartupRefused) as refused:
        async with running(ml_app(MLSettings(logos=fast(redis_url, names), strategy="sma_cross"))):
            pass
    assert refused.value.lines == [
        f"ml: Redis holds the {names.prefix} streams of a session it never recorded (its group has read them); "
        "start fresh with `logos session new` (make paper FRESH=1; the stack stopped)"
    ]
    client.close()


async def test_session_new_when_the_stack_is_stopped_then_streams_and_risk_state_cleared_and_a_new_id(
    redis_url: str, names: StreamNames, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logos = fast(redis_url, names)
    async with (
        running(risk_app(RiskSettings(logos=logos))),
        running(executor_app(ExecutorSettings(logos=logos))),
    ):
        pass
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    old = recorded(client, names)["id"]
    client.xadd(names.dlq, {"type": "dead_letter", "v": "1", "body": "{}"})
    monkeypatch.setenv("LOGOS_REDIS_URL", redis_url)
    monkeypatch.setenv("LOGOS_STREAM_PREFIX", names.prefix)
    for name in ("feed", "ml", "risk", "executor", "brain"):  # nobody answers on the ports it probes
        monkeypatch.setenv(f"{name.upper()}_PORT", str(free_port()))

    result = CliRunner().invoke(cli, ["session", "new"])

    assert result.exit_code == 0, result.output
    fresh = recorded(client, names)["id"]
    assert fresh != old and f"fresh session {fresh} (was {old})" in result.output
    assert not client.exists(names.orders, names.control, names.bars())
    assert client.xlen(names.dlq) == 1  # the dead letters are kept
    live = isolated_home / "runs" / "live"
    assert not (live / "current_session").exists() and not (live / "risk_state.json.session").exists()
    async with running(executor_app(ExecutorSettings(logos=logos))) as executor:
        assert (await executor.get("/status")).json()["details"]["session"] == fresh
    client.close()


def test_second_executor_when_its_port_is_taken_then_exit_2_and_it_never_joins_the_group(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    port = free_port()
    env = {"LOGOS_REDIS_URL": redis_url, "LOGOS_STREAM_PREFIX": names.prefix, "EXECUTOR_PORT": str(port)}
    command = [str(BIN / "logos"), "serve", "executor"]
    first = subprocess.Popen(command, env=os.environ | env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("the first executor never became ready")

        second = run_logos("serve", "executor", env={**env, "EXECUTOR_INSTANCE": "second"})

        assert second.returncode == 2, second.stderr
        errors = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith(f"error: executor: cannot bind 127.0.0.1:{port} ("), errors
        assert "another executor is running there? stop it or choose another port (EXECUTOR_PORT)" in errors[0]
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        for stream in (names.orders, names.bars(), names.control):
            consumers = {consumer["name"] for consumer in client.xinfo_consumers(stream, "executor")}
            assert consumers == {"executor"}, (stream, consumers)
        client.close()
    finally:
        first.terminate()
        first.wait(timeout=30)
