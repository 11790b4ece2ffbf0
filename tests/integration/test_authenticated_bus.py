"""Orders and control commands over a real Redis: only what their key holders signed is ever acted on.

Risk and the executor run as their apps; the forger is anyone who can append to Redis (a bus
without keys, or XADD by hand). Every forged, altered or misattributed entry is dead-lettered as
``unauthenticated`` and changes nothing; the command line's signed path kills and resumes, and
the audit names its issuer and its key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from logos.auth import signature
from logos.bus import Bus, decode, encode
from logos.contracts import Control, ControlCommand, DeadLetter, Order, TradingStateChanged
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.executor.app import create_app as executor_app
from services.executor.config import ExecutorSettings
from services.risk.app import create_app as risk_app
from services.risk.config import RiskSettings
from services.runtime.errors import StartupRefused
from tests.support.apps import running
from tests.support.bus_helpers import eventually
from tests.support.cli_process import run_logos
from tests.support.risk_sessions import bar

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
TOKEN = {"Authorization": "Bearer test-control-token"}
SESSION = "signed"


@dataclass
class Stack:
    """Risk and the executor on one Redis, with a forger's view of it."""

    names: StreamNames
    logos: LogosSettings
    risk: httpx.AsyncClient
    executor: httpx.AsyncClient
    forger: Bus  # holds no key: what anyone who can reach Redis can publish
    redis: aioredis.Redis
    home: Path

    async def risk_details(self) -> dict[str, object]:
        details: dict[str, object] = (await self.risk.get("/status")).json()["details"]
        return details

    async def executor_details(self) -> dict[str, object]:
        details: dict[str, object] = (await self.executor.get("/status")).json()["details"]
        return details

    async def dead_letters(self) -> list[DeadLetter]:
        entries = await self.redis.xrange(self.names.dlq)
        return [
            letter
            for _, fields in entries
            if isinstance(letter := decode(fields, frozenset({"dead_letter"})), DeadLetter)
        ]

    async def refused(self, entry_id: str, count: int = 1) -> list[DeadLetter]:
        """Wait for the dead letters of ``entry_id`` (one per different reason) and return them."""

        async def arrived() -> bool:
            return len([d for d in await self.dead_letters() if d.entry_id == entry_id]) >= count

        await eventually(arrived, 15, f"the dead letter of {entry_id}")
        await self.quiet()
        return [letter for letter in await self.dead_letters() if letter.entry_id == entry_id]

    async def quiet(self) -> None:
        streams = [self.names.orders, self.names.control, *self.names.all_bars(), *self.names.all_intents()]
        assert await self.forger.wait_until_quiet(streams, timeout_seconds=30, poll_seconds=0.01)

    async def xadd(self, stream: str, fields: dict[str, str]) -> str:
        entry_id: str = await self.redis.xadd(stream, fields)  # type: ignore[arg-type]
        return entry_id

    async def state_changes(self) -> list[TradingStateChanged]:
        entries = await self.redis.xrange(self.names.orders)
        accepted = self.names.accepted_types(self.names.orders)
        return [m for _, fields in entries if isinstance(m := decode(fields, accepted), TradingStateChanged)]

    def risk_state(self) -> bytes:
        return (self.home / "runs" / "live" / "risk_state.json").read_bytes()

    def key(self, name: str) -> bytes:
        return self.logos.secrets.require(name, "the test").encode("utf-8")


@asynccontextmanager
async def stack(redis_url: str, names: StreamNames, home: Path) -> AsyncIterator[Stack]:
    logos = LogosSettings(redis_url=redis_url, stream_prefix=names.prefix, read_block_seconds=0.05)  # type: ignore[arg-type]
    risk = RiskSettings(logos=logos, heartbeat_seconds=0.2)  # type: ignore[call-arg]
    executor = ExecutorSettings(logos=logos, session_id=SESSION, heartbeat_seconds=0.2)  # type: ignore[call-arg]
    forger = Bus.redis(redis_url, names, block_seconds=0.05)
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    async with AsyncExitStack() as apps:
        executor_client = await apps.enter_async_context(running(executor_app(executor)))
        risk_client = await apps.enter_async_context(running(risk_app(risk)))
        found = Stack(names, logos, risk_client, executor_client, forger, raw, home)

        async def ready() -> bool:
            codes = [(await client.get("/readyz")).status_code for client in (risk_client, executor_client)]
            return codes == [200, 200]

        await eventually(ready, 15, "risk and the executor ready")
        try:
            yield found
        finally:
            await apps.aclose()
            await forger.close()
            await raw.aclose()


async def kill_with_token(found: Stack) -> None:
    response = await found.risk.post("/kill", json={"reason": "drill"}, headers=TOKEN)
    assert response.status_code == 200 and response.json()["kill_switch"] is True
    await found.quiet()


async def test_forged_resume_when_risk_killed_then_dead_lettered_unauthenticated_and_risk_stays_killed(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    async with stack(redis_url, names, isolated_home) as found:
        await kill_with_token(found)
        saved = found.risk_state()
        changes = len(await found.state_changes())
        forged = Control(command=ControlCommand.RESUME, reason="let me trade", issued_by="mallory")
        entry_id = await found.forger.publish(names.control, forged)
        (letter,) = await found.refused(entry_id)
        assert letter.reason.startswith("unauthenticated: missing signature")
        assert letter.group in ("risk", "executor") and letter.source_stream == names.control
        details = await found.risk_details()
        assert details["kill_switch"] is True and details["trading_state"] == "halted"
        assert found.risk_state() == saved  # risk_state.json did not move
        assert len(await found.state_changes()) == changes  # and risk announced nothing


async def test_forged_kill_when_risk_active_then_refused_and_risk_stays_active(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    async with stack(redis_url, names, isolated_home) as found:
        forged = Control(command=ControlCommand.KILL, reason="halt them", issued_by="mallory")
        entry_id = await found.forger.publish(names.control, forged)
        (letter,) = await found.refused(entry_id)
        assert letter.reason.startswith("unauthenticated: missing signature")
        details = await found.risk_details()
        assert details["kill_switch"] is False and details["trading_state"] == "active"
        assert await found.state_changes() == []


async def test_forged_order_when_target_far_beyond_limits_then_refused_by_executor_and_position_unchanged(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    async with stack(redis_url, names, isolated_home) as found:
        await found.forger.publish(names.bars_for("AAPL"), bar("AAPL", now))
        await found.quiet()
        forged = Order(
            intent_id="forged-1",
            symbol="AAPL",
            target_quantity=Decimal(2000),
            reference_price=Decimal(104),
            strategy="mallory",
        )
        entry_id = await found.forger.publish(names.orders, forged)
        (letter,) = await found.refused(entry_id)
        assert letter.group == "executor" and letter.reason.startswith("unauthenticated: missing signature")
        # signed with the control key (which the command line holds): still not an order risk made
        fields = encode(forged.model_copy(update={"id": "forged-2"}))
        key = found.key(CONTROL_KEY)
        misattributed = {**fields, "signer": CONTROL_KEY, "sig": signature(key, names.orders, CONTROL_KEY, fields)}
        (letter,) = await found.refused(await found.xadd(names.orders, misattributed))
        assert letter.reason.startswith("unauthenticated: unknown signer 'control-key'")
        await found.forger.publish(names.bars_for("AAPL"), bar("AAPL", now + timedelta(minutes=1)))
        await found.quiet()
        details = await found.executor_details()
        assert details["positions"] == {} and details["fills"] == 0 and details["working_orders"] == 0


def signed_control(
    found: Stack, command: ControlCommand, reason: str, key: bytes | None = None, ts: datetime | None = None
) -> dict[str, str]:
    fields = encode(Control(command=command, reason=reason, issued_by="cli", ts=ts or datetime.now(UTC)))
    sig = signature(key or found.key(CONTROL_KEY), found.names.control, CONTROL_KEY, fields)
    return {**fields, "signer": CONTROL_KEY, "sig": sig}


def tampered(found: Stack) -> dict[str, str]:
    fields = signed_control(found, ControlCommand.HALT, "maintenance")
    body = json.loads(fields["body"])
    body["command"] = "resume"  # the signed halt, turned into a resume
    return {**fields, "body": json.dumps(body)}


def replayed(found: Stack) -> dict[str, str]:
    """A signature risk's own key made for another entry, on a forged body."""
    signed = signed_control(found, ControlCommand.HALT, "maintenance")
    forged = encode(Control(command=ControlCommand.RESUME, reason="let me trade", issued_by="cli"))
    return {**forged, "signer": signed["signer"], "sig": signed["sig"]}


FORGERIES = {
    "wrong_key": (lambda found: signed_control(found, ControlCommand.RESUME, "r", b"not-the-key"), "bad signature"),
    "tampered_field": (tampered, "bad signature"),
    "replayed_signature": (replayed, "bad signature"),
    "missing_signer": (
        lambda found: {k: v for k, v in signed_control(found, ControlCommand.RESUME, "r").items() if k != "signer"},
        "missing signature",
    ),
    "unknown_signer": (
        lambda found: {**signed_control(found, ControlCommand.RESUME, "r"), "signer": "mallory"},
        "unknown signer 'mallory'",
    ),
    "orders_key": (  # risk's own key is not the control key: risk cannot be made to resume itself
        lambda found: {
            **(fields := encode(Control(command=ControlCommand.RESUME, reason="r"))),
            "signer": ORDERS_KEY,
            "sig": signature(found.key(ORDERS_KEY), found.names.control, ORDERS_KEY, fields),
        },
        "unknown signer 'orders-key'",
    ),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_control_entry_when_forged_or_altered_then_refused_with_its_reason_and_kill_holds(
    redis_url: str, names: StreamNames, isolated_home: Path, forgery: str
) -> None:
    build, why = FORGERIES[forgery]
    async with stack(redis_url, names, isolated_home) as found:
        await kill_with_token(found)
        saved = found.risk_state()
        letters = await found.refused(await found.xadd(names.control, build(found)))
        assert {letter.group for letter in letters} <= {"risk", "executor"}
        assert all(letter.reason.startswith(f"unauthenticated: {why}") for letter in letters), letters
        details = await found.risk_details()
        assert details["kill_switch"] is True and details["trading_state"] == "halted"
        assert found.risk_state() == saved


async def test_cli_kill_via_bus_when_signed_then_risk_killed_executor_records_and_audit_names_issuer_and_key(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    env = {"LOGOS_REDIS_URL": redis_url, "LOGOS_STREAM_PREFIX": names.prefix, "LOGOS_HOME": str(isolated_home)}
    async with stack(redis_url, names, isolated_home) as found:
        killed = await asyncio.to_thread(run_logos, "kill", "--via-bus", "--reason", "drill", env=env)
        assert killed.returncode == 0, killed.stderr
        assert "signed with control-key" in killed.stdout
        assert "trading state halted, kill switch on: drill (by cli, signed with control-key)" in killed.stdout
        await found.quiet()
        assert (await found.risk_details())["kill_switch"] is True
        (change,) = await found.state_changes()
        assert change.cause == "kill_switch" and change.detail == "drill (by cli, signed with control-key)"
        resumed = await asyncio.to_thread(run_logos, "resume", "--via-bus", "--reason", "drill over", env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert "trading state active, kill switch off: drill over (by cli, signed with control-key)" in resumed.stdout
        await found.quiet()
        assert (await found.risk_details())["kill_switch"] is False
        assert await found.dead_letters() == []
    session = isolated_home / "runs" / "live" / "sessions" / SESSION
    events = [json.loads(line) for line in (session / "state.jsonl").read_text().splitlines()]
    commands = [(e["command"], e["issued_by"], e["signer"]) for e in events if e["event"] == "control"]
    assert commands == [("kill", "cli", CONTROL_KEY), ("resume", "cli", CONTROL_KEY)]
    markdown = (session / "session.md").read_text()
    assert "| halted | on | kill_switch | drill (by cli, signed with control-key) |" in markdown


async def test_cli_kill_via_bus_when_control_key_missing_then_one_line_and_exit_2(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    LogosSettings().secrets.path(CONTROL_KEY).unlink()
    env = {"LOGOS_REDIS_URL": redis_url, "LOGOS_STREAM_PREFIX": names.prefix, "LOGOS_HOME": str(isolated_home)}
    done = await asyncio.to_thread(run_logos, "kill", "--via-bus", env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "the command line's control path needs the secret " in done.stderr
    assert "control-key" in done.stderr and "logos secrets init" in done.stderr


@pytest.mark.parametrize(
    ("missing", "service"), [(ORDERS_KEY, "risk"), (CONTROL_KEY, "risk"), (ORDERS_KEY, "executor")]
)
async def test_service_when_its_key_is_missing_then_refuses_to_start_naming_the_file(
    redis_url: str, names: StreamNames, isolated_home: Path, missing: str, service: str
) -> None:
    logos = LogosSettings(redis_url=redis_url, stream_prefix=names.prefix)  # type: ignore[arg-type]
    logos.secrets.path(missing).unlink()
    app = risk_app(RiskSettings(logos=logos)) if service == "risk" else executor_app(ExecutorSettings(logos=logos))  # type: ignore[call-arg]
    with pytest.raises(StartupRefused) as refused:
        async with running(app):
            pass
    (line,) = refused.value.lines
    assert line.startswith(f"{service} needs the secret {logos.secrets.path(missing)}, which is missing or empty")
    assert "logos secrets init" in line


async def test_signed_resume_when_appended_again_or_too_old_then_refused_and_kill_holds(
    redis_url: str, names: StreamNames, isolated_home: Path
) -> None:
    # a signature says who issued a command, not when: a verbatim copy of yesterday's signed resume
    # appended again, or a signed command held back for an hour, must not lift today's kill
    async with stack(redis_url, names, isolated_home) as found:
        resume = signed_control(found, ControlCommand.RESUME, "morning")
        await found.xadd(names.control, signed_control(found, ControlCommand.KILL, "drill"))
        await found.xadd(names.control, resume)
        await found.quiet()
        assert (await found.risk_details())["kill_switch"] is False  # the genuine kill, then the genuine resume
        await kill_with_token(found)
        saved = found.risk_state()
        letters = await found.refused(await found.xadd(names.control, resume))  # the same signed entry, again
        risk_letters = [letter for letter in letters if letter.group == "risk"]
        assert [letter.reason.split(":")[0] for letter in risk_letters] == ["unauthenticated"]
        assert "already acted on" in risk_letters[0].reason and "replayed copy" in risk_letters[0].reason
        held_back = signed_control(found, ControlCommand.RESUME, "late", ts=datetime.now(UTC) - timedelta(hours=1))
        letters = await found.refused(await found.xadd(names.control, held_back))
        assert any("more than RISK_CONTROL_MAX_AGE_SECONDS=300" in letter.reason for letter in letters), letters
        details = await found.risk_details()
        assert details["kill_switch"] is True and details["trading_state"] == "halted"
        assert found.risk_state() == saved
