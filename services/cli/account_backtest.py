"""``logos backtest`` on several symbols, or through the risk gate: one account, the stack's cores, its order."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from services.cli.backtest_summary import print_summary
from services.cli.options import fail

if TYPE_CHECKING:
    import pandas as pd

    from logos.backtest.account import AccountResult
    from logos.backtest.engine import BacktestConfig
    from logos.risk.limits import RiskLimits
    from logos.strategies import Strategy
    from logos.symbols import SymbolSpec

log = logging.getLogger("logos.backtest")
PROGRESS_FROM_BARS = 20_000


def account_backtest(
    frames: dict[str, pd.DataFrame],
    specs: dict[str, SymbolSpec],
    strategy: Strategy,  # type: ignore[type-arg]
    config: BacktestConfig,
    limits: RiskLimits | None,
    data_source: str,
    run_dir: Path,
) -> None:
    """Run the shared-account backtest, write its run directory and print the account's and each symbol's figures."""
    from logos.backtest.account_artifacts import write_account_backtest
    from logos.backtest.artifacts import RunExists
    from logos.backtest.metrics import unannualized
    from logos.data.quality import data_report
    from services.cli.backtest import flush_run_log, run_log

    reports = {symbol: data_report(frame) for symbol, frame in frames.items()}
    bars = sum(len(frame) for frame in frames.values())
    with run_log() as log_file:
        try:
            log.info("backtest %s %s on %s sharing one account (%d bars from %s)%s", config.strategy, config.params,
                     ", ".join(frames), bars, data_source, "; risk limits " + limits.model_dump_json(exclude_none=True)
                     if limits is not None else "")  # fmt: skip
            for symbol, report in reports.items():
                for line in report.lines():
                    log.info("%s: %s", symbol, line)
            started = time.perf_counter()
            result = _run(frames, specs, strategy, config, limits, bars)
            simulated = time.perf_counter() - started
            log.info("simulated %d bars in %.3fs: %d fills, %d round trips, %d denied by risk", bars, simulated,
                     len(result.executions), len(result.round_trips), len(result.denials))  # fmt: skip
            if result.refusals:
                log.info("refusals (translator and cash): %s", json.dumps(result.refusals, sort_keys=True))
            for event in result.risk_events:
                log.warning("trading state %s (%s): %s", event.trading_state.value, event.cause, event.detail)
            data = {symbol: report.as_dict() for symbol, report in reports.items()}
            writing = time.perf_counter()
            flush_run_log()
            written = write_account_backtest(result, config, specs, data_source, run_dir, log_file, data)
            wrote = time.perf_counter() - writing
        except RunExists as exc:
            raise fail(str(exc)) from None
    for symbol, report in reports.items():
        for line in report.lines():
            typer.echo(f"{symbol}: {line}")
    heading = f"{config.strategy} on {', '.join(result.symbols)}: {bars:,} bars, one account"
    print_summary(result.metrics.as_dict(), unannualized(result.metrics.span_days), heading, written,
                  {"simulation": simulated, "artifacts": wrote})  # fmt: skip
    print_breakdown(result)


def print_breakdown(result: AccountResult) -> None:
    """Each symbol's share of the account, then what risk denied, by rule."""
    if len(result.symbols) > 1:
        typer.echo(f"  {'symbol':<12} {'fills':>6} {'trips':>6} {'net pnl':>14} {'fees':>12} {'exposure':>9}")
        for row in result.breakdown:
            net = row.realized_pnl + row.unrealized_pnl
            typer.echo(f"  {row.symbol:<12} {row.fills:>6} {row.round_trips + row.open_trips:>6} "
                       f"{float(net):>14,.2f} {float(row.fees):>12,.2f} {row.exposure * 100:>8.1f}%")  # fmt: skip
    if result.limits is None:
        return
    denied = result.denials_by_reason()
    intents = len(result.denials) + result.orders
    if not denied:
        typer.echo(f"risk: no intent denied ({result.orders:,} orders approved)")
    for reason, count in denied.items():
        first = next(denial for denial in result.denials if denial.reason.value == reason)
        typer.echo(f"risk: denied by {reason}: {count:,} of {intents:,} decisions (first: {first.detail})")
    for event in result.risk_events:
        typer.echo(f"risk: {event.ts.isoformat()} trading state {event.trading_state.value} ({event.cause}): "
                   f"{event.detail}")  # fmt: skip


def _run(
    frames: dict[str, pd.DataFrame],
    specs: dict[str, SymbolSpec],
    strategy: Strategy,  # type: ignore[type-arg]
    config: BacktestConfig,
    limits: RiskLimits | None,
    bars: int,
) -> AccountResult:
    from logos.backtest.account import run_account_backtest
    from services.cli.backtest import with_progress

    try:
        return with_progress(
            bars,
            lambda report: run_account_backtest(frames, specs, strategy, config, limits, report),
            PROGRESS_FROM_BARS,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
