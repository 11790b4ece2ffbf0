"""``logos trade``: a paper session in one process — feed replay, ml, risk and executor on an in-memory bus."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from pydantic import ValidationError

from logos.auth import ensure_in_process_keys
from logos.bus import Bus
from logos.error_text import one_line
from logos.execution.fill_model import FillTiming
from logos.orders.sizing import SizingError, parse_sizing
from logos.settings import LogosSettings
from services.cli.brokers import BrokerChoice
from services.cli.live_trade import trade_live
from services.cli.options import (
    CashOption,
    FeeOption,
    FillOption,
    ParamOption,
    SizingOption,
    SlippageOption,
    fail,
)
from services.cli.session_report import SessionRun, describe_session, finished, print_summary
from services.cli.session_settings import session_settings
from services.executor.config import ExecutorSettings
from services.feed.config import LIVE_PROVIDERS
from services.ml.config import MLSettings
from services.risk.config import RiskSettings
from services.runtime.errors import StartupRefused

if TYPE_CHECKING:  # pandas, the strategies and the workers load when a session runs, not for `logos --help`
    import pandas as pd

    from services.runtime.worker import ServiceWorker

SESSION_SIZING: str = MLSettings.model_fields["sizing"].default  # the stack's default: one session, one sizing
SETTLE_SECONDS = 60.0  # the longest the replay waits for the executor to move


async def run_session(
    frames: dict[str, pd.DataFrame],
    logos: LogosSettings,
    ml: MLSettings,
    risk: RiskSettings,
    executor: ExecutorSettings,
) -> SessionRun:
    """Replay ``frames`` through ml, risk and executor; return the session's directory, bars and summary.

    A venue whose trading rules cannot be read refuses here (StartupRefused), before the first bar.
    """
    from services.executor.worker import ExecutorWorker
    from services.feed.replay import CreditWindow, replay_bars
    from services.ml.worker import MLWorker
    from services.risk.worker import RiskWorker

    ensure_in_process_keys(risk.logos.secrets, executor.logos.secrets)  # risk signs orders, the executor checks
    bus = Bus.memory(logos.streams)
    executor_worker = ExecutorWorker(executor, bus, symbols=sorted(frames))
    describe_session(executor_worker, ml, risk)
    workers: list[ServiceWorker] = [MLWorker(ml, bus), RiskWorker(risk, bus), executor_worker]
    for worker in workers:
        await worker.start()
    for _ in range(2000):  # every group exists before the first bar (at most 10 s)
        if all(worker.connected() for worker in workers):
            break
        await asyncio.sleep(0.005)
    consumed = sorted({stream for w in workers for s in w.subscriptions() for stream in s.streams})
    window = CreditWindow(bus, logos.replay_window)
    await window.start()
    bars = 0
    try:
        for seq, bar in enumerate(replay_bars(frames, logos.symbol_specs()), start=1):
            # the replay runs ahead of the executor by the window at most; each service handles its inputs in
            # the canonical order whatever arrives first (services/runtime/causal.py)
            if not await window.admit(seq, SETTLE_SECONDS):
                raise RuntimeError(f"the executor did not move within {SETTLE_SECONDS} s before {bar.symbol} {bar.ts}")
            # numbered as the feed numbers them: every intent, decision, fill and account says which bar it came from
            await bus.publish(logos.streams.bars_for(bar.symbol), bar.model_copy(update={"seq": seq}))
            bars += 1
        # the last bar's fills, and then whatever its decisions still cause, before the session's files are written
        if not await window.reached(bars, SETTLE_SECONDS) or not await bus.wait_until_quiet(consumed, SETTLE_SECONDS):
            raise RuntimeError(f"the pipeline did not settle within {SETTLE_SECONDS} s after the last bar")
    finally:
        await window.close()
        # all at once: each waits up to a read's block for its consumers to notice (the pipeline is quiet by now)
        await asyncio.gather(*(worker.stop() for worker in workers))
    return finished(executor_worker, bars)


def trade(
    strategy: Annotated[str, typer.Option(help="Strategy that trades (see `logos strategies list`).")],
    paper: Annotated[
        bool, typer.Option("--paper/--live", help="Paper trading (live arrives with the brokers).")
    ] = True,
    feed: Annotated[
        str, typer.Option(help="Where bars come from: replay, or live yfinance or ccxt polling.")
    ] = "replay",
    fixture: Annotated[str | None, typer.Option(help="A bundled data set to replay.")] = None,
    data: Annotated[Path | None, typer.Option(help="A CSV or Parquet file to replay.")] = None,
    symbols: Annotated[
        list[str] | None, typer.Option("--symbol", "--symbols", help="Symbols to trade (default: all; live: required).")
    ] = None,
    param: ParamOption = None,
    cash: CashOption = "100000",
    fee_bps: FeeOption = "10",
    slippage_bps: SlippageOption = "0",
    fill: FillOption = FillTiming.NEXT_OPEN,
    sizing: SizingOption = SESSION_SIZING,
    session_id: Annotated[str | None, typer.Option(help="Session directory name (default: the time).")] = None,
    broker: Annotated[
        Literal["paper", "ccxt", "alpaca", "ib"],
        typer.Option(help="paper, or a venue (ccxt, alpaca) with --dry-run; ib: not supported yet."),
    ] = "paper",
    exchange: Annotated[str | None, typer.Option(help="The ccxt exchange id (e.g. binance).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build each venue request and record it as dry_run; send nothing.")
    ] = False,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="The exchange's testnet (ccxt).")] = False,
    venue_symbol: Annotated[
        list[str] | None, typer.Option(help="Our symbol to the venue's, OURS=VENUE (e.g. BTC-USD=BTC/USDT).")
    ] = None,
    i_acknowledge_risk: Annotated[
        bool, typer.Option("--i-acknowledge-risk", help="Required with --live: real orders, real money.")
    ] = False,
) -> None:
    """Run a paper session in one process and write its artifacts under runs/live/sessions/."""
    from logos.data.fixtures import fixture_path
    from logos.data.loading import BarDataError, load_bars
    from logos.strategies import StrategyError, get_strategy

    choice = BrokerChoice(broker, exchange, dry_run, sandbox, venue_symbol or [], not paper, i_acknowledge_risk)
    venue_settings = choice.apply(ExecutorSettings())
    if venue_settings.live or venue_settings.broker != "paper":
        choice.refuse_unsafe(venue_settings)  # the validator's lines, and no live order routing yet
    if feed in LIVE_PROVIDERS:
        if data is not None or fixture is not None:
            raise fail(f"--feed {feed} polls live bars; --data and --fixture belong to --feed replay")
        trade_live(
            feed, strategy, symbols or [], param or [], cash, fee_bps, slippage_bps, fill, sizing, session_id, choice
        )
        return
    if feed != "replay":
        raise fail(f"unknown feed {feed!r}; use --feed replay, yfinance or ccxt")
    if (data is None) == (fixture is None):
        raise fail("give exactly one of --data PATH or --fixture NAME")
    try:
        chosen = get_strategy(strategy)
        params = chosen.parse_params(param or [])
        parse_sizing(sizing)
        source = fixture_path(fixture) if fixture else data
        assert source is not None
        frames = load_bars(source)
        if symbols:
            missing = sorted(set(symbols) - set(frames))
            if missing:
                raise fail(f"{source} has no {', '.join(missing)} (it holds {', '.join(frames)})")
            frames = {symbol: frames[symbol] for symbol in symbols}
        logos = LogosSettings()
        executor_settings, ml_settings, risk_settings = session_settings(
            logos,
            strategy,
            params.model_dump(mode="json"),
            sizing,
            cash,
            fee_bps,
            slippage_bps,
            fill,
            session_id,
            choice,
            clock="data",
        )
    except (StrategyError, SizingError, BarDataError, KeyError, FileNotFoundError) as exc:
        raise fail(str(exc).strip("'\"")) from None
    except ValidationError as exc:
        raise fail(one_line(exc)) from None
    started = time.perf_counter()
    try:
        run = asyncio.run(run_session(frames, logos, ml_settings, risk_settings, executor_settings))
    except StartupRefused as exc:
        raise fail(str(exc)) from None
    elapsed = time.perf_counter() - started
    typer.echo(f"paper session {executor_settings.session_id}: {run.bars:,} bars replayed in {elapsed:.2f}s")
    print_summary(run.summary)
    typer.echo(f"artifacts: {run.directory}")


def replay_check(
    fixture: Annotated[str, typer.Option(help="The bundled data set to replay.")] = "sma_demo_1m",
    strategy: Annotated[str, typer.Option(help="Strategy to trade.")] = "sma_cross",
    param: ParamOption = None,
    sizing: SizingOption = SESSION_SIZING,
) -> None:
    """Replay a fixture as a paper session and check its trades equal the backtest's; exit 0 only then."""
    from logos.data.fixtures import fixture_path
    from logos.data.loading import BarDataError, load_bars
    from logos.strategies import StrategyError, get_strategy
    from services.cli.replay_compare import SESSION_FILES, compare_trades, expected_fills

    try:
        params = get_strategy(strategy).parse_params(param or [])
        frames = load_bars(fixture_path(fixture))
    except (StrategyError, KeyError, BarDataError) as exc:
        raise fail(str(exc).strip("'\"")) from None
    logos = LogosSettings()
    session_id = f"replay-check-{time.strftime('%Y%m%d_%H%M%S')}"
    executor_settings = ExecutorSettings(logos=logos, session_id=session_id)
    ml_settings = MLSettings(logos=logos, strategy=strategy, params=params.model_dump(mode="json"), sizing=sizing)
    risk_settings = RiskSettings(
        logos=logos, clock="data", state_file=logos.paths.live_session(session_id) / "risk_state.json"
    )
    directory, bars, _ = asyncio.run(run_session(frames, logos, ml_settings, risk_settings, executor_settings))
    missing = [name for name in SESSION_FILES if not (directory / name).exists()]
    if missing:
        typer.echo(f"replay check FAILED: {directory} lacks {', '.join(missing)}", err=True)
        raise typer.Exit(1)
    session_trades = (directory / "trades.csv").read_text()
    expected = expected_fills(frames, ml_settings, executor_settings, risk_settings.limits)
    problem = compare_trades(session_trades, expected)
    if problem is not None:
        typer.echo(f"replay check FAILED: {directory}: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"replay check passed: {bars:,} bars, {session_trades.count(chr(10)) - 1} fills equal the backtest's")
    typer.echo(f"artifacts: {directory}")
