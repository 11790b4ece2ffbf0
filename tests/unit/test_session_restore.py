"""A session rebuilt from its event log keeps venue rejections and trading-state changes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from logos.contracts import Order, TradingState, TradingStateChanged
from logos.execution.order_states import OrderStatus
from logos.live.paper_broker import PaperBroker
from logos.live.session import SessionRecorder
from logos.paths import Paths
from logos.symbols import SymbolSpec

NOW = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
SPECS = {"AAPL": SymbolSpec(symbol="AAPL", max_quantity=Decimal(50))}


def test_restore_when_log_holds_rejection_and_state_change_then_both_come_back_once(tmp_path: Path) -> None:
    broker, recorder = PaperBroker(Decimal(100_000), SPECS), SessionRecorder(Paths(tmp_path), "s", {})
    order = Order(id="d1", intent_id="i1", symbol="AAPL", target_quantity=Decimal(80), reference_price=Decimal(100),
                  strategy="s")  # fmt: skip
    accepted = broker.on_order(order, NOW)
    assert accepted is not None and accepted.order is not None and accepted.order.status is OrderStatus.REJECTED
    assert accepted.rejection == "quantity 80 of AAPL exceeds the venue's maximum 50"
    recorder.order(order.id, accepted.order, accepted.canceled, accepted.executions, accepted.rejection, NOW)
    change = TradingStateChanged(ts=NOW, trading_state=TradingState.REDUCING, kill_switch=False,
                                 cause="reject_rate", detail="100% of the last 1 orders were rejected")  # fmt: skip
    recorder.state_change(change)
    recorder.state_change(change)  # delivered again: recorded once
    recorder.finish(list(broker.orders.values()), [], Decimal(0), Decimal(0))

    restarted, again = PaperBroker(Decimal(100_000), SPECS), SessionRecorder(Paths(tmp_path), "s", {})
    assert again.restore(restarted) == 2
    assert restarted.orders["o1"].status is OrderStatus.REJECTED and restarted.working() == []
    assert again.state_changes == [change]
    summary = (tmp_path / "runs" / "live" / "sessions" / "s" / "session.md").read_text()
    assert summary.count("| reducing | off | reject_rate |") == 1
