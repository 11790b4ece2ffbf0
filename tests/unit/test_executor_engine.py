"""The executor engine without a bus: messages in, the messages to publish and the session's files out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from logos.contracts import (
    AccountSnapshot,
    Bar,
    Control,
    ControlCommand,
    Fill,
    Message,
    Order,
    OrderRejected,
    Side,
    TradingState,
    TradingStateChanged,
)
from logos.execution.fill_model import FillModelConfig
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.live.session import SessionRecorder
from logos.paths import Paths
from logos.streams import StreamNames
from logos.symbols import SymbolSpec
from services.executor.brokers.paper import PaperVenue
from services.executor.engine import ExecutorEngine, Publication, fill_message
from services.executor.hard_limits import HardLimitGate, HardLimits

SESSION = "engine"
T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
NAMES = StreamNames("engine-test")
SPECS = {"AAPL": SymbolSpec(symbol="AAPL")}
LIMITS = HardLimits(max_order_notional=Decimal(50_000), max_position_notional=Decimal(80_000), max_orders_per_minute=10)
CHECKPOINT_AT = datetime(2030, 1, 1, tzinfo=UTC)


def _engine(home: Path, fills: FillModelConfig | None = None, dry_run: bool = False) -> ExecutorEngine:
    broker = PaperBroker(Decimal(100_000), SPECS, fills or FillModelConfig())
    recorder = SessionRecorder(Paths(home), SESSION, {"account": "paper"})
    venue = PaperVenue(PaperBroker(Decimal(100_000), SPECS), dry_run=True) if dry_run else None
    engine = ExecutorEngine(
        broker, recorder, HardLimitGate(LIMITS), NAMES, "paper", dry_run_venue=venue, clock=lambda: CHECKPOINT_AT
    )
    assert engine.restore() == 0 and engine.start() == []
    return engine


def _bar(minute: int, price: str = "100", volume: str = "1000") -> Bar:
    close = Decimal(price)
    return Bar(
        id=f"b{minute}",
        ts=T0 + timedelta(minutes=minute),
        symbol="AAPL",
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=Decimal(volume),
        source="test",
    )


def _order(decision: str, target: str, minute: int = 0) -> Order:
    return Order(
        id=decision,
        ts=T0 + timedelta(minutes=minute),
        intent_id=f"i-{decision}",
        symbol="AAPL",
        target_quantity=Decimal(target),
        reference_price=Decimal(100),
        strategy="test",
    )


def _feed(engine: ExecutorEngine, *messages: Message) -> list[Publication]:
    published: list[Publication] = []
    for message in messages:
        published += engine.handle(message, "control")
    return published


def _events(home: Path, kind: str) -> list[dict[str, Any]]:
    path = Paths(home).live_session(SESSION) / "state.jsonl"
    return [record for line in path.read_text().splitlines() if (record := json.loads(line))["event"] == kind]


def test_order_when_the_next_bar_opens_then_fill_and_account_published_on_their_streams_and_recorded(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)

    published = _feed(engine, _bar(0), _order("d1", "10"), _bar(1, "101"))

    assert [(stream, type(message)) for stream, message in published] == [
        (NAMES.account, AccountSnapshot),
        (NAMES.fills, Fill),
        (NAMES.account, AccountSnapshot),
    ]
    fill = published[1].message
    assert isinstance(fill, Fill)
    assert (fill.id, fill.order_id, fill.intent_id, fill.quantity, fill.price, fill.broker) == (
        "fill|o1|10",
        "o1",
        "i-d1",
        Decimal(10),
        Decimal(101),
        "paper",
    )
    account = published[2].message
    assert isinstance(account, AccountSnapshot) and account.positions[0].quantity == Decimal(10)
    assert [record["decision_id"] for record in _events(tmp_path, "order")] == ["d1"]
    assert [len(record["fills"]) for record in _events(tmp_path, "bar")] == [0, 1]


def test_order_when_the_participation_cap_splits_it_then_each_partial_fill_has_its_own_id(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FillModelConfig(participation_cap=Decimal("0.1")))

    published = _feed(engine, _bar(0, volume="60"), _order("d1", "10"), _bar(1, volume="60"), _bar(2, volume="60"))

    fills = [message for _, message in published if isinstance(message, Fill)]
    assert [(fill.id, fill.quantity) for fill in fills] == [("fill|o1|6", Decimal(6)), ("fill|o1|10", Decimal(4))]


def test_fill_message_when_two_partial_fills_of_an_order_share_a_time_then_their_ids_differ() -> None:
    paper = PaperOrder("o7", "d7", "i7", "AAPL", Side.BUY, Decimal(10), T0)
    zero = Decimal(0)
    first, second = (
        Execution(T0, "AAPL", Side.BUY, Decimal(quantity), Decimal(100), zero, zero, zero, zero, "o7")
        for quantity in ("4", "6")
    )

    ids = [fill_message(paper, first, "paper", Decimal(4)).id, fill_message(paper, second, "ccxt", Decimal(10)).id]

    assert ids == ["fill|o7|4", "fill|o7|10"]


def test_order_when_over_a_hard_limit_then_refused_on_the_fills_stream_and_recorded_once(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    forged = _order("d1", "1000")  # 100,000 of notional against a limit of 50,000

    published = _feed(engine, _bar(0), forged, forged)

    refusals = [(stream, message) for stream, message in published if isinstance(message, OrderRejected)]
    assert [(stream, message.id) for stream, message in refusals] == [(NAMES.fills, "refused|d1")] * 2
    assert "max_order_notional" in refusals[0][1].reason
    assert engine.paper_broker.orders == {} and engine.paper_broker.ledger.position("AAPL") == 0
    assert [record["decision_id"] for record in _events(tmp_path, "refused")] == ["d1"]


def test_bar_when_delivered_again_then_only_its_account_published_again_and_nothing_recorded(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    (first,) = _feed(engine, _bar(0))

    assert _feed(engine, _bar(0)) == [first]
    assert len(_events(tmp_path, "bar")) == 1


def test_kill_when_an_order_works_then_cancelled_and_the_command_recorded_with_its_signer(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    kill = Control(ts=T0 + timedelta(seconds=30), command=ControlCommand.KILL, reason="drill", issued_by="ops")

    published = _feed(engine, _bar(0), _order("d1", "10"), kill)

    assert len(published) == 1 and not engine.paper_broker.working()
    assert engine.paper_broker.orders["o1"].status is OrderStatus.CANCELED
    (control,) = _events(tmp_path, "control")
    assert (control["command"], control["issued_by"], control["signer"]) == ("kill", "ops", "control")
    assert _events(tmp_path, "kill")[0]["canceled"] == ["o1"]


def test_kill_switch_when_risk_reports_it_then_working_orders_cancelled(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    change = TradingStateChanged(
        ts=T0, trading_state=TradingState.HALTED, kill_switch=True, cause="kill_switch", detail="operator"
    )

    _feed(engine, _bar(0), _order("d1", "10"), change)

    assert not engine.paper_broker.working() and _events(tmp_path, "kill")[0]["reason"] == "operator"
    assert [record["change"]["cause"] for record in _events(tmp_path, "trading_state")] == ["kill_switch"]


def test_dry_run_when_an_order_is_placed_then_its_venue_request_recorded_and_the_paper_broker_fills(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path, dry_run=True)
    order = _order("d1", "10")
    assert engine.may_block(order) and not engine.may_block(_bar(0))

    published = _feed(engine, _bar(0), order, _bar(1))

    (dry_run,) = _events(tmp_path, "dry_run")
    assert (dry_run["decision_id"], dry_run["outcome"], dry_run["broker"]) == ("d1", "dry_run", "paper")
    fills = [message for _, message in published if isinstance(message, Fill)]
    assert [(fill.id, fill.broker) for fill in fills] == [("fill|o1|10", "paper")]


def test_checkpoint_when_asked_then_files_written_dated_by_the_clock_and_finish_writes_them_once(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    checkpoint = Control(ts=T0, command=ControlCommand.CHECKPOINT, reason="replay ended", issued_by="feed")

    _feed(engine, _bar(0), _order("d1", "10"), _bar(1))

    assert engine.handle(checkpoint) == []

    directory = Paths(tmp_path).live_session(SESSION)
    assert engine.last_checkpoint == {
        "at": CHECKPOINT_AT.isoformat(),
        "bars": 2,
        "fills": 1,
        "directory": str(directory),
        "reason": "replay ended (by feed)",
    }
    assert (directory / "trades.csv").read_text().count("\n") == 2 and _events(tmp_path, "control") == []
    assert engine.finish() == directory and engine.finish() is None


def test_may_block_when_orders_go_to_the_paper_broker_alone_then_nothing_blocks(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    kill = Control(ts=T0, command=ControlCommand.KILL, reason="drill")

    assert not any(engine.may_block(message) for message in (_bar(0), _order("d1", "1"), kill))
