"""Risk's verdicts as wire messages: an approved order, a denial, the next slice of a reduction.

The risk service and the backtest's risk gate build them here, so a decision carries the same id,
time and content wherever it was taken: a replay's files repeat byte for byte, and a backtest with
the stack's limits denies what the stack denies.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from logos.contracts import Order, OrderDenied, OrderIntent, TradingState, TradingStateChanged
from logos.risk.engine import RiskDecision, RiskEvent, Slice

DECISION_NAMESPACE = uuid.UUID("5f0c7c3e-3c1e-4f5e-9a57-6c1f1c0b9d21")


def decision_message(
    intent: OrderIntent, decision: RiskDecision, now: datetime, trading_state: TradingState
) -> Order | OrderDenied:
    """The order ``decision`` approves (the whole target, or a reduction's first slice), or its denial."""
    decision_id = uuid.uuid5(DECISION_NAMESPACE, intent.id).hex
    if decision.approved:
        assert decision.target_quantity is not None  # the intent's, or its first slice's
        return order_message(
            intent,
            decision_id,
            now,
            decision.target_quantity,
            intent.reference_price,
            decision.checks_passed,
            intent.seq,
        )
    assert decision.reason is not None
    return OrderDenied(
        id=decision_id,
        ts=now,
        intent_id=intent.id,
        symbol=intent.symbol,
        reason=decision.reason,
        detail=decision.detail,
        trading_state=trading_state,
        seq=intent.seq,
    )


def slice_message(step: Slice, now: datetime, seq: int | None = None) -> Order:
    """One slice of a sliced reduction as an order (an id per intent and slice); seq: the account's that freed it."""
    order_id = uuid.uuid5(DECISION_NAMESPACE, f"{step.intent.id}|slice|{step.number}").hex
    return order_message(
        step.intent, order_id, now, step.target_quantity, step.reference_price, step.checks_passed, seq
    )


def order_message(
    intent: OrderIntent,
    order_id: str,
    now: datetime,
    target: Decimal,
    reference_price: Decimal,
    checks_passed: tuple[str, ...],
    seq: int | None = None,
) -> Order:
    """The approved order for ``intent`` (its whole target, or one slice of a reduction)."""
    return Order(
        id=order_id,
        ts=now,
        intent_id=intent.id,
        symbol=intent.symbol,
        target_quantity=target,
        reference_price=reference_price,
        order_type=intent.order_type,
        limit_price=intent.limit_price,
        strategy=intent.strategy,
        checks_passed=checks_passed,
        seq=seq,
    )


def state_change_message(number: int, event: RiskEvent, killed: bool, seq: int | None = None) -> TradingStateChanged:
    """The trading-state change of the engine's ``number``-th event; ``seq``: the message's that moved it, if any."""
    key = f"state|{number}|{event.ts.isoformat()}|{event.state.value}|{event.cause}|{event.detail}"
    return TradingStateChanged(
        id=uuid.uuid5(DECISION_NAMESPACE, key).hex,
        ts=event.ts,
        trading_state=event.state,
        kill_switch=killed,
        cause=event.cause,
        detail=event.detail,
        seq=seq,
    )
