"""A session's summary, its run.log and its latest_session pointer: what a user reads when a session ends."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from logos.contracts import DenialReason, OrderDenied, TradingState, TradingStateChanged
from logos.live.session import SessionRecorder
from logos.live.summary import summarize
from logos.paths import Paths
from logos.risk.limits import RiskLimits
from logos.risk.remedies import LIMITS_BY_REASON, remedy

WHEN = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)


def _denied(reason: DenialReason, detail: str, number: int = 0) -> OrderDenied:
    return OrderDenied(
        id=f"d{number}",
        ts=WHEN,
        intent_id=f"i{number}",
        symbol="BTC-USD",
        reason=reason,
        detail=detail,
        trading_state=TradingState.ACTIVE,
    )


def test_remedy_when_any_reason_then_names_settings_that_exist() -> None:
    for reason in DenialReason:
        assert remedy(reason)
        for limit in LIMITS_BY_REASON[reason]:
            assert limit in RiskLimits.model_fields, limit
            assert f"RISK_LIMITS__{limit.upper()}" in remedy(reason)


def test_summary_when_every_intent_denied_by_one_rule_then_no_fill_warning_names_rule_and_setting() -> None:
    denials = [_denied(DenialReason.MAX_ORDER_NOTIONAL, "order notional 99999 exceeds 25000", n) for n in range(67)]
    summary = summarize(7200, 0, 0, 0, denials, TradingState.ACTIVE, False)

    assert summary.lines()[0].startswith("0 fills from 67 intents (0 approved, 67 denied)")
    assert summary.warnings() == [
        "no fill: 67 of 67 intents denied by max_order_notional (order notional 99999 exceeds 25000): "
        "lower --sizing (ML_SIZING) or raise RISK_LIMITS__MAX_ORDER_NOTIONAL"
    ]


def test_summary_when_most_intents_denied_then_warned_with_the_most_frequent_rule() -> None:
    position = "position notional 60000 of BTC-USD would exceed 50000"
    denials = [_denied(DenialReason.MAX_POSITION, position, n) for n in range(5)]
    denials.append(_denied(DenialReason.ORDER_RATE, "61 orders", 9))
    summary = summarize(100, 4, 4, 4, denials, TradingState.ACTIVE, False)

    assert [item.rule for item in summary.denials] == ["max_position", "order_rate"]
    (warning,) = summary.warnings()
    assert warning.startswith("6 of 10 intents denied, 5 by max_position (position notional 60000")
    assert warning.endswith("raise RISK_LIMITS__MAX_POSITION_NOTIONAL")


def test_summary_when_few_denied_and_active_then_no_warning() -> None:
    summary = summarize(100, 9, 9, 9, [_denied(DenialReason.ORDER_RATE, "61 orders")], TradingState.ACTIVE, False)

    assert summary.warnings() == []
    assert summary.lines()[1].startswith("denied by order_rate: 1 (first: 61 orders); ")


def test_summary_when_strategy_never_asked_then_says_so() -> None:
    (warning,) = summarize(40, 0, 0, 0, [], TradingState.ACTIVE, False).warnings()

    assert warning.startswith("no fill: the strategy asked for no position in 40 bars")


def test_summary_when_dry_run_requests_denied_then_counted_and_warned() -> None:
    records = [{"outcome": "dry_run", "reason": "dry run: built, not sent"}] + [
        {"outcome": "denied", "reason": "BTC/USDT: order notional 3 is below the venue's minimum 5"}
    ] * 3
    summary = summarize(50, 4, 4, 4, [], TradingState.HALTED, True, records)

    assert summary.lines()[-1] == (
        "dry run: 1 venue request built, none sent; 3 denied by the venue's rules before sending "
        "(first: BTC/USDT: order notional 3 is below the venue's minimum 5)"
    )
    assert summary.warnings()[0].startswith("dry run: 3 of 4 venue requests denied by the venue's rules")
    assert summary.warnings()[1].startswith("trading state at the end: halted, kill switch on")


def test_recorder_when_session_starts_then_latest_session_points_at_it_before_any_file(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    older = SessionRecorder(paths, "20990101_000000", {})
    older.start()
    older.finish([], [], Decimal(0), Decimal(0))
    running = SessionRecorder(paths, "a_running", {"cash": "100000", "api_key": "planted-key-0f0f"})

    running.start()

    assert os.readlink(paths.latest_session) == "sessions/a_running"  # a name sorting before the older one
    assert not (paths.live_session("a_running") / "session.md").exists()
    assert [path.name for path in paths.latest_session.parent.iterdir() if path.name.startswith(".")] == []
    run_log = (paths.live_session("a_running") / "logs" / "run.log").read_text()
    assert run_log.startswith('- INFO session a_running started: {"api_key": "********", "cash": "100000"}')


def test_recorder_when_events_recorded_then_run_log_has_their_lines_in_data_time(tmp_path: Path) -> None:
    recorder = SessionRecorder(Paths(tmp_path), "s", {})
    recorder.start()
    recorder.denial(_denied(DenialReason.KILL_SWITCH, "the kill switch is engaged; an operator must resume"))
    recorder.denial(_denied(DenialReason.KILL_SWITCH, "the kill switch is engaged; an operator must resume"))
    halted = TradingState.HALTED
    change = TradingStateChanged(
        id="c1", ts=WHEN, trading_state=halted, kill_switch=True, cause="kill_switch", detail="test (by ops)"
    )
    recorder.state_change(change)
    recorder.finish([], [], Decimal(0), Decimal(0))

    lines = (recorder.directory / "logs" / "run.log").read_text().splitlines()
    kill = "the kill switch is engaged; an operator must resume"
    assert lines[1] == f"2024-01-01T09:30:00+00:00 WARN denied BTC-USD by kill_switch: {kill}"
    assert (
        lines[2] == "2024-01-01T09:30:00+00:00 WARN trading state halted, kill switch on (kill_switch): test (by ops)"
    )
    assert len(recorder.denials) == 1  # the redelivered denial is recorded once
    assert recorder.summary is not None and recorder.summary.state_text() == "halted, kill switch on"
    assert any(line.startswith("- WARN summary (end): no fill: 1 of 1 intent denied by kill_switch") for line in lines)


@pytest.mark.parametrize("resumed", [0, 12])
def test_recorder_when_started_then_run_log_says_started_or_resumed(tmp_path: Path, resumed: int) -> None:
    recorder = SessionRecorder(Paths(tmp_path), "s", {})
    recorder.start(resumed)

    text = (recorder.directory / "logs" / "run.log").read_text()
    assert ("resumed from 12 events" in text) == bool(resumed) and ("started" in text) != bool(resumed)
