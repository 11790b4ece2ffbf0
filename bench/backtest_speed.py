"""Backtest speed: logos against vectorbt, backtesting.py and backtrader on equal work, and logos end to end.

    python bench/backtest_speed.py [--bars 1000000] [--peers backtrader,backtesting,vectorbt]
                                   [--slow-peer-bars 100000] [--repeat 3] [--cli-runs 2] [--phases]

Every engine runs one backtest: sma_cross fast 10 / slow 30 on the close, long-only, fully invested
while long and flat otherwise, market orders decided at a bar's close and filled at the next bar's
open, 1 bp fee per fill, 10,000,000 starting cash. The bars are a seeded geometric random walk of
1-minute OHLCV bars (prices on a 0.01 tick), generated before any clock starts.

Equal work: the strategy makes about 20,000 round trips on a million bars. At 10 bps a fill they
cost 0.998^20,000 of the equity, so it went bankrupt early and each engine stopped trading at its
own point (logos refused orders under one lot after bar 644,232 and made a third fewer round trips
than vectorbt). At 1 bp and with ten million cash every engine still trades whole units at the
last bar, and the bench checks that: the round trips of every peer (closed, plus the one still open
at the end) must agree with logos's on the same bars within 1 %, or it fails before any speed is
compared.

What each timing covers (the best of --repeat runs, engines taking turns in each round):
  logos        run_backtest: signals, the exact simulation and every metric.
  vectorbt     the SMAs with pandas, signals shifted one bar, Portfolio.from_signals at the open,
               total_return() and stats(). It gets the index tz-naive (same UTC times): with a
               tz-aware one its stats() builds Timestamp objects per bar and runs ~40x slower.
  backtesting  Backtest(...) and run() (which computes its stats), with self.I SMAs and crossover.
  backtrader   Cerebro with a PandasData feed, SMA CrossOver strategy, run().
  logos CLI    `logos backtest` on the bars saved as Parquet, as a subprocess (--cli-runs times):
               wall time from spawn to exit, peak resident memory (the child's own rusage), the
               size of the run directory, and whether two runs wrote byte-identical files.

--phases prints where a logos run spends its time (best of --repeat per phase, after the comparison):
the strategy's targets, the simulation's set-up, the decision loop with the fills, the curves, the
metrics, and, outside the timed run, the Decimal records built on first read (see below).

The integer core (logos.backtest.integer_core) keeps its fills as ints: run_backtest computes the
curves and every metric from them, and builds the Decimal executions, round trips and ledger the
first time result.executions, result.round_trips or result.ledger is read. The logos timing does not
read them (the round-trip check counts the metrics' trades, the same number), just as vectorbt's
stats() does not build a Python object per trade; the CLI timing below does, to write its files.

backtesting.py and backtrader step through bars in Python, so by default they run on the first
100,000 bars only (--slow-peer-bars) and their bars/s comes from that prefix, as does the logos
figure they are compared with. Every engine runs once untimed on a few bars first, which is when
vectorbt compiles its numba code.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from logos.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.orders.sizing import EquityFraction
from logos.strategies import get_strategy
from logos.strategies.windows import RELATIVE_TIE
from logos.symbols import SymbolSpec

FAST, SLOW = 10, 30
FEE_BPS = 1
FEE_RATE = FEE_BPS / 10_000
CASH = 10_000_000
SEED = 42
WARMUP_BARS = 2_000
GOAL_VECTORBT_MULTIPLE = 1.5
GOAL_BACKTESTING_MULTIPLE = 20
ROUND_TRIP_TOLERANCE = 0.01
GOAL_CLI_SECONDS = 3.0
GOAL_CLI_PEAK_MB = 400
GOAL_RUN_DIR_MB = 40
SPEC = SymbolSpec(symbol="SYN", tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"))


@dataclass(frozen=True)
class Sanity:
    """What a backtest ended with: round trips (closed, plus one still open at the end) and final equity."""

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
    # the metrics count the round trips, closed and the one still open, as len(round_trips) + len(open_trips)
    return Sanity(result.metrics.trades, result.metrics.end_equity)


def logos_phases(frame: pd.DataFrame, repeat: int) -> dict[str, float]:
    """Time each phase of ``run_backtest`` on ``frame`` (the engine's own steps, in its order); best of ``repeat``.

    The last phase is not part of ``run_backtest``: the Decimal records (executions, round trips, the
    ledger) that the integer core builds the first time they are read, as the CLI does to write them.
    """
    from logos.backtest.engine import _Simulation
    from logos.backtest.metrics import compute_metrics

    config = logos_config()
    strategy = get_strategy(config.strategy)
    best: dict[str, float] = {}
    for _ in range(repeat):
        marks = [time.perf_counter()]
        targets = strategy.targets(frame, strategy.params(config.params))
        marks.append(time.perf_counter())
        simulation = _Simulation(frame, SPEC, config)
        marks.append(time.perf_counter())
        simulation.run(targets)
        marks.append(time.perf_counter())
        positions, _, equity = simulation.curves()
        marks.append(time.perf_counter())
        open_trips = simulation.open_trips()
        compute_metrics(
            equity,
            simulation.index,
            positions,
            simulation.round_trips(open_trips),
            simulation.traded_notional(),
            len(simulation.fill_bars),
            float(simulation.fees_paid()),
            simulation.ppy,
            simulation.calendar,
        )
        marks.append(time.perf_counter())
        simulation.ledger  # noqa: B018 (builds the Decimal records)
        marks.append(time.perf_counter())
        names = ["targets", "set-up", f"loop ({simulation.exact_path})", "curves", "metrics", "records on first read"]
        for name, started, ended in zip(names, marks[:-1], marks[1:], strict=True):
            best[name] = min(best.get(name, float("inf")), ended - started)
    return best


def print_phases(frame: pd.DataFrame, repeat: int) -> None:
    phases = logos_phases(frame, repeat)
    parts = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in phases.items())
    print(f"logos phases on {len(frame):,} bars (best of {repeat} each): {parts}")


# --- vectorbt --------------------------------------------------------------------------------------------------------


def run_vectorbt(frame: pd.DataFrame) -> Sanity:
    import vectorbt as vbt

    close = frame["close"]
    fast, slow = close.rolling(FAST).mean(), close.rolling(SLOW).mean()
    above = (fast - slow) > RELATIVE_TIE * slow.abs()  # the tie rule of logos (NaN: not above)
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
    return Sanity(int(portfolio.trades.count()), float(portfolio.final_value()))  # closed and open


# --- backtesting.py --------------------------------------------------------------------------------------------------


def rolling_mean(values: np.ndarray, window: int) -> pd.Series:
    return pd.Series(values).rolling(window).mean()


def above(fast: float, slow: float) -> bool:
    """The tie rule of logos: averages equal up to floating-point noise are not above (NaN is not either)."""
    return bool(fast - slow > RELATIVE_TIE * abs(slow))


def backtesting_strategy() -> type:
    from backtesting import Strategy

    class SmaCross(Strategy):
        fast, slow = FAST, SLOW

        def init(self) -> None:
            self.fast_sma = self.I(rolling_mean, self.data.Close, self.fast)
            self.slow_sma = self.I(rolling_mean, self.data.Close, self.slow)

        def next(self) -> None:
            # long while above, flat otherwise, like the others; backtesting.lib.crossover needs a strict
            # cross, so it misses an entry after a tie, and on a 0.01 grid averages tie often
            long = above(self.fast_sma[-1], self.slow_sma[-1])
            if long and not self.position:
                self.buy()  # the default size is (nearly) all available cash, in whole units
            elif not long and self.position:
                self.position.close()

    return SmaCross


def run_backtesting(frame: pd.DataFrame) -> Sanity:
    from backtesting import Backtest

    options: dict[str, Any] = {"cash": CASH, "commission": FEE_RATE, "trade_on_close": False, "exclusive_orders": True}
    if "finalize_trades" in inspect.signature(Backtest).parameters:
        options["finalize_trades"] = True  # a trade still open at the end is counted (closed at the last close)
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
            self.fast = bt.ind.SMA(self.data.close, period=self.p.fast)
            self.slow = bt.ind.SMA(self.data.close, period=self.p.slow)
            self.round_trips = 0

        def notify_trade(self, trade: Any) -> None:
            if trade.isclosed:
                self.round_trips += 1

        def next(self) -> None:
            long = above(self.fast[0], self.slow[0])
            if not self.position and long:
                # backtrader sizes at this bar's close but fills at the next open, and its broker
                # rejects a buy the cash cannot cover; 100 % would be rejected on every gap up (and
                # by the commission alone), so 99 % keeps the order fillable at ~1 % less exposure
                self.order_target_percent(target=0.99)
            elif self.position and not long:
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
    still_open = 1 if strategy.position else 0
    return Sanity(strategy.round_trips + still_open, float(cerebro.broker.getvalue()))


PEERS = {
    "vectorbt": Peer("vectorbt", "vectorbt", naive_utc, run_vectorbt, slow=False),
    "backtesting": Peer("backtesting.py", "backtesting", capitalized, run_backtesting, slow=True),
    "backtrader": Peer("backtrader", "backtrader", capitalized, run_backtrader, slow=True),
}


# --- timing and report -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """One engine on one set of bars, ready to run."""

    label: str
    bars: int
    run: Callable[[], Sanity]
    warm_up: Callable[[], object]


def installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # a broken install is as good as none here
        return False
    return True


def time_in_turns(contenders: list[Contender], repeat: int) -> dict[str, Timing]:
    """Warm every engine up, then run them in turns ``repeat`` times; keep each one's best time."""
    best: dict[str, float] = {}
    sanity: dict[str, Sanity] = {}
    problems: dict[str, str] = {}
    for contender in contenders:
        try:
            contender.warm_up()
        except Exception as exc:
            problems[contender.label] = f"failed: {type(exc).__name__}: {exc}"[:80]
    for _ in range(repeat):
        for contender in contenders:
            if contender.label in problems:
                continue
            try:
                started = time.perf_counter()
                sanity[contender.label] = contender.run()
                seconds = time.perf_counter() - started
            except Exception as exc:
                problems[contender.label] = f"failed: {type(exc).__name__}: {exc}"[:80]
                continue
            best[contender.label] = min(best.get(contender.label, float("inf")), seconds)
    return {
        contender.label: Timing(contender.label, contender.bars, problem=problems[contender.label])
        if contender.label in problems
        else Timing(contender.label, contender.bars, best[contender.label], sanity[contender.label])
        for contender in contenders
    }


def row(timing: Timing, logos: Timing | None) -> str:
    head = f"{timing.engine:<24}{timing.bars:>11,}"
    if timing.problem:
        return f"{head}   {timing.problem}"
    ratio = f"{logos.bars_per_second / timing.bars_per_second:>10.2f}x" if logos is not None else f"{'-':>11}"
    sanity = timing.sanity or Sanity(0, float("nan"))
    return (
        f"{head}{timing.seconds:>10.3f}{timing.bars_per_second:>13,.0f}{ratio}"
        f"{sanity.round_trips:>13,}{sanity.final_equity:>18,.2f}"
    )


def print_table(rows: list[str]) -> None:
    print(
        f"{'engine':<24}{'bars':>11}{'seconds':>10}{'bars/s':>13}{'logos/peer':>11}"
        f"{'round trips':>13}{'final equity':>18}"
    )
    for line in rows:
        print(line)


def check_round_trips(peers: list[Timing], logos_on: dict[int, Timing]) -> list[str]:
    """Print how far each peer's round trips are from logos's on the same bars; return the failures."""
    failures = []
    for peer in peers:
        reference = logos_on[peer.bars]
        if peer.problem or peer.sanity is None or reference.sanity is None:
            continue
        theirs, ours = peer.sanity.round_trips, reference.sanity.round_trips
        apart = abs(theirs - ours) / max(ours, 1)
        verdict = "ok" if apart <= ROUND_TRIP_TOLERANCE else "FAILED"
        line = (
            f"equal work: {peer.engine} made {theirs:,} round trips, logos {ours:,} on the same {peer.bars:,} bars: "
            f"{apart:.2%} apart (at most {ROUND_TRIP_TOLERANCE:.0%}): {verdict}"
        )
        print(line)
        if verdict != "ok":
            failures.append(line)
    return failures


def verdict(logos: Timing | None, peer: Timing | None, multiple: float) -> str:
    if peer is None or logos is None:
        return "n/a (not run)"
    if peer.problem:
        return f"n/a ({peer.problem})"
    ratio = logos.bars_per_second / peer.bars_per_second
    return (
        f"{'meets' if ratio >= multiple else 'misses'} ({ratio:.2f}x: {logos.bars_per_second:,.0f} against "
        f"{peer.bars_per_second:,.0f} bars/s on {peer.bars:,} bars)"
    )


# --- logos end to end through the CLI --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    """One ``logos backtest`` subprocess: its wall time, peak memory, exit code and run directory."""

    seconds: float
    peak_mb: float
    exit_code: int
    run_dir: Path
    output: str


def logos_command() -> list[str]:
    script = Path(sys.executable).with_name("logos")
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]


# A child forked from this process would count this process's pages (the bars, the peers) in its
# peak RSS until it execs, so a small interpreter starts the command and reports its child's usage.
MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:], stderr=subprocess.STDOUT)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as report:
    json.dump({"code": code, "seconds": seconds, "peak": peak}, report)
"""


def run_measured(command: list[str], run_dir: Path) -> CliRun:
    """Run ``command``; return its wall time from spawn to exit and its own peak resident memory."""
    with tempfile.TemporaryDirectory(prefix="logos-bench-measure-") as directory:
        report = Path(directory) / "usage.json"
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(report), *command], capture_output=True, text=True, check=False
        )
        usage = json.loads(report.read_text())
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS
    peak = usage["peak"] / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return CliRun(usage["seconds"], peak, usage["code"], run_dir, done.stdout)


def files_of(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run but its log (which holds the wall-clock times of the run)."""
    return {
        str(path.relative_to(run_dir)): path.read_bytes()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and path.relative_to(run_dir) != Path("logs/run.log")
    }


def time_cli(frame: pd.DataFrame, runs: int) -> list[str]:
    """Run ``logos backtest`` on ``frame`` ``runs`` times as a subprocess, print what it took; return failures."""
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="logos-bench-") as directory:
        data = Path(directory) / "bars.parquet"
        frame.to_parquet(data)
        arguments = [
            "backtest",
            "--data",
            str(data),
            "--strategy",
            "sma_cross",
            "--param",
            f"fast={FAST}",
            "--param",
            f"slow={SLOW}",
            "--fee-bps",
            str(FEE_BPS),
            "--cash",
            str(CASH),
            "--lot-size",
            str(SPEC.lot_size),
            "--tick-size",
            str(SPEC.tick_size),
            "--runs-dir",
            directory,
        ]
        results = []
        for number in range(1, runs + 1):
            run_dir = Path(directory) / f"run{number}"
            result = run_measured([*logos_command(), *arguments, "--run-id", run_dir.name], run_dir)
            if result.exit_code != 0:
                failures.append(f"logos backtest exited {result.exit_code}: {result.output.strip()[-300:]}")
                print(failures[-1])
                return failures
            results.append(result)
        files = files_of(results[0].run_dir)
        sizes = {name: len(content) / 1e6 for name, content in files.items()}
        total = sum(sizes.values()) + (results[0].run_dir / "logs" / "run.log").stat().st_size / 1e6
        largest = ", ".join(f"{name} {size:.1f}" for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:4])
        times = f"{runs} runs" if runs > 1 else "1 run"
        print(f"logos CLI end to end: `logos backtest` on {len(frame):,} bars from Parquet, {times} as subprocesses")
        print(f"  wall (spawn to exit)  {', '.join(f'{result.seconds:.2f} s' for result in results)}")
        print(f"  peak resident memory  {', '.join(f'{result.peak_mb:.0f} MB' for result in results)}")
        print(f"  run directory         {total:.1f} MB ({largest} MB)")
        summary = next((line.strip() for line in results[-1].output.splitlines() if line.startswith("time:")), "")
        print(f"  the command's report  {summary}")
        if len(results) > 1:
            differing = [name for name in files if files_of(results[-1].run_dir).get(name) != files[name]]
            if differing:
                failures.append(f"re-runs differ in {', '.join(differing)}")
            print(f"  re-run                {'byte-identical files (logs aside)' if not differing else failures[-1]}")
        fastest, leanest = min(result.seconds for result in results), max(result.peak_mb for result in results)
        scale = "" if len(frame) == 1_000_000 else " (the goals are for 1,000,000 bars)"
        print(
            f"goal{scale}: wall <= {GOAL_CLI_SECONDS:.0f} s: {_meets(fastest <= GOAL_CLI_SECONDS)} ({fastest:.2f} s); "
            f"peak <= {GOAL_CLI_PEAK_MB} MB: {_meets(leanest <= GOAL_CLI_PEAK_MB)} ({leanest:.0f} MB); "
            f"run directory <= {GOAL_RUN_DIR_MB} MB: {_meets(total <= GOAL_RUN_DIR_MB)} ({total:.1f} MB)"
        )
    return failures


def _meets(ok: bool) -> str:
    return "meets" if ok else "misses"


# --- main ------------------------------------------------------------------------------------------------------------


def parse_peers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peers {unknown}; choose from {', '.join(PEERS)}")
    return names


def contenders(frame: pd.DataFrame, prefix: pd.DataFrame, peer_names: list[str]) -> list[Contender]:
    """Logos on all bars (and on the slow peers' prefix), then each installed peer on its bars."""
    warm = frame.iloc[:WARMUP_BARS]
    chosen = [
        Contender("logos", len(frame), lambda: logos_sanity(run_logos(frame)), lambda: run_logos(warm)),
    ]
    if any(PEERS[name].slow for name in peer_names) and len(prefix) < len(frame):
        chosen.append(
            Contender("logos (prefix)", len(prefix), lambda: logos_sanity(run_logos(prefix)), lambda: run_logos(warm))
        )
    for name in peer_names:
        peer = PEERS[name]
        if not installed(peer.module):
            continue
        bars = prefix if peer.slow else frame
        data, warm_data = peer.prepare(bars), peer.prepare(warm)
        chosen.append(Contender(peer.label, len(bars), partial(peer.run, data), partial(peer.run, warm_data)))
    return chosen


def run(bars: int, peer_names: list[str], slow_peer_bars: int, repeat: int, cli_runs: int, phases: bool = False) -> int:
    frame = make_bars(bars)
    prefix = frame.iloc[: min(bars, slow_peer_bars)]
    chosen = contenders(frame, prefix, peer_names)
    timings = time_in_turns(chosen, repeat)
    missing = [PEERS[name].label for name in peer_names if not installed(PEERS[name].module)]

    print(
        f"sma_cross {FAST}/{SLOW}, long-only, all equity, {FEE_BPS} bp per fill, next-open fills, cash {CASH:,}; "
        f"{bars:,} synthetic 1-minute bars (seed {SEED}); best of {repeat}, engines in turns"
    )
    print(f"warm-up: every engine ran once untimed on {WARMUP_BARS:,} bars (vectorbt compiles with numba then)")
    if len(prefix) < bars and any(PEERS[name].slow for name in peer_names):
        print(
            f"backtesting.py and backtrader ran on the first {len(prefix):,} bars only, against logos on the same bars"
        )
    logos_on = {timing.bars: timing for timing in timings.values() if timing.engine.startswith("logos")}
    peers = [timing for timing in timings.values() if not timing.engine.startswith("logos")]
    rows = [row(timing, None) for timing in logos_on.values()]
    rows += [row(timing, logos_on[timing.bars]) for timing in peers]
    rows += [f"{label:<24}{'':>11}   not installed" for label in missing]
    print_table(rows)
    failures = check_round_trips(peers, logos_on)
    by_label = {timing.engine: timing for timing in peers}
    vectorbt, backtesting = by_label.get("vectorbt"), by_label.get("backtesting.py")
    print(
        f"goal: logos >= {GOAL_VECTORBT_MULTIPLE}x vectorbt: "
        f"{verdict(logos_on.get(bars), vectorbt, GOAL_VECTORBT_MULTIPLE)}; "
        f"logos >= {GOAL_BACKTESTING_MULTIPLE}x backtesting.py: "
        f"{verdict(logos_on.get(len(prefix)), backtesting, GOAL_BACKTESTING_MULTIPLE)}"
    )
    if phases:
        print_phases(frame, repeat)
    if cli_runs:
        failures += time_cli(frame, cli_runs)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000, help="synthetic minute bars (default 1,000,000)")
    parser.add_argument("--peers", type=parse_peers, default=list(PEERS), help="comma-separated: " + ",".join(PEERS))
    parser.add_argument("--slow-peer-bars", type=int, default=100_000, help="bars for backtesting.py and backtrader")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of runs; each engine's best time counts")
    parser.add_argument("--cli-runs", type=int, default=2, help="logos backtest subprocess runs (0: none)")
    parser.add_argument("--phases", action="store_true", help="print where a logos run spends its time")
    args = parser.parse_args()
    if args.bars < WARMUP_BARS or args.slow_peer_bars < 2 or args.repeat < 1 or args.cli_runs < 0:
        parser.error(
            f"--bars must be at least {WARMUP_BARS:,}, --slow-peer-bars at least 2, --repeat at least 1, "
            "--cli-runs at least 0"
        )
    os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar, read when tqdm is imported
    sys.exit(run(args.bars, args.peers, args.slow_peer_bars, args.repeat, args.cli_runs, args.phases))


if __name__ == "__main__":
    main()
