"""Orders routed to a venue: the executor's live path through ccxt's own Binance class on recorded responses."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from logos.bus import Bus
from logos.bus.codec import decode
from logos.contracts import AccountSnapshot, Bar, Control, ControlCommand, Fill, Message, Order, OrderRejected
from logos.settings import LogosSettings
from services.executor.brokers.interface import client_order_id
from services.executor.config import ExecutorSettings
from services.executor.worker import ExecutorWorker
from services.runtime.app import build_status
from services.runtime.errors import StartupRefused
from tests.support.bus_helpers import signing
from tests.support.recorded_brokers import (
    FAKE_ALPACA_KEY,
    FAKE_ALPACA_SECRET,
    FAKE_BINANCE_KEY,
    FAKE_BINANCE_SECRET,
    alpaca_server,
    ccxt_recorded,
)
from tests.support.recorded_http import Reply
from tests.support.venue_book import BinanceBook

SESSION = "venue"
T0 = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)


@pytest.fixture
def book(monkeypatch: pytest.MonkeyPatch) -> BinanceBook:
    """Every HTTP request of any requests session (ccxt's) goes to a Binance book of the test's own."""
    venue = BinanceBook()
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: venue.server)
    return venue


def _settings(**extra: Any) -> ExecutorSettings:
    return ExecutorSettings(
        logos=LogosSettings(read_block_seconds=0.05), session_id=SESSION, broker="ccxt", exchange="binance",
        live=True, acknowledge_risk=True, ccxt_api_key=SecretStr(FAKE_BINANCE_KEY),
        ccxt_secret=SecretStr(FAKE_BINANCE_SECRET), symbol_map={"BTC-USD": "BTC/USDT"}, poll_seconds=300, **extra,
    )  # fmt: skip


def _client_id(order_id: str) -> str:
    return client_order_id(SESSION, order_id)


def _bar(minute: int, close: str = "104500") -> Bar:
    price = Decimal(close)
    return Bar(ts=T0 + timedelta(minutes=minute), symbol="BTC-USD", open=price, high=price, low=price, close=price,
               volume=Decimal(5), source="test")  # fmt: skip


def _order(decision: str, target: str) -> Order:
    return Order(id=decision, ts=T0, intent_id=f"i-{decision}", symbol="BTC-USD", target_quantity=Decimal(target),
                 reference_price=Decimal(104500), strategy="sma_cross")  # fmt: skip


class Session:
    """One executor on an in-memory bus: send it messages, read what it published."""

    def __init__(self, worker: ExecutorWorker, bus: Bus) -> None:
        self.worker, self.bus = worker, bus

    async def send(self, *messages: Message) -> None:
        names = self.bus.names
        for message in messages:
            match message:
                case Bar():
                    stream = names.bars_for(message.symbol)
                case Order():
                    stream = names.orders
                case _:
                    stream = names.control
            await self.bus.publish(stream, message)
            streams = [names.orders, names.control, *names.all_bars()]
            assert await self.bus.wait_until_quiet(streams, timeout_seconds=10)

    async def published(self, stream: str) -> list[Message]:
        entries = await self.bus.backend.read({stream: "0-0"}, count=10_000, block_seconds=0)
        return [decode(entry.fields or {}, self.bus.names.accepted_types(stream)) for entry in entries]


async def _start(settings: ExecutorSettings) -> Session:
    bus = Bus.memory(settings.logos.streams)
    worker = ExecutorWorker(settings, bus)
    await worker.start()
    for _ in range(2000):
        if worker.connected():
            break
        await asyncio.sleep(0.005)
    return Session(worker, signing(bus))  # the test sends what risk and the operator sign


def _events(kind: str) -> list[dict[str, Any]]:
    path = LogosSettings().paths.live_session(SESSION) / "state.jsonl"
    return [record for line in path.read_text().splitlines() if (record := json.loads(line))["event"] == kind]


@pytest.mark.anyio
async def test_live_order_when_venue_fills_in_two_polls_then_each_fill_booked_once_and_snapshot_right(
    book: BinanceBook,
) -> None:
    session = await _start(_settings())
    await session.send(_bar(0), _order("d1", "0.01"))
    assert book.posts() == 1 and book.orders[_client_id("o1")].quantity == Decimal("0.01")

    book.fill(_client_id("o1"), "0.004", "104500")
    await session.worker.poll_venue()
    await session.worker.poll_venue()  # nothing new: nothing booked again
    book.fill(_client_id("o1"), "0.006", "104600")
    await session.worker.poll_venue()
    await session.worker.poll_venue()
    await session.worker.stop()

    fills = [m for m in await session.published(session.bus.names.fills) if isinstance(m, Fill)]
    assert [(f.id, f.quantity, f.price, f.broker) for f in fills] == [
        ("fill|o1|0.004", Decimal("0.004"), Decimal("104500"), "ccxt"),
        ("fill|o1|0.010", Decimal("0.006"), Decimal("104600"), "ccxt"),
    ]
    snapshots = [m for m in await session.published(session.bus.names.account) if isinstance(m, AccountSnapshot)]
    last = snapshots[-1]
    assert last.bar_ts is None  # a venue fill, not a bar: ml does not decide on it again
    assert [(p.symbol, p.quantity) for p in last.positions] == [("BTC-USD", Decimal("0.010"))]
    fees = Decimal("0.004") * 104500 * Decimal("0.001") + Decimal("0.006") * 104600 * Decimal("0.001")
    assert last.cash == Decimal(100_000) - Decimal("0.004") * 104500 - Decimal("0.006") * 104600 - fees
    assert [record["cumulative"] for record in _events("venue_fill")] == ["0.004", "0.010"]
    orders_csv = (LogosSettings().paths.live_session(SESSION) / "orders.csv").read_text()
    assert "o1,d1,i-d1,BTC-USD,buy,0.01,0.010,filled" in orders_csv


@pytest.mark.anyio
async def test_live_order_when_venue_rejects_then_order_rejected_published_with_its_reason(book: BinanceBook) -> None:
    book.next_post.append(Reply(400, ccxt_recorded("binance_error_insufficient_balance.json")))
    session = await _start(_settings())
    await session.send(_bar(0), _order("d1", "0.01"))
    await session.worker.stop()

    (rejected,) = [m for m in await session.published(session.bus.names.fills) if isinstance(m, OrderRejected)]
    assert rejected.order_id == "o1" and rejected.intent_id == "i-d1"
    assert rejected.reason.startswith("InsufficientFunds") and "insufficient balance" in rejected.reason
    assert session.worker.engine.paper_broker.working() == []
    assert [record["outcome"] for record in _events("venue_submit")] == ["rejected"]


@pytest.mark.anyio
async def test_live_order_when_submit_times_out_then_resolved_by_lookup_without_second_post(book: BinanceBook) -> None:
    normal = book.server.responder("/api/v3/order")

    def arrives_but_times_out(call):  # type: ignore[no-untyped-def]
        answer = normal(call)  # the venue takes the order...
        if call.method == "POST":
            raise requests.exceptions.ReadTimeout("read timed out")  # ...and the answer is lost
        return answer

    book.server.route("/api/v3/order", arrives_but_times_out)
    session = await _start(_settings())
    await session.send(_bar(0), _order("d1", "0.01"))
    await session.send(_order("d1", "0.01"))  # the same decision again: nothing is sent twice
    book.fill(_client_id("o1"), "0.01", "104512")
    await session.worker.poll_venue()
    await session.worker.stop()

    assert book.posts() == 1
    assert [record["outcome"] for record in _events("venue_submit")] == ["unknown"]
    assert [record["outcome"] for record in _events("venue_resolve")] == ["accepted"]
    fills = [m for m in await session.published(session.bus.names.fills) if isinstance(m, Fill)]
    assert [(f.quantity, f.price) for f in fills] == [(Decimal("0.01"), Decimal("104512"))]


@pytest.mark.anyio
async def test_live_order_when_lookup_also_fails_then_kept_unknown_on_status_and_session_md(book: BinanceBook) -> None:
    book.next_post.append(requests.exceptions.ConnectionError("connection reset"))
    book.lookups_fail += [requests.exceptions.ReadTimeout("read timed out")] * 2
    session = await _start(_settings())
    await session.send(_bar(0), _order("d1", "0.01"))
    status = (await build_status(session.worker)).model_dump(mode="json")
    await session.worker.poll_venue()  # before the backoff allows another look-up: nothing asked
    session.worker.engine.checkpoint("test")
    await session.worker.stop()

    assert book.posts() == 1
    assert status["details"]["venue"]["unknown"][0].startswith(f"o1 ({_client_id('o1')}): outcome unknown")
    assert any("order outcome unknown: o1" in line for line in status["unsafe"])
    summary = (LogosSettings().paths.live_session(SESSION) / "session.md").read_text()
    assert f"- UNKNOWN o1 ({_client_id('o1')})" in summary
    assert [record["outcome"] for record in _events("venue_resolve")] == ["unknown"]


@pytest.mark.anyio
async def test_restart_when_order_still_working_then_resumed_from_state_and_reconciled(book: BinanceBook) -> None:
    first = await _start(_settings())
    await first.send(_bar(0), _order("d1", "0.01"))
    book.fill(_client_id("o1"), "0.004", "104500")
    await first.worker.poll_venue()
    await first.worker.stop()
    book.fill(_client_id("o1"), "0.002", "104500")  # filled while the executor was down

    second = await _start(_settings())
    await second.send(_bar(1))
    await second.worker.stop()

    paper = second.worker.engine.paper_broker.orders["o1"]
    assert paper.filled == Decimal("0.006") and paper in second.worker.engine.paper_broker.working()
    assert second.worker.engine.paper_broker.ledger.position("BTC-USD") == Decimal("0.006")
    fills = [m for m in await second.published(second.bus.names.fills) if isinstance(m, Fill)]
    assert [f.id for f in fills] == ["fill|o1|0.006"]  # only the new one
    assert _events("reconciled")[-1]["differences"] == []
    assert book.posts() == 1


@pytest.mark.anyio
async def test_start_when_venue_holds_unknown_order_and_position_then_refused_with_what_differs(
    book: BinanceBook,
) -> None:
    book.server.route("/api/v3/openOrders", Reply.ok(ccxt_recorded("binance_open_orders.json")))
    book.btc = Decimal("0.01")
    with pytest.raises(StartupRefused) as refused:
        ExecutorWorker(_settings(), Bus.memory())
    message = str(refused.value)
    assert "found 2 difference(s)" in message
    assert "the venue has open order lg-0123456789ab-o2" in message
    assert "position BTC-USD: the session holds 0, the venue 0.01 (BTC)" in message
    assert "EXECUTOR_ACCEPT_MISMATCH=true" in message and "RUNBOOK" in message

    accepted = ExecutorWorker(_settings(accept_mismatch=True), Bus.memory())
    assert any("reconciliation difference accepted" in line for line in accepted.warnings())


@pytest.mark.anyio
async def test_kill_switch_when_venue_order_working_then_cancelled_at_venue_and_recorded(book: BinanceBook) -> None:
    session = await _start(_settings())
    await session.send(_bar(0), _order("d1", "0.01"))
    book.fill(_client_id("o1"), "0.003", "104500")
    await session.send(Control(ts=T0, command=ControlCommand.KILL, reason="drill"))
    await session.worker.stop()

    cancels = [sent for sent in book.server.sent if sent.method == "DELETE"]
    assert [sent.form["origClientOrderId"] for sent in cancels] == [_client_id("o1")]
    assert book.orders[_client_id("o1")].status == "CANCELED"
    assert session.worker.engine.paper_broker.working() == []
    (kill,) = _events("venue_kill")
    assert kill["outcomes"] == {"o1": "canceled"} and kill["reason"] == "drill"
    fills = [m for m in await session.published(session.bus.names.fills) if isinstance(m, Fill)]
    assert [f.quantity for f in fills] == [Decimal("0.003")]  # the fill the cancel's answer reported


@pytest.mark.anyio
async def test_new_target_when_order_still_working_then_cancelled_and_only_difference_sent(book: BinanceBook) -> None:
    session = await _start(_settings())
    await session.send(_bar(0), _order("d1", "0.01"))
    book.fill(_client_id("o1"), "0.004", "104500")
    await session.send(_order("d2", "0.02"))
    await session.worker.stop()

    assert book.orders[_client_id("o1")].status == "CANCELED"
    assert book.orders[_client_id("o2")].quantity == Decimal("0.016")  # 0.02 - the 0.004 held
    assert book.posts() == 2


@pytest.mark.anyio
async def test_paper_endpoint_order_when_alpaca_fills_then_booked_from_its_average_price(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = alpaca_server()
    orders = server.responder("/v2/orders")
    server.route("/v2/orders", lambda call: Reply.ok([]) if call.method == "GET" and call.path == "/v2/orders"
                 else orders(call))  # fmt: skip  # nothing open before the session starts
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: server)
    settings = ExecutorSettings(logos=LogosSettings(read_block_seconds=0.05), session_id=SESSION, broker="alpaca",
                                alpaca_api_key=SecretStr(FAKE_ALPACA_KEY),
                                alpaca_secret_key=SecretStr(FAKE_ALPACA_SECRET), poll_seconds=300)  # fmt: skip
    session = await _start(settings)
    bar = Bar(ts=T0, symbol="AAPL", open=Decimal("201.5"), high=Decimal("201.5"), low=Decimal("201.5"),
              close=Decimal("201.5"), volume=Decimal(100), source="test")  # fmt: skip
    decision = Order(id="d1", ts=T0, intent_id="i-d1", symbol="AAPL", target_quantity=Decimal(10),
                     reference_price=Decimal("201.5"), strategy="sma_cross")  # fmt: skip
    await session.send(bar, decision)
    await session.worker.poll_venue()
    await session.worker.stop()

    posts = [sent for sent in server.sent if sent.method == "POST"]
    assert len(posts) == 1 and posts[0].json["client_order_id"] == _client_id("o1")
    assert "paper-api.alpaca.markets" in posts[0].url
    fills = [m for m in await session.published(session.bus.names.fills) if isinstance(m, Fill)]
    assert [(f.id, f.quantity, f.price, f.broker) for f in fills] == [
        ("fill|o1|10", Decimal(10), Decimal("201.47"), "alpaca")
    ]
