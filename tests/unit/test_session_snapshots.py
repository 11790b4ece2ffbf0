"""Snapshots of a session: a restart from snapshot.json and the tail of state.jsonl is the same session.

The real executor worker handles bars, orders, denials and a kill on an in-memory bus. A crash is
the worker abandoned without finishing (its session directory copied as it stands, sometimes cut
mid-step); the restart is a new worker on the copy, which is handed again every message from the
one whose acknowledgement the crash lost, as the bus would redeliver it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from logos.bus import Bus
from logos.bus.consumer import Delivery
from logos.contracts import Bar, DenialReason, Message, Order, OrderDenied, TradingState, TradingStateChanged
from logos.live.session_spool import write_snapshot
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.settings import LogosSettings
from services.executor.config import ExecutorSettings
from services.executor.worker import ExecutorWorker

SESSION = "snap"
T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
FILES = (
    "trades.csv",
    "orders.csv",
    "account.csv",
    "positions.csv",
    "state.json",
    "state.jsonl",
    "session.md",
    "plots/equity.png",
)
DELIVERY = Delivery("bars", "0-1", 1)


def _messages(minutes: int) -> list[Message]:
    """Bars of every symbol each minute; targets that go long and flat; denials past 200; a kill at minute 40."""
    found: list[Message] = []
    for minute in range(minutes):
        ts = T0 + timedelta(minutes=minute)
        for index, symbol in enumerate(SYMBOLS):
            price = Decimal(100 + (minute * 7 + index * 3) % 11) + Decimal(index) / 4
            found.append(
                Bar(
                    id=f"b|{symbol}|{minute}",
                    ts=ts,
                    symbol=symbol,
                    open=price,
                    high=price + 2,
                    low=price - 2,
                    close=price,
                    volume=Decimal(5_000),
                    source="test",
                )
            )
            phase = (minute + index) % 6
            if phase in (0, 3):
                target = Decimal(5 + index) if phase == 0 else Decimal(-(index % 2))
                found.append(
                    Order(
                        id=f"d|{symbol}|{minute}",
                        ts=ts,
                        intent_id=f"i|{symbol}|{minute}",
                        symbol=symbol,
                        target_quantity=target,
                        reference_price=price,
                        strategy="test",
                    )
                )
            else:
                found.append(
                    OrderDenied(
                        id=f"n|{symbol}|{minute}",
                        ts=ts,
                        intent_id=f"j|{symbol}|{minute}",
                        symbol=symbol,
                        reason=DenialReason.MAX_ORDER_NOTIONAL,
                        detail=f"order notional {price * 300} exceeds 25000",
                        trading_state=TradingState.ACTIVE,
                    )
                )
        if minute == 40:
            found.append(
                TradingStateChanged(
                    id="kill|40",
                    ts=ts,
                    trading_state=TradingState.HALTED,
                    kill_switch=True,
                    cause="kill_switch",
                    detail="operator",
                )
            )
        if minute == 41:
            found.append(
                TradingStateChanged(
                    id="resume|41",
                    ts=ts,
                    trading_state=TradingState.ACTIVE,
                    kill_switch=False,
                    cause="operator",
                    detail="resumed",
                )
            )
    return found


MESSAGES = _messages(100)  # about 800 messages: twenty snapshots at every 37 events


def _worker(home: Path, every: int) -> ExecutorWorker:
    logos = LogosSettings(home=home, read_block_seconds=0.05)
    logos.secrets.ensure([ORDERS_KEY, CONTROL_KEY])
    settings = ExecutorSettings(logos=logos, session_id=SESSION, snapshot_events=every)
    return ExecutorWorker(settings, Bus.memory(logos.streams))


def _feed(worker: ExecutorWorker, messages: list[Message]) -> None:
    async def run() -> None:
        for message in messages:
            await worker.handle(message, DELIVERY)

    asyncio.run(run())


def _directory(home: Path) -> Path:
    return home / "runs" / "live" / "sessions" / SESSION


def _files(home: Path) -> dict[str, bytes]:
    return {name: (_directory(home) / name).read_bytes() for name in FILES}


def _state(worker: ExecutorWorker) -> dict[str, Any]:
    """What the session is: the broker's money, lots, orders, marks and the recorder's counts."""
    broker, recorder = worker.engine.paper_broker, worker.engine.recorder
    ledger = broker.ledger
    state = {
        "cash": str(ledger.cash),
        "realized": str(ledger.realized_pnl),
        "fees": str(ledger.fees_paid),
        "positions": {symbol: str(quantity) for symbol, quantity in ledger.positions.items()},
        "lots": {
            symbol: [(str(lot.quantity), str(lot.price), lot.opened_at, str(lot.fee)) for lot in lots]
            for symbol, lots in ledger.lots.items()
        },
        "working": [paper.state() for paper in broker.working()],
        "marks": {symbol: str(mark) for symbol, mark in broker.marks.items()},
        "last_bar": {symbol: bar.model_dump(mode="json") for symbol, bar in broker.last_bar.items()},
        "decisions": sorted(broker.decisions),
        "orders": broker.order_count,
        "fills": broker.fill_count,
        "bars": recorder.bars,
        "events": recorder.events,
        "denied": (recorder.denied, recorder.denied_by, len(recorder.denials)),
        "trading_state": (recorder.trading_state, recorder.kill_switch, len(recorder.state_changes)),
        "approved": sorted(recorder.decisions),
        "last_account": recorder.last_account.model_dump(mode="json") if recorder.last_account else None,
    }
    return copy.deepcopy(state)  # a worker handed more messages afterwards must not change it


def _run_through(home: Path, every: int) -> dict[str, bytes]:
    worker = _worker(home, every)
    _feed(worker, MESSAGES)
    worker.finish()
    return _files(home)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The session's files when nothing is interrupted and no snapshot is ever taken."""
    return _run_through(tmp_path_factory.mktemp("plain"), every=0)


def test_session_when_snapshotted_every_few_events_then_files_byte_identical_to_one_without(
    tmp_path: Path, uninterrupted: dict[str, bytes]
) -> None:
    files = _run_through(tmp_path, every=37)
    directory = _directory(tmp_path)
    snapshot = json.loads((directory / "snapshot.json").read_text())
    assert snapshot["broker"]["retired_orders"] > 50 and snapshot["recorder"]["denied"] > 200
    assert b"kill" in files["state.jsonl"] and files["trades.csv"].count(b"\n") > 50
    for name in FILES:
        assert files[name] == uninterrupted[name], name


def _crash_copy(home: Path, at: int, every: int, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """Handle the first ``at`` messages, copy the home as a crash would leave it; the state at that point."""
    worker = _worker(home, every)
    _feed(worker, MESSAGES[:at])
    copy = tmp_path / f"crash_{at}"
    shutil.copytree(home, copy, symlinks=True)
    return _state(worker), copy


def _restart_and_finish(home: Path, every: int, resume_from: int) -> tuple[ExecutorWorker, dict[str, Any]]:
    worker = _worker(home, every)
    state = _state(worker)
    _feed(worker, MESSAGES[resume_from:])
    worker.finish()
    return worker, state


@pytest.mark.parametrize("at", [1, 150, 333, 500, 777])
def test_restart_when_restored_from_snapshot_then_same_state_as_full_log_and_same_files(
    tmp_path: Path, uninterrupted: dict[str, bytes], at: int
) -> None:
    live, crashed = _crash_copy(tmp_path / "live", at, 37, tmp_path)
    full_log = tmp_path / "full_log"
    shutil.copytree(crashed, full_log, symlinks=True)
    (_directory(full_log) / "snapshot.json").unlink(missing_ok=True)  # no snapshot: the whole log is read

    from_snapshot, restored = _restart_and_finish(crashed, 37, at)
    _, from_log = _restart_and_finish(full_log, 37, at)

    assert restored == live
    assert from_log == live
    assert from_snapshot.recorder.last_read["snapshot"] is (at > 37)
    assert _files(crashed) == uninterrupted
    assert _files(full_log) == uninterrupted


def _cut_after_spooling(monkeypatch: pytest.MonkeyPatch, home: Path, tmp_path: Path) -> tuple[Path, int]:
    """Crash after the fourth snapshot's spool rows are durable, before its snapshot.json is renamed in."""
    written = 0
    handled = 0

    def dying(path: Path, document: dict[str, Any]) -> None:
        nonlocal written
        written += 1
        if written == 4:
            raise SystemExit("killed before the snapshot was renamed into place")
        write_snapshot(path, document)

    def feed_until_killed() -> None:
        nonlocal handled
        for message in MESSAGES:
            handled += 1
            _feed(worker, [message])

    monkeypatch.setattr("logos.live.session.write_snapshot", dying)
    worker = _worker(home, 37)
    with pytest.raises(SystemExit):
        feed_until_killed()
    monkeypatch.setattr("logos.live.session.write_snapshot", write_snapshot)
    copy = tmp_path / "crashed"
    shutil.copytree(home, copy, symlinks=True)
    return copy, handled - 1  # the message whose settle died was never acknowledged


@pytest.mark.parametrize("step", ["spooled_not_renamed", "half_written_snapshot", "torn_event", "torn_spool_rows"])
def test_restart_when_crashed_at_a_step_then_same_files_as_uninterrupted(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uninterrupted: dict[str, bytes]
) -> None:
    if step == "spooled_not_renamed":
        crashed, resume = _cut_after_spooling(monkeypatch, tmp_path / "live", tmp_path)
        spool = _directory(crashed) / "spool" / "orders.csv"
        snapshot = json.loads((_directory(crashed) / "snapshot.json").read_text())
        assert spool.stat().st_size > snapshot["spools"]["orders"][0]  # rows the old snapshot does not cover
    else:
        _, crashed = _crash_copy(tmp_path / "live", 400, 37, tmp_path)
        resume = 400
        directory = _directory(crashed)
        if step == "half_written_snapshot":
            (directory / ".snapshot.json.k2x9").write_text('{"version": 1, "events": 12')
        elif step == "torn_event":
            resume = 399  # the message being written when the process died
            with (directory / "state.jsonl").open("a") as log:
                log.write('{"event": "bar", "bar": {"symbol": "AA')
        else:
            for name in ("account.csv", "orders.csv", "trades.csv"):
                with (directory / "spool" / name).open("a") as rows:
                    rows.write("2024-05-06T15:10:00+00:00,9999")
    worker, _ = _restart_and_finish(crashed, 37, resume)
    assert worker.recorder.last_read["snapshot"] is True
    assert _files(crashed) == uninterrupted


def test_restart_when_session_is_long_then_only_the_snapshot_and_the_tail_are_read(tmp_path: Path) -> None:
    _, crashed = _crash_copy(tmp_path / "live", 700, 37, tmp_path)
    directory = _directory(crashed)
    snapshot = json.loads((directory / "snapshot.json").read_text())
    log = directory / "state.jsonl"
    size = log.stat().st_size
    with log.open("r+b") as handle:  # the history behind the snapshot is never read: make it unreadable
        handle.write(b"\x00" * (snapshot["log_offset"] - 1))
    worker = _worker(crashed, 37)
    assert worker.recorder.last_read == {
        "snapshot": True,
        "offset": snapshot["log_offset"],
        "events": worker.restored - snapshot["events"],
    }
    assert 0 <= worker.restored - snapshot["events"] < 37 * 3  # a few messages' events at most
    assert worker.restored > 600 and log.stat().st_size == size


def test_restart_when_resumed_then_the_bar_guard_goes_on_from_the_last_bar_handled(tmp_path: Path) -> None:
    # before a restart the guard knew each symbol's last bar; a resumed executor must not take the
    # first bar after it on the wall clock's word alone: a lone jump past the maximum gap stays refused
    home = tmp_path / "home"
    first = _worker(home, 0)
    _feed(first, MESSAGES)
    last = {symbol: bar.ts for symbol, bar in first.engine.paper_broker.last_bar.items()}
    resumed = _worker(home, 0)
    asyncio.run(resumed.prepare())
    assert {symbol: resumed.bar_guard.last(symbol) for symbol in last} == last
    symbol, ts = next(iter(last.items()))
    jump = Bar(id=f"{symbol}@jump", ts=ts + timedelta(days=30), symbol=symbol, open=Decimal(100), high=Decimal(100),
               low=Decimal(100), close=Decimal(100), volume=Decimal(1), source="test")  # fmt: skip
    verdict = resumed.bar_guard.check(jump, datetime.now(UTC))
    assert verdict.kind == "gap" and verdict.refused is not None and "LOGOS_MAX_BAR_GAP_SECONDS" in verdict.refused
