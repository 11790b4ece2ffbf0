"""Our sma_cross long-only backtest against backtrader, configured the same way, on a bundled fixture.

Same rules on both sides: decide at a bar's close, fill market orders at the next bar's open, size
the entry as whole shares of 99 % of the equity at the decision close, 10 bps commission per fill, exit the
whole position when the fast average falls back to or below the slow one.
"""

from __future__ import annotations

import math
from decimal import Decimal

import backtrader as bt
import pandas as pd
import pytest

from logos.backtest.engine import BacktestConfig, run_backtest
from logos.data.fixtures import fixture_catalog, fixture_path
from logos.data.loading import load_bars
from logos.execution.fill_model import FillModelConfig
from logos.orders.sizing import EquityFraction
from logos.strategies import get_strategy

FAST, SLOW, CASH, FEE = 10, 30, 100_000, 0.001
# 99 % of equity, so an entry sized at the close is still affordable at the next open: backtrader
# refuses an order its cash cannot pay for at execution, where our engine would let cash go negative.
FRACTION = 0.99


class SmaCross(bt.Strategy):  # type: ignore[misc]
    def __init__(self) -> None:
        self.fast = bt.indicators.SimpleMovingAverage(self.data.close, period=FAST)
        self.slow = bt.indicators.SimpleMovingAverage(self.data.close, period=SLOW)
        self.fills: list[tuple[pd.Timestamp, str, float, float]] = []

    def next(self) -> None:
        want_long = self.fast[0] > self.slow[0]
        holding = self.position.size > 0
        if want_long and not holding:
            self.buy(size=math.floor(FRACTION * self.broker.getvalue() / self.data.close[0]))
        elif not want_long and holding:
            self.close()

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            when = pd.Timestamp(bt.num2date(order.executed.dt), tz="UTC")
            self.fills.append(
                (when, "buy" if order.isbuy() else "sell", abs(order.executed.size), order.executed.price)
            )


def run_backtrader(frame: pd.DataFrame) -> tuple[list[tuple[pd.Timestamp, str, float, float]], float]:
    cerebro = bt.Cerebro(stdstats=False)
    feed = frame.rename(columns=str.capitalize).tz_convert(None)
    cerebro.adddata(bt.feeds.PandasData(dataname=feed))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=FEE)
    (strategy,) = cerebro.run()
    return strategy.fills, cerebro.broker.getvalue()


def test_sma_cross_when_compared_with_backtrader_then_same_trades_and_final_equity() -> None:
    frame = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    spec = fixture_catalog()["sma_demo_1m"]
    assert spec.lot_size == 1  # whole shares, as the backtrader side buys them
    config = BacktestConfig(
        strategy="sma_cross",
        params={"fast": FAST, "slow": SLOW},
        cash=Decimal(CASH),
        sizing=EquityFraction(fraction=Decimal(str(FRACTION))),
        fills=FillModelConfig(taker_fee_bps=Decimal(10), maker_fee_bps=Decimal(10)),
    )
    ours = run_backtest(frame, spec, get_strategy("sma_cross"), config)
    theirs, their_equity = run_backtrader(frame)

    assert len(ours.executions) == len(theirs) > 10
    for mine, other in zip(ours.executions, theirs, strict=True):
        assert pd.Timestamp(mine.ts) == other[0]
        assert (mine.side.value, float(mine.quantity)) == (other[1], other[2])
        assert float(mine.price) == pytest.approx(other[3], abs=1e-9)
    # backtrader marks the last bar at its close like we do; 0.1 % is the agreed tolerance
    assert ours.metrics.end_equity == pytest.approx(their_equity, rel=1e-3)
