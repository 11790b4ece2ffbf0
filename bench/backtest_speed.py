"""Backtest speed: logos against vectorbt, backtesting.py and backtrader on the same backtest and bars.

    python bench/backtest_speed.py [--bars 1000000] [--peers backtrader,backtesting,vectorbt]
                                   [--slow-peer-bars 100000] [--repeat 1]

Every engine runs one backtest: sma_cross fast 10 / slow 30 on the close, long-only, fully invested
while long and flat otherwise, market orders decided at a bar's close and filled at the next bar's
open, 10 bps fees per fill, 100,000 starting cash. The bars are a seeded geometric random walk of
1-minute OHLCV bars (prices on a 0.01 tick), generated before any clock starts.

What each timing covers (the best of --repeat runs):
  logos        run_backtest: signals, the simulation and every metric; write_backtest (the run's
               files and plot, into a temporary directory) is timed on its own line.
  vectorbt     the SMAs with pandas, signals shifted one bar, Portfolio.from_signals at the open,
               total_return() and stats(). It gets the index tz-naive (same UTC times): with a
               tz-aware one its stats() builds Timestamp objects per bar and runs ~40x slower.
  backtesting  Backtest(...) and run() (which computes its stats), with self.I SMAs and crossover.
  backtrader   Cerebro with a PandasData feed, SMA CrossOver strategy, run().

backtesting.py and backtrader step through bars in Python, so by default they run on the first
100,000 bars only (--slow-peer-bars) and their bars/s comes from that prefix. Every engine runs once
untimed on a few bars first, which is when vectorbt compiles its numba code. The round trips and
final equity are a sanity check, not a comparison: engines size in whole shares or lots and
handle cash for fees differently, so they differ a little.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from logos.backtest.artifacts import write_backtest
from logos.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.orders.sizing import EquityFraction
from logos.strategies import get_strategy
from logos.symbols import SymbolSpec

FAST, SLOW = 10, 30
FEE_BPS = 10
FEE_RATE = FEE_BPS / 10_000
CASH = 100_000
SEED = 42
WARMUP_BARS = 2_000
GOAL_BACKTESTING_MULTIPLE = 20
SPEC = SymbolSpec(symbol="SYN", tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"))


@dataclass(frozen=True)
class Sanity:
    """What a backtest ended with: closed round trips and final equity."""

    round_trips: int
    final_equity: float


@dataclass(frozen=True)
class Timing:
    """One engine's best time over its bars, or why it did not run."""

    engine: str
    bars: int
    seconds: float = float("nan")
    sanity: Sanity | None = None
    problem: str = ""

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.seconds if self.problem == "" else float("nan")


@dataclass(frozen=True)
class Peer:
    """An engine logos is compared with: its module, how its data looks and how it runs."""

    label: str
    module: str
    prepare: Callable[[pd.DataFrame], Any]
    run: Callable[[Any], Sanity]
    slow: bool


# --- data ------------------------------------------------------------------------------------------------------------


def make_bars(count: int, seed: int = SEED) -> pd.DataFrame:
    """A geometric random walk of 1-minute OHLCV bars on a 0.01 tick, with consistent highs and lows."""
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, count))), 2)
    previous = np.concatenate([[100.0], close[:-1]])
    opened = np.round(previous * np.exp(rng.normal(0.0, 0.0002, count)), 2)
    top, bottom = np.maximum(opened, close), np.minimum(opened, close)
    high = np.maximum(np.round(top * (1.0 + np.abs(rng.normal(0.0, 0.0004, count))), 2), top)
    low = np.minimum(np.round(bottom * (1.0 - np.abs(rng.normal(0.0, 0.0004, count))), 2), bottom)
    volume = np.round(rng.lognormal(4.0, 1.0, count), 4) + 1.0
    index = pd.date_range("2024-01-01", periods=count, freq="1min", tz="UTC", name="timestamp")
    columns = {"open": opened, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(columns, index=index, dtype=np.float64)


def capitalized(frame: pd.DataFrame) -> pd.DataFrame:
    """The same bars with the column names backtesting.py and backtrader expect."""
    return frame.rename(columns=str.capitalize)


def naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """The same bars on a tz-naive (UTC) index: vectorbt turns a tz-aware one into Timestamp objects, slowly."""
    return frame.set_axis(pd.DatetimeIndex(frame.index).tz_localize(None), axis=0)


# --- logos -----------------------------------------------------------------------------------------------------------


def logos_config() -> BacktestConfig:
    fees = FillModelConfig(timing=FillTiming.NEXT_OPEN, taker_fee_bps=Decimal(FEE_BPS), maker_fee_bps=Decimal(FEE_BPS))
    return BacktestConfig(
        strategy="sma_cross",
        params={"fast": FAST, "slow": SLOW},
        cash=Decimal(CASH),
        fills=fees,
        sizing=EquityFraction(fraction=Decimal(1)),
    )


def run_logos(frame: pd.DataFrame) -> BacktestResult:
    config = logos_config()
    return run_backtest(frame, SPEC, get_strategy(config.strategy), config)


def logos_sanity(result: BacktestResult) -> Sanity:
    return Sanity(len(result.round_trips), result.metrics.end_equity)


def unfilled_note(result: BacktestResult) -> str:
    """Say so when logos stopped filling early: an equity below one lot makes every later order a refusal."""
    decided = int(np.count_nonzero(np.diff(result.targets, prepend=0.0)))
    filled = len(result.executions)
    if filled >= 0.9 * decided:
        return ""
    last_fill = int(result.index.searchsorted(result.executions[-1].ts)) if filled else 0
    return (
        f"note: logos filled {filled:,} of {decided:,} target changes: after bar {last_fill:,} its equity "
        f"({result.metrics.end_equity:.4g}, fees took the rest) buys under one lot, so later orders are cheap refusals"
    )


def write_logos_artifacts(result: BacktestResult, repeat: int) -> float:
    """Best time of write_backtest, each time into a fresh temporary directory (removed untimed)."""
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="logos-bench-") as directory:
            started = time.perf_counter()
            write_backtest(result, logos_config(), SPEC, "synthetic", Path(directory) / "run")
            best = min(best, time.perf_counter() - started)
    return best


# --- vectorbt --------------------------------------------------------------------------------------------------------


def run_vectorbt(frame: pd.DataFrame) -> Sanity:
    import vectorbt as vbt

    close = frame["close"]
    above = close.rolling(FAST).mean() > close.rolling(SLOW).mean()
    was_above = above.shift(1, fill_value=False)
    # decided at the close of the crossing bar, executed at the open of the next one
    entries = (above & ~was_above).shift(1, fill_value=False)
    exits = (~above & was_above).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        price=frame["open"],
        size=np.inf,
        fees=FEE_RATE,
        init_cash=CASH,
        direction="longonly",
        freq="1min",
    )
    portfolio.total_return()
    portfolio.stats()
    return Sanity(int(portfolio.trades.closed.count()), float(portfolio.final_value()))


# --- backtesting.py --------------------------------------------------------------------------------------------------


def rolling_mean(values: np.ndarray, window: int) -> pd.Series:
    return pd.Series(values).rolling(window).mean()


def backtesting_strategy() -> type:
    from backtesting import Strategy
    from backtesting.lib import crossover

    class SmaCross(Strategy):
        fast, slow = FAST, SLOW

        def init(self) -> None:
            self.fast_sma = self.I(rolling_mean, self.data.Close, self.fast)
            self.slow_sma = self.I(rolling_mean, self.data.Close, self.slow)

        def next(self) -> None:
            if crossover(self.fast_sma, self.slow_sma):
                self.buy()  # the default size is (nearly) all available cash, in whole units
            elif crossover(self.slow_sma, self.fast_sma):
                self.position.close()

    return SmaCross


def run_backtesting(frame: pd.DataFrame) -> Sanity:
    from backtesting import Backtest

    options: dict[str, Any] = {"cash": CASH, "commission": FEE_RATE, "trade_on_close": False, "exclusive_orders": True}
    if "finalize_trades" in inspect.signature(Backtest).parameters:
        options["finalize_trades"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(frame, backtesting_strategy(), **options).run()
    return Sanity(int(stats["# Trades"]), float(stats["Equity Final [$]"]))


# --- backtrader ------------------------------------------------------------------------------------------------------


def backtrader_strategy() -> type:
    import backtrader as bt

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        params = (("fast", FAST), ("slow", SLOW))

        def __init__(self) -> None:
            fast = bt.ind.SMA(self.data.close, period=self.p.fast)
            slow = bt.ind.SMA(self.data.close, period=self.p.slow)
            self.cross = bt.ind.CrossOver(fast, slow)
            self.round_trips = 0

        def notify_trade(self, trade: Any) -> None:
            if trade.isclosed:
                self.round_trips += 1

        def next(self) -> None:
            if not self.position and self.cross > 0:
                # backtrader sizes at this bar's close but fills at the next open, and its broker
                # rejects a buy the cash cannot cover; 100 % would be rejected on every gap up (and
                # by the commission alone), so 99 % keeps the order fillable at ~1 % less exposure
                self.order_target_percent(target=0.99)
            elif self.position and self.cross < 0:
                self.close()

    return SmaCross


def run_backtrader(frame: pd.DataFrame) -> Sanity:
    import backtrader as bt

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(backtrader_strategy())
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=FEE_RATE)
    strategy = cerebro.run()[0]
    return Sanity(strategy.round_trips, float(cerebro.broker.getvalue()))


PEERS = {
    "vectorbt": Peer("vectorbt", "vectorbt", naive_utc, run_vectorbt, slow=False),
    "backtesting": Peer("backtesting.py", "backtesting", capitalized, run_backtesting, slow=True),
    "backtrader": Peer("backtrader", "backtrader", capitalized, run_backtrader, slow=True),
}


# --- timing and report -----------------------------------------------------------------------------------------------


def best_of(repeat: int, run: Callable[[Any], Any], data: Any) -> tuple[float, Any]:
    """The shortest of ``repeat`` timed runs, and the last run's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run(data)
        best = min(best, time.perf_counter() - started)
    return best, result


def installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # a broken install is as good as none here
        return False
    return True


def time_peer(peer: Peer, frame: pd.DataFrame, repeat: int) -> Timing:
    if not installed(peer.module):
        return Timing(peer.label, len(frame), problem="not installed")
    data = peer.prepare(frame)
    try:
        peer.run(peer.prepare(frame.iloc[:WARMUP_BARS]))
        seconds, sanity = best_of(repeat, peer.run, data)
    except Exception as exc:
        return Timing(peer.label, len(frame), problem=f"failed: {type(exc).__name__}: {exc}"[:80])
    return Timing(peer.label, len(frame), seconds, sanity)


def time_logos(frame: pd.DataFrame, repeat: int, label: str = "logos") -> tuple[Timing, BacktestResult]:
    seconds, result = best_of(repeat, run_logos, frame)
    return Timing(label, len(frame), seconds, logos_sanity(result)), result


def row(timing: Timing, logos_rate: float | None) -> str:
    head = f"{timing.engine:<24}{timing.bars:>11,}"
    if timing.problem:
        return f"{head}   {timing.problem}"
    ratio = f"{logos_rate / timing.bars_per_second:>10.1f}x" if logos_rate is not None else f"{'-':>11}"
    sanity = timing.sanity or Sanity(0, float("nan"))
    return (
        f"{head}{timing.seconds:>10.3f}{timing.bars_per_second:>13,.0f}{ratio}"
        f"{sanity.round_trips:>13,}{sanity.final_equity:>16,.2f}"
    )


def print_table(rows: list[str]) -> None:
    print(
        f"{'engine':<24}{'bars':>11}{'seconds':>10}{'bars/s':>13}{'logos/peer':>11}"
        f"{'round trips':>13}{'final equity':>16}"
    )
    for line in rows:
        print(line)


def verdict(logos_rate: float, peer: Timing | None, multiple: int) -> str:
    if peer is None:
        return "n/a (not run)"
    if peer.problem:
        return f"n/a ({peer.problem})"
    needed = multiple * peer.bars_per_second
    shown = f"{multiple} x {peer.bars_per_second:,.0f} = {needed:,.0f}" if multiple > 1 else f"{needed:,.0f}"
    return f"{'meets' if logos_rate >= needed else 'misses'} ({logos_rate:,.0f} vs {shown} bars/s)"


def print_goal(logos_rate: float, peers: dict[str, Timing]) -> None:
    print(
        f"goal: logos >= vectorbt: {verdict(logos_rate, peers.get('vectorbt'), 1)}; "
        f"logos >= {GOAL_BACKTESTING_MULTIPLE}x backtesting.py: "
        f"{verdict(logos_rate, peers.get('backtesting'), GOAL_BACKTESTING_MULTIPLE)}"
    )


def parse_peers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peers {unknown}; choose from {', '.join(PEERS)}")
    return names


def run(bars: int, peer_names: list[str], slow_peer_bars: int, repeat: int) -> None:
    frame = make_bars(bars)
    prefix = frame.iloc[: min(bars, slow_peer_bars)]
    slow_selected = any(PEERS[name].slow for name in peer_names)
    import matplotlib.pyplot  # noqa: F401  (write_backtest plots; import it outside the timing)

    run_logos(frame.iloc[:WARMUP_BARS])
    logos, result = time_logos(frame, repeat)
    artifacts = write_logos_artifacts(result, repeat)
    logos_prefix = time_logos(prefix, repeat, "logos (slow-peer prefix)")[0] if slow_selected else None
    peers = {name: time_peer(PEERS[name], prefix if PEERS[name].slow else frame, repeat) for name in peer_names}

    print(
        f"sma_cross {FAST}/{SLOW}, long-only, all equity, {FEE_BPS} bps per fill, next-open fills, cash {CASH:,}; "
        f"{bars:,} synthetic 1-minute bars (seed {SEED}); best of {repeat}"
    )
    print(f"warm-up: every engine ran once untimed on {WARMUP_BARS:,} bars (vectorbt compiles with numba then)")
    if slow_selected:
        print(f"backtesting.py and backtrader ran on the first {len(prefix):,} bars only; bars/s is from that prefix")
    rate = logos.bars_per_second
    rows = [row(logos, None)]
    if logos_prefix is not None and len(prefix) < bars:
        rows.append(row(logos_prefix, None))
    rows += [row(timing, rate) for timing in peers.values()]
    print_table(rows)
    print(
        f"logos artifacts (write_backtest, files + plot; matplotlib imported beforehand): {artifacts:.3f} s "
        f"-> {bars / (logos.seconds + artifacts):,.0f} bars/s with the simulation"
    )
    note = unfilled_note(result)
    if note:
        print(note)
    print_goal(rate, peers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000, help="synthetic minute bars (default 1,000,000)")
    parser.add_argument("--peers", type=parse_peers, default=list(PEERS), help="comma-separated: " + ",".join(PEERS))
    parser.add_argument("--slow-peer-bars", type=int, default=100_000, help="bars for backtesting.py and backtrader")
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine; the best time counts")
    args = parser.parse_args()
    if args.bars < WARMUP_BARS or args.slow_peer_bars < 2 or args.repeat < 1:
        parser.error(f"--bars must be at least {WARMUP_BARS:,}, --slow-peer-bars at least 2, --repeat at least 1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar, read when tqdm is imported
    run(args.bars, args.peers, args.slow_peer_bars, args.repeat)


if __name__ == "__main__":
    main()
