"""``logos trade --feed yfinance|ccxt``: a paper session on live bars in one process, until Ctrl-C.

The feed polls its provider as the feed service does; ml, risk and executor are the workers a
replayed session runs, on an in-memory bus. Risk keeps time by the wall clock, since live bars
arrive in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from logos.auth import ensure_in_process_keys
from logos.bus import Bus
from logos.error_text import one_line
from logos.execution.fill_model import FillTiming
from logos.orders.sizing import SizingError, parse_sizing
from logos.settings import LogosSettings
from services.cli.brokers import BrokerChoice
from services.cli.options import fail
from services.cli.session_report import SessionRun, describe_session, finished, print_summary
from services.cli.session_settings import session_settings
from services.executor.config import ExecutorSettings
from services.feed.config import FeedSettings
from services.ml.config import MLSettings
from services.risk.config import RiskSettings
from services.runtime.errors import StartupRefused
from services.runtime.logging_setup import configure_logging

if TYPE_CHECKING:  # the strategies and the workers load when a session runs, not for `logos --help`
    from services.feed.worker import FeedWorker
    from services.runtime.worker import ServiceWorker

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_live_session(
    feed: FeedSettings,
    ml: MLSettings,
    risk: RiskSettings,
    executor: ExecutorSettings,
    stop: asyncio.Event | None = None,
    feed_worker: type[FeedWorker] | None = None,
) -> SessionRun:
    """Trade live bars until ``stop`` is set (Ctrl-C or SIGTERM set it); return its directory, bars and summary.

    A venue whose trading rules cannot be read refuses here (StartupRefused), before the feed polls.
    """
    from services.executor.worker import ExecutorWorker
    from services.feed.worker import FeedWorker
    from services.ml.worker import MLWorker
    from services.risk.worker import RiskWorker

    feed_worker = feed_worker or FeedWorker

    stop = stop or asyncio.Event()
    ensure_in_process_keys(risk.logos.secrets, executor.logos.secrets)  # risk signs orders, the executor checks
    bus = Bus.memory(feed.logos.streams)
    executor_worker = ExecutorWorker(executor, bus, symbols=feed.symbols)
    describe_session(executor_worker, ml, risk)
    workers: list[ServiceWorker] = [MLWorker(ml, bus), RiskWorker(risk, bus), executor_worker]
    source = feed_worker(feed, bus)
    loop = asyncio.get_running_loop()
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    handled = []
    for number in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # e.g. not the main thread
            loop.add_signal_handler(number, stop.set)
            handled.append(number)
    try:
        for worker in workers:
            await worker.start()
        for _ in range(2000):  # every group exists before the first bar (at most 10 s)
            if all(worker.connected() for worker in workers):
                break
            await asyncio.sleep(0.005)
        await source.start()
        await stop.wait()
    finally:
        for number in handled:
            loop.remove_signal_handler(number)
            if previous[number] is not None:  # e.g. the CLI's SIGTERM-as-Ctrl-C
                signal.signal(number, previous[number])
        # the feed first, so no bar arrives at a stopped worker; the executor writes its files last
        for worker in [source, *reversed(workers)]:
            await worker.stop()
    bars = sum(count for stream, count in source.published.items() if stream in bus.names.all_bars())
    return finished(executor_worker, bars)


def trade_live(
    feed: str,
    strategy: str,
    symbols: list[str],
    params: list[str],
    cash: str,
    fee_bps: str,
    slippage_bps: str,
    fill: FillTiming,
    sizing: str,
    session_id: str | None,
    choice: BrokerChoice | None = None,
) -> None:
    """Check the options, then run a live paper session until Ctrl-C and say where its artifacts are."""
    from logos.strategies import StrategyError, get_strategy

    wanted = [name for item in symbols for name in item.split(",") if name.strip()]
    if not wanted:
        raise fail(f"--feed {feed} needs the symbols to poll: --symbols AAPL,MSFT (or --symbol, repeated)")
    try:
        parsed = get_strategy(strategy).parse_params(params)
        parse_sizing(sizing)
        logos = LogosSettings()
        feed_settings = FeedSettings(logos=logos, provider=feed, symbols=[name.strip() for name in wanted])
        executor_settings, ml_settings, risk_settings = session_settings(
            logos,
            strategy,
            parsed.model_dump(mode="json"),
            sizing,
            cash,
            fee_bps,
            slippage_bps,
            fill,
            session_id,
            choice,
            clock="wall",
        )
    except (StrategyError, SizingError) as exc:
        raise fail(str(exc).strip("'\"")) from None
    except ValidationError as exc:
        raise fail(one_line(exc)) from None
    configure_logging(logos.log_level)
    typer.echo(
        f"paper session {executor_settings.session_id}: trading {', '.join(feed_settings.symbols)} on live "
        f"{feed} bars (polled every {feed_settings.poll_seconds:g}s); Ctrl-C stops it"
    )
    try:
        run = asyncio.run(run_live_session(feed_settings, ml_settings, risk_settings, executor_settings))
    except StartupRefused as exc:
        raise fail(str(exc)) from None
    typer.echo(f"paper session {executor_settings.session_id}: stopped after {run.bars:,} live bars")
    print_summary(run.summary)
    typer.echo(f"artifacts: {run.directory}")
    if feed_settings.cache:
        typer.echo(f"bars recorded under: {logos.paths.bar_cache} (replay with --feed replay --data <file>)")
