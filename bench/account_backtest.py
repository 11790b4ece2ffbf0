"""The shared-account backtest: several symbols against one cash account, with and without the risk gate.

    python bench/account_backtest.py [--symbols 10] [--days 21] [--repeat 3] [--no-vectorbt]

The bars are the pipeline benchmark's month of 10 random-walk equities (390 minute bars a session,
81,900 bars by default), generated before any clock starts. Every engine trades sma_cross 10/30
long-only on every symbol, 10,000 of notional per entry, decided at a bar's close and filled at the
next bar's open, 1 bp per fill, from one account of 1,000,000:

  logos account       run_account_backtest without limits: every bar through the paper broker in
                      canonical order (time, then symbol), intents sized from the account.
  logos + risk gate   the same through the risk engine with the stack's default limits raised out of
                      the way and the stale-data breaker off (an equity's overnight gap trips it at each
                      open), so both runs make the same trades; it reads the account after every bar as
                      the risk service does.
  vectorbt            Portfolio.from_signals on all columns with cash_sharing=True and group_by=True
                      (one account), size 10,000 in value at the open, total_return() and stats().

Equal work: the round trips of vectorbt must agree with logos's within 1 %, or it fails before any
speed is compared. These are measurements, not tests: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

import numpy as np
import pandas as pd
from pipeline_latency import month_of_bars

from logos.backtest.account import AccountResult, run_account_backtest
from logos.backtest.engine import BacktestConfig
from logos.execution.fill_model import FillModelConfig
from logos.orders.sizing import FixedNotional
from logos.risk.limits import DEFAULT_LIMITS
from logos.strategies import get_strategy
from logos.strategies.windows import RELATIVE_TIE
from logos.symbols import SpecCatalog, SymbolSpec

FAST, SLOW = 10, 30
NOTIONAL = 10_000
CASH = 1_000_000
FEE_BPS = 1
TOLERANCE = 0.01


def frames_of(long: pd.DataFrame) -> dict[str, pd.DataFrame]:
    frames = {}
    for symbol, rows in long.groupby("symbol"):
        frame = rows.drop(columns="symbol").set_index("timestamp")
        frame.index.name = "timestamp"
        frames[str(symbol)] = frame
    return frames


def config() -> BacktestConfig:
    fills = FillModelConfig(taker_fee_bps=Decimal(FEE_BPS), maker_fee_bps=Decimal(FEE_BPS))
    return BacktestConfig(strategy="sma_cross", params={"fast": FAST, "slow": SLOW}, cash=Decimal(CASH), fills=fills,
                          sizing=FixedNotional(notional=Decimal(NOTIONAL)))  # fmt: skip


def wide_limits() -> object:
    # the stack's defaults, with every notional limit far away: the gate runs every check and breaker, denies nothing
    far = Decimal(10**12)
    return DEFAULT_LIMITS.model_copy(update={"max_order_notional": far, "max_position_notional": far,
                                             "max_gross_exposure": far, "max_net_exposure": far,
                                             "max_orders_per_minute": 10_000,
                                             # overnight gaps would trip the stale-data breaker at each open
                                             "stale_after_seconds": None})  # fmt: skip


def run_logos(frames: dict[str, pd.DataFrame], specs: SpecCatalog, limits: object) -> AccountResult:
    return run_account_backtest(frames, specs, get_strategy("sma_cross"), config(), limits)  # type: ignore[arg-type]


def run_vectorbt(frames: dict[str, pd.DataFrame]) -> int:
    import vectorbt as vbt

    close = pd.DataFrame({symbol: frame["close"] for symbol, frame in frames.items()})
    opened = pd.DataFrame({symbol: frame["open"] for symbol, frame in frames.items()})
    close.index = opened.index = pd.DatetimeIndex(close.index).tz_localize(None)
    fast, slow = close.rolling(FAST).mean(), close.rolling(SLOW).mean()
    above = (fast - slow) > RELATIVE_TIE * slow.abs()
    was_above = above.shift(1, fill_value=False)
    entries = (above & ~was_above).shift(1, fill_value=False)
    exits = (~above & was_above).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(close, entries, exits, price=opened, size=NOTIONAL, size_type="value",
                                           fees=FEE_BPS / 10_000, init_cash=CASH, cash_sharing=True,
                                           group_by=True, direction="longonly", freq="1min")  # fmt: skip
    portfolio.total_return()
    portfolio.stats()
    return int(portfolio.trades.count())


def best(run: object, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-vectorbt", action="store_true")
    arguments = parser.parse_args()
    frames = frames_of(month_of_bars(arguments.symbols, arguments.days))
    specs = SpecCatalog({symbol: SymbolSpec(symbol=symbol) for symbol in frames})
    bars = sum(len(frame) for frame in frames.values())
    small = {symbol: frame.iloc[:200] for symbol, frame in frames.items()}
    run_logos(small, specs, None)  # warm-up: imports, caches
    rows = []
    plain_seconds, plain = best(lambda: run_logos(frames, specs, None), arguments.repeat)
    gated_seconds, gated = best(lambda: run_logos(frames, specs, wide_limits()), arguments.repeat)
    assert isinstance(plain, AccountResult)
    assert isinstance(gated, AccountResult)
    trips = len(plain.round_trips) + len(plain.open_trips)
    rows.append(("logos account", plain_seconds, trips))
    rows.append(("logos + risk gate", gated_seconds, len(gated.round_trips) + len(gated.open_trips)))
    if gated.executions != plain.executions:
        raise SystemExit("the risk gate changed the trades: its limits were meant to stay out of the way")
    if not arguments.no_vectorbt:
        run_vectorbt(small)  # numba compiles here
        vector_seconds, vector_trips = best(lambda: run_vectorbt(frames), arguments.repeat)
        rows.append(("vectorbt (cash sharing)", vector_seconds, int(vector_trips)))  # type: ignore[call-overload]
        apart = abs(int(vector_trips) - trips) / trips  # type: ignore[call-overload]
        print(f"equal work: vectorbt made {vector_trips:,} round trips, logos {trips:,}: {apart:.2%} apart "
              f"(at most {TOLERANCE:.0%}): {'ok' if apart <= TOLERANCE else 'FAILED'}")  # fmt: skip
        if apart > TOLERANCE:
            raise SystemExit(1)
    print(f"sma_cross {FAST}/{SLOW} on {len(frames)} symbols sharing one account of {CASH:,}: {bars:,} bars; "
          f"best of {arguments.repeat}")  # fmt: skip
    print(f"{'engine':<26} {'seconds':>8} {'bars/s':>12} {'round trips':>12}")
    for name, seconds, count in rows:
        print(f"{name:<26} {seconds:>8.3f} {bars / seconds:>12,.0f} {count:>12,}")
    print(f"fills {len(plain.executions):,}; the risk gate costs {gated_seconds / plain_seconds:.1f}x the plain run")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
