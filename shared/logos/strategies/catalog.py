"""The bundled strategies. Each docstring's first line is its summary; the rest explains the idea."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from logos.strategies.base import Strategy, StrategyParams
from logos.strategies.windows import above, hold_last_event, rolling_max, rolling_mean, rolling_min, shift


def _close(frame: pd.DataFrame) -> np.ndarray:
    return frame["close"].to_numpy(dtype=np.float64)


class BuyAndHoldParams(StrategyParams):
    pass


def buy_and_hold(frame: pd.DataFrame, params: BuyAndHoldParams) -> np.ndarray:
    """Hold a full long position from the first bar to the last.

    The benchmark every other strategy has to beat after costs.
    """
    return np.ones(len(frame))


class SmaCrossParams(StrategyParams):
    fast: int = Field(default=10, ge=1, le=10_000, description="Bars in the fast moving average.")
    slow: int = Field(default=30, ge=2, le=10_000, description="Bars in the slow moving average.")
    allow_short: bool = Field(default=False, description="Go short (instead of flat) when fast < slow.")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


def sma_cross(frame: pd.DataFrame, params: SmaCrossParams) -> np.ndarray:
    """Long while the fast simple moving average of the close is above the slow one.

    Trend following: a fast average above a slow one means prices have been rising lately. Flat
    (or short with allow_short) while the fast average is at or below the slow one (an exact tie
    counts as not above), and until the slow average has a full window.
    """
    close = _close(frame)
    fast, slow = rolling_mean(close, params.fast), rolling_mean(close, params.slow)
    below = -1.0 if params.allow_short else 0.0
    targets = np.where(above(fast, slow), 1.0, below)
    targets[np.isnan(slow)] = 0.0
    return targets


class RsiReversionParams(StrategyParams):
    period: int = Field(default=14, ge=2, le=1_000, description="Bars in the RSI's averages.")
    lower: float = Field(default=30.0, gt=0, lt=50, description="Oversold level: buy below it.")
    upper: float = Field(default=70.0, gt=50, lt=100, description="Overbought level: sell (short) above it.")
    hold: int = Field(default=60, ge=1, le=10_000, description="Most bars a signal is held without renewal.")
    allow_short: bool = Field(default=False, description="Go short when overbought.")


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Relative strength index from simple averages of gains and losses over ``period`` bars (0-100)."""
    change = np.diff(close, prepend=np.nan)
    gains = rolling_mean(np.where(change > 0, change, 0.0), period)
    losses = rolling_mean(np.where(change < 0, -change, 0.0), period)
    total = gains + losses
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(total > 0, 100.0 * gains / total, 50.0)
    value[:period] = np.nan  # the first change is undefined, so the first full window ends at bar `period`
    return value


def rsi_reversion(frame: pd.DataFrame, params: RsiReversionParams) -> np.ndarray:
    """Buy when the RSI says oversold, get out when it is back above 50.

    Mean reversion: after a run of losses prices tend to bounce. Enters long when RSI < lower,
    exits when RSI crosses above 50; with allow_short, mirrors it above upper. A position is held
    at most `hold` bars without a fresh signal.
    """
    value = rsi(_close(frame), params.period)
    events = np.full(len(value), np.nan)
    previous = shift(value, 1)
    crossed_middle = ((previous < 50) & (value >= 50)) | ((previous > 50) & (value <= 50))
    events[crossed_middle] = 0.0
    events[value < params.lower] = 1.0
    events[value > params.upper] = -1.0 if params.allow_short else 0.0
    return hold_last_event(events, params.hold)


class DonchianBreakoutParams(StrategyParams):
    window: int = Field(default=20, ge=2, le=10_000, description="Bars in the channel (highest high, lowest low).")
    hold: int = Field(default=60, ge=1, le=10_000, description="Most bars a breakout is held without renewal.")
    allow_short: bool = Field(default=False, description="Go short on a downside breakout.")


def donchian_breakout(frame: pd.DataFrame, params: DonchianBreakoutParams) -> np.ndarray:
    """Long after the close breaks above the channel of the previous `window` highs.

    Breakout trend following (the Turtles' rule): a close above the highest high of the previous
    `window` bars starts a long; a close below the lowest low ends it (or starts a short with
    allow_short). A breakout is held at most `hold` bars unless renewed.
    """
    close = _close(frame)
    upper = shift(rolling_max(frame["high"].to_numpy(dtype=np.float64), params.window), 1)
    lower = shift(rolling_min(frame["low"].to_numpy(dtype=np.float64), params.window), 1)
    events = np.full(len(close), np.nan)
    events[close > upper] = 1.0
    events[close < lower] = -1.0 if params.allow_short else 0.0
    return hold_last_event(events, params.hold)


class MomentumParams(StrategyParams):
    lookback: int = Field(default=60, ge=1, le=10_000, description="Bars over which the return is measured.")
    threshold: float = Field(default=0.0, ge=0, le=1, description="Minimum absolute return to take a position.")
    allow_short: bool = Field(default=False, description="Go short when the return is below -threshold.")


def momentum(frame: pd.DataFrame, params: MomentumParams) -> np.ndarray:
    """Long while the return over the last `lookback` bars is above `threshold`.

    Time-series momentum: assets that rose keep rising for a while. Short (with allow_short) while
    the return is below -threshold, flat in between.
    """
    close = _close(frame)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = close / shift(close, params.lookback) - 1.0
    below = -1.0 if params.allow_short else 0.0
    targets = np.where(change > params.threshold, 1.0, np.where(change < -params.threshold, below, 0.0))
    targets[np.isnan(change)] = 0.0
    return targets


STRATEGIES: dict[str, Strategy] = {  # type: ignore[type-arg]
    strategy.name: strategy
    for strategy in (
        Strategy("buy_and_hold", BuyAndHoldParams, buy_and_hold, lambda params: 1),
        Strategy("sma_cross", SmaCrossParams, sma_cross, lambda params: params.slow),
        Strategy("rsi_reversion", RsiReversionParams, rsi_reversion, lambda params: params.period + params.hold + 2),
        Strategy(
            "donchian_breakout",
            DonchianBreakoutParams,
            donchian_breakout,
            lambda params: params.window + params.hold + 2,
        ),
        Strategy("momentum", MomentumParams, momentum, lambda params: params.lookback + 1),
    )
}
