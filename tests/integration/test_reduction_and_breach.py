"""The probe of a running stack, over a real Redis: an order risk should never have approved, and its aftermath.

An order with target 2000 took a position of 191 units to 2000 at about 104 (notional 208,000
against risk's 25,000 per order and 50,000 per position). Here the executor's own hard limits
refuse such an order; when they are set too wide to (as a risk fault would need), risk raises the
breach (REDUCING, unsafe on /status) and reduces the position by ml's intent, sliced to its
per-order limit, until the position is back within the limits and trading is ACTIVE again. The
orders are signed with the orders key, as a faulty risk's would be: the signature is not what
stops them.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from logos.auth import Authenticator
from logos.contracts import Order, OrderRejected, TradingState
from logos.risk.limits import RiskLimits
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.settings import LogosSettings
from logos.streams import StreamNames
from tests.support.risk_sessions import DAY, RedisSession, bar, intent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
D = Decimal
LIMITS = RiskLimits(max_order_notional=D(25_000), max_position_notional=D(50_000))
PRICE = "104"


def minute(number: int):  # type: ignore[no-untyped-def]
    return DAY + timedelta(minutes=number)


async def forge(session: RedisSession, target: str, at: int, number: int = 0) -> Order:
    """Put an order on the orders stream that risk never decided on, signed as risk's own would be."""
    forged = Order(id=f"forged-{number}", ts=minute(at), intent_id=f"forged-intent-{number}", symbol="AAPL",
                   target_quantity=D(target), reference_price=D(PRICE), strategy="mallory")  # fmt: skip
    authenticator = Authenticator.from_store(session.names, LogosSettings().secrets, "test", [ORDERS_KEY], [])
    await session.bus.with_authenticator(authenticator).publish(session.names.orders, forged)
    await session.settle()
    return forged


async def hold_191(session: RedisSession) -> None:
    """ml's 191 units at 104 (19,864: inside every limit), filled at the next bar's open."""
    await session.send_bar(bar("AAPL", minute(0), PRICE))
    await session.send_intent(intent("AAPL", "191", minute(0), PRICE))
    await session.send_bar(bar("AAPL", minute(1), PRICE))
    assert session.executor.engine.paper_broker.ledger.position("AAPL") == D(191)


async def rejections(session: RedisSession) -> list[OrderRejected]:
    return [m for m in await session.stream(session.names.fills) if isinstance(m, OrderRejected)]


def events(directory: Path, kind: str) -> list[dict[str, object]]:
    lines = (directory / "state.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["event"] == kind]


async def test_forged_order_when_over_the_executors_hard_limit_then_refused_with_crit_and_recorded_position_unchanged(
    redis_url: str, names: StreamNames, caplog: pytest.LogCaptureFixture
) -> None:
    session = await RedisSession(redis_url, names, LIMITS, strategy=None).start()
    try:
        await hold_191(session)
        with caplog.at_level(logging.CRITICAL, logger="logos.executor"):
            await forge(session, "2000", at=1)
        await session.send_bar(bar("AAPL", minute(2), PRICE))
        position = session.executor.engine.paper_broker.ledger.position("AAPL")
        refused = await rejections(session)
        warnings = session.executor.warnings()
        details = session.executor.details()["hard_limits"]
    finally:
        directory = await session.stop()

    assert position == D(191)  # nothing was sent
    (rejected,) = refused
    assert rejected.id == "refused|forged-0" and rejected.intent_id == "forged-intent-0"
    assert rejected.reason == (
        "executor hard limit max_order_notional: order of 1809 AAPL at 104.00 is worth 188136.00, above the executor's "
        "hard limit 50000"
    )
    (line,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "refused order forged-0" in line.getMessage() and "hard limit max_order_notional" in line.getMessage()
    assert "188136.00" in line.getMessage() and "target 2000" in line.getMessage()
    (record,) = events(directory, "refused")
    assert record["decision_id"] == "forged-0" and record["limit"] == "max_order_notional"
    assert record["position"] == "191" and record["target"] == "2000"
    assert (
        "CRIT decision forged-0 refused by hard limit max_order_notional"
        in (directory / "logs" / "run.log").read_text()
    )
    summary = (directory / "session.md").read_text()
    assert "refused by the executor's hard limits: 1 order risk had approved (max_order_notional: 1, first:" in summary
    assert any(w.startswith("CRIT: 1 approved orders refused by the executor's hard limits") for w in warnings)
    assert details["refused"] == {"max_order_notional": 1}
    assert details["limits"] == {
        "max_order_notional": "50000",
        "max_position_notional": "100000",
        "max_orders_per_minute": "120",
    }


async def test_rate_burst_when_more_orders_than_the_executors_rate_in_a_minute_then_the_rest_refused(
    redis_url: str, names: StreamNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXECUTOR_MAX_ORDERS_PER_MINUTE", "2")
    session = await RedisSession(redis_url, names, LIMITS, strategy=None).start()
    try:
        await session.send_bar(bar("AAPL", minute(0), PRICE))
        for target in ("10", "20", "30", "40"):  # risk has no rate limit here: all four approved
            await session.send_intent(intent("AAPL", target, minute(0), PRICE))
        await session.send_bar(bar("AAPL", minute(1), PRICE))
        position = session.executor.engine.paper_broker.ledger.position("AAPL")
        refused = await rejections(session)
    finally:
        await session.stop()

    assert position == D(20)  # the second order replaced the first; the third and fourth never went out
    assert [r.reason.split(":")[0] for r in refused] == ["executor hard limit max_orders_per_minute"] * 2
    assert "2 orders sent in the minute before 2024-03-04T14:30:00+00:00" in refused[0].reason


async def probe_then_reduce(redis_url: str, names: StreamNames) -> tuple[RedisSession, list[list[str]], Path]:
    """The probe, then ml's intent back to 191; bars until the position is there; the risk status at each bar."""
    session = await RedisSession(redis_url, names, LIMITS, strategy=None).start()
    statuses: list[list[str]] = []
    try:
        await hold_191(session)
        await forge(session, "2000", at=1)
        await session.send_bar(bar("AAPL", minute(2), PRICE))  # the forged order fills: 2000 units
        statuses.append(session.risk.warnings())
        await session.send_intent(intent("AAPL", "191", minute(2), PRICE))  # ml wants its 191 back
        for number in range(3, 20):
            await session.send_bar(bar("AAPL", minute(number), PRICE))
            statuses.append(session.risk.warnings())
            if session.executor.engine.paper_broker.ledger.position("AAPL") == D(191):
                break
    finally:
        directory = await session.stop()
    return session, statuses, directory


async def test_position_over_the_limits_when_ml_reduces_then_sliced_to_the_order_limit_breach_raised_and_cleared(
    redis_url: str, names: StreamNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXECUTOR_MAX_ORDER_NOTIONAL", "1000000")  # walls set too wide: the breach reaches risk
    monkeypatch.setenv("EXECUTOR_MAX_POSITION_NOTIONAL", "1000000")
    monkeypatch.setenv("EXECUTOR_CASH", "250000")  # the forged 2000 at 104 is paid for: a cash account cannot overspend
    session, statuses, directory = await probe_then_reduce(redis_url, names)

    assert session.executor.engine.paper_broker.ledger.position("AAPL") == D(191)
    orders = [m for m in await session.orders_stream() if isinstance(m, Order)]
    reduction = [o for o in orders if o.intent_id.startswith("scripted|AAPL|191|") and o.ts > minute(1)]
    targets = [o.target_quantity for o in reduction]
    assert targets == [D(n) for n in (1760, 1520, 1280, 1040, 800, 560, 320, 191)]
    previous = D(2000)
    for target in targets:
        assert abs(previous - target) * D(PRICE) <= LIMITS.max_order_notional  # type: ignore[operator]
        previous = target
    assert len({o.id for o in reduction}) == len(reduction)
    assert not [d for d in await session.denials() if d.ts > minute(1)]  # the reduction was never denied

    changes = [(c.trading_state, c.cause) for c in await session.state_changes()]
    assert changes == [(TradingState.REDUCING, "limit_breach"), (TradingState.ACTIVE, "recovered")]
    (breach,) = [c for c in await session.state_changes() if c.cause == "limit_breach"]
    assert "position 2000 of AAPL is worth 208000 at 104" in breach.detail
    assert "above max_position_notional 50000" in breach.detail
    assert any(w.startswith("UNSAFE: limit breach: position 2000 of AAPL") for w in statuses[0])
    assert not any("UNSAFE" in w for w in statuses[-1]) and session.risk.engine.state is TradingState.ACTIVE
    summary = (directory / "session.md").read_text()
    assert "| limit_breach |" in summary and "| recovered |" in summary


async def test_sliced_reduction_when_replayed_twice_then_session_files_byte_identical(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EXECUTOR_MAX_ORDER_NOTIONAL", "1000000")
    monkeypatch.setenv("EXECUTOR_MAX_POSITION_NOTIONAL", "1000000")
    monkeypatch.setenv("EXECUTOR_CASH", "250000")
    directories = []
    for run in ("first", "second"):
        home = tmp_path / run
        monkeypatch.setenv("LOGOS_HOME", str(home))
        LogosSettings().secrets.ensure([ORDERS_KEY, CONTROL_KEY])
        names = StreamNames(prefix=f"test-reduction-{run}-{tmp_path.name}")
        _, _, directory = await probe_then_reduce(redis_url, names)
        directories.append(directory)
    for name in ("state.jsonl", "orders.csv", "trades.csv", "account.csv", "session.md", "logs/run.log"):
        assert (directories[0] / name).read_bytes() == (directories[1] / name).read_bytes(), name
