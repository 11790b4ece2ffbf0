from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logos.strategies import STRATEGIES, StrategyError, get_strategy
from logos.strategies.windows import above, hold_last_event, rolling_mean


def random_walk(bars: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, bars)))
    spread = np.abs(rng.normal(0, 0.002, bars)) * close
    open_ = np.concatenate([[close[0]], close[:-1]])
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(1, 1000, bars).astype(float),
        },
        index=pd.date_range("2024-01-01", periods=bars, freq="min", tz="UTC", name="timestamp"),
    )
    return frame


PARAMS = {
    "buy_and_hold": st.just({}),
    "sma_cross": st.tuples(st.integers(1, 20), st.integers(1, 40), st.booleans()).map(
        lambda t: {"fast": t[0], "slow": t[0] + t[1], "allow_short": t[2]}
    ),
    "rsi_reversion": st.fixed_dictionaries(
        {"period": st.integers(2, 30), "hold": st.integers(1, 50), "allow_short": st.booleans()}
    ),
    "donchian_breakout": st.fixed_dictionaries(
        {"window": st.integers(2, 40), "hold": st.integers(1, 50), "allow_short": st.booleans()}
    ),
    "momentum": st.fixed_dictionaries(
        {"lookback": st.integers(1, 60), "threshold": st.sampled_from([0.0, 0.001, 0.01]), "allow_short": st.booleans()}
    ),
}


def test_registry_when_listed_then_has_the_five_documented_strategies() -> None:
    assert set(STRATEGIES) >= {"buy_and_hold", "sma_cross", "rsi_reversion", "donchian_breakout", "momentum"}
    assert set(PARAMS) == set(STRATEGIES)
    for strategy in STRATEGIES.values():
        assert strategy.summary and len(strategy.description) > len(strategy.summary)
        for field in strategy.params_model.model_fields.values():
            assert field.description


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_strategy_when_evaluated_on_rolling_window_then_equals_full_history(name: str, data: st.DataObject) -> None:
    strategy = get_strategy(name)
    params = strategy.params(data.draw(PARAMS[name]))
    frame = random_walk(400, data.draw(st.integers(0, 10_000)))
    full = strategy.targets(frame, params)
    for end in data.draw(st.lists(st.integers(1, len(frame)), min_size=5, max_size=10)):
        live = strategy.target_at_last_bar(frame.iloc[:end], params)
        assert live == full[end - 1], f"{name} {params} differs at bar {end - 1}"


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_when_run_on_random_walk_then_targets_in_range_and_it_trades(name: str) -> None:
    targets = get_strategy(name).targets(random_walk(3000, 7))
    assert targets.shape == (3000,) and np.all(np.abs(targets) <= 1)
    assert name == "buy_and_hold" or np.count_nonzero(np.diff(targets)) > 2


def test_sma_cross_when_fast_above_slow_then_long_else_flat() -> None:
    frame = random_walk(200, 3)
    targets = get_strategy("sma_cross").targets(frame, get_strategy("sma_cross").params({"fast": 3, "slow": 8}))
    close = frame["close"].to_numpy()
    fast, slow = rolling_mean(close, 3), rolling_mean(close, 8)
    assert np.array_equal(targets[7:], np.where(fast[7:] > slow[7:] + 1e-9, 1.0, 0.0))
    assert np.all(targets[:7] == 0)


def test_params_when_out_of_bounds_or_unknown_then_clear_error() -> None:
    sma = get_strategy("sma_cross")
    with pytest.raises(StrategyError, match=r"fast \(30\) must be shorter than slow \(10\)"):
        sma.parse_params(["fast=30", "slow=10"])
    with pytest.raises(StrategyError, match="unknown parameter 'speed'"):
        sma.parse_params(["speed=3"])
    with pytest.raises(StrategyError, match="not key=value"):
        sma.parse_params(["fast"])
    with pytest.raises(StrategyError, match="unknown strategy 'nope'; known: buy_and_hold"):
        get_strategy("nope")
    assert sma.parse_params(["fast=5", "slow=20", "allow_short=true"]).allow_short is True


def test_hold_last_event_when_events_age_then_released_after_hold() -> None:
    events = np.array([np.nan, 1.0, np.nan, np.nan, np.nan, 0.0, np.nan, -1.0, np.nan])
    assert hold_last_event(events, 2).tolist() == [0, 1, 1, 1, 0, 0, 0, -1, -1]


def test_above_when_values_tie_up_to_rounding_then_not_above() -> None:
    left = np.array([110.75500000000002, 110.76, 1.0, np.nan])
    right = np.array([110.75499999999998, 110.75, 1.0, 1.0])
    assert above(left, right).tolist() == [False, True, False, False]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_strategy_when_evaluated_on_the_live_window_frame_then_equals_the_dataframe_and_the_history(
    name: str, data: st.DataObject
) -> None:
    from logos.live.window_frame import WindowFrame

    strategy = get_strategy(name)
    params = strategy.params(data.draw(PARAMS[name]))
    frame = random_walk(300, data.draw(st.integers(0, 10_000)))
    full = strategy.targets(frame, params)
    lookback = strategy.lookback(params) + 1
    for end in data.draw(st.lists(st.integers(1, len(frame)), min_size=5, max_size=10)):
        window = frame.iloc[max(0, end - lookback) : end]
        light = WindowFrame(window.to_numpy(dtype=np.float64), window.index.as_unit("ns").asi8)
        live = strategy.targets(light, params)  # type: ignore[arg-type]
        assert np.array_equal(live, strategy.targets(window, params)), f"{name} {params} at bar {end - 1}"
        assert live[-1] == full[end - 1]


def test_window_frame_when_a_strategy_asks_for_more_than_columns_then_it_gets_pandas() -> None:
    from logos.live.window_frame import WindowFrame

    frame = random_walk(50, 3)
    light = WindowFrame(frame.to_numpy(dtype=np.float64), frame.index.as_unit("ns").asi8)
    assert light["close"].rolling(5).mean().equals(frame["close"].rolling(5).mean())
    assert light.index.equals(frame.index) and len(light) == 50
    assert light.iloc[-3:].equals(frame.iloc[-3:])
    assert np.array_equal(np.asarray(light["volume"]), frame["volume"].to_numpy())
