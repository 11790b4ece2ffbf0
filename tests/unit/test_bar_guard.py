"""The bar guard: future bars and lone jumps refused, resumptions confirmed, repeats counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from logos.contracts import Bar
from logos.live.bar_guard import BarGuard, BarVerdict, replay_refusals

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
HISTORY = datetime(2021, 3, 1, 9, 30, tzinfo=UTC)  # a replay: long before the wall clock
MINUTE = timedelta(minutes=1)


def bar(ts: datetime, symbol: str = "BTC-USD") -> Bar:
    return Bar(
        id=f"{symbol}@{ts.isoformat()}",
        ts=ts,
        symbol=symbol,
        open=Decimal(100),
        high=Decimal(101),
        low=Decimal(99),
        close=Decimal(100),
        volume=Decimal(1),
        source="test",
    )


def guard() -> BarGuard:
    return BarGuard(future_tolerance=timedelta(minutes=5), max_gap=timedelta(days=4))


def feed(guard: BarGuard, *moments: datetime, symbol: str = "BTC-USD") -> list[BarVerdict]:
    verdicts = []
    for ts in moments:
        verdict = guard.check(bar(ts, symbol), NOW)
        if verdict.accepted:
            guard.accept(bar(ts, symbol), verdict)
        verdicts.append(verdict)
    return verdicts


def test_check_when_bar_dated_2099_then_refused_with_reason_and_nothing_moves() -> None:
    bars = guard()
    feed(bars, NOW - 2 * MINUTE)
    (verdict,) = feed(bars, datetime(2099, 1, 1, tzinfo=UTC))
    assert verdict.refused is not None and verdict.refused.startswith("bar refused: BTC-USD 2099-01-01")
    assert "LOGOS_BAR_FUTURE_TOLERANCE_SECONDS" in verdict.refused
    assert bars.last("BTC-USD") == NOW - 2 * MINUTE
    assert bars.refused == {"BTC-USD": {"future": 1}}
    (following,) = feed(bars, NOW - MINUTE)
    assert following.accepted and not following.repeated and bars.last("BTC-USD") == NOW - MINUTE


def test_check_when_bar_within_tolerance_of_clock_then_accepted() -> None:
    bars = guard()
    assert feed(bars, NOW + timedelta(minutes=4))[0].accepted


def test_check_when_replay_has_lone_outlier_then_refused_and_later_bars_accepted() -> None:
    bars = guard()
    outlier = HISTORY + timedelta(days=400)
    verdicts = feed(bars, HISTORY, HISTORY + MINUTE, outlier, HISTORY + 2 * MINUTE, HISTORY + 3 * MINUTE)
    assert [v.accepted for v in verdicts] == [True, True, False, True, True]
    assert verdicts[2].kind == "gap" and "LOGOS_MAX_BAR_GAP_SECONDS" in (verdicts[2].refused or "")
    assert bars.last("BTC-USD") == HISTORY + 3 * MINUTE
    assert bars.refused == {"BTC-USD": {"gap": 1}}


def test_check_when_replay_resumes_after_long_hole_then_second_bar_confirms_it() -> None:
    bars = guard()
    resumed = HISTORY + timedelta(days=10)
    verdicts = feed(bars, HISTORY, resumed, resumed + MINUTE, resumed + 2 * MINUTE)
    assert [v.accepted for v in verdicts] == [True, False, True, True]
    assert verdicts[2].resumed_after == timedelta(days=10, minutes=1)
    assert bars.last("BTC-USD") == resumed + 2 * MINUTE and bars.resumptions == {"BTC-USD": 1}


def test_check_when_live_feed_catches_up_after_outage_then_accepted_at_once() -> None:
    bars = guard()
    verdicts = feed(bars, NOW - timedelta(days=9), NOW - 2 * MINUTE)
    assert verdicts[1].accepted and verdicts[1].resumed_after == timedelta(days=9) - 2 * MINUTE


def test_check_when_bar_repeats_or_is_older_then_counted_per_symbol_and_passed_on() -> None:
    bars = guard()
    verdicts = feed(bars, HISTORY, HISTORY + MINUTE, HISTORY + MINUTE, HISTORY)
    feed(bars, HISTORY, HISTORY, symbol="ETH-USD")
    assert all(v.accepted for v in verdicts)
    assert [v.kind for v in verdicts] == ["", "", "duplicate", "older"]
    assert bars.non_monotonic == {"BTC-USD": {"duplicate": 1, "older": 1}, "ETH-USD": {"duplicate": 1}}
    assert bars.last("BTC-USD") == HISTORY + MINUTE


def test_check_when_gap_check_off_then_any_forward_jump_accepted() -> None:
    bars = BarGuard(future_tolerance=timedelta(minutes=5), max_gap=None)
    assert all(v.accepted for v in feed(bars, HISTORY, HISTORY + timedelta(days=900)))


def test_seed_when_restarted_then_first_bar_checked_against_handled_one() -> None:
    bars = guard()
    bars.seed("BTC-USD", HISTORY)
    assert feed(bars, HISTORY + timedelta(days=30))[0].kind == "gap"
    assert feed(bars, HISTORY)[0].kind == "duplicate"


def test_replay_refusals_when_data_has_future_bar_and_lone_outlier_then_both_refused_rest_kept() -> None:
    steady = [HISTORY + MINUTE * index for index in range(5)]
    resumed = [HISTORY + timedelta(days=10) + MINUTE * index for index in range(3)]
    outlier, future = HISTORY + timedelta(days=300), datetime(2099, 1, 1, tzinfo=UTC)
    refused = replay_refusals(
        {"BTC-USD": [*steady, outlier, *resumed, future]}, NOW, timedelta(minutes=5), timedelta(days=4)
    )
    assert set(refused) == {("BTC-USD", outlier), ("BTC-USD", future)}
    assert "outside the replay's span" in refused[("BTC-USD", outlier)]
    assert "ahead of the clock" in refused[("BTC-USD", future)]
