"""``logos backtest`` and ``logos strategies``: research from the command line."""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import ValidationError

from logos.error_text import one_line
from logos.execution.fill_model import FillTiming
from logos.names import UnsafeName, child
from logos.symbols import SymbolSpec
from services.cli.backtest_summary import print_summary
from services.cli.options import (
    CashOption,
    FeeOption,
    FillOption,
    ParamOption,
    SizingOption,
    SlippageOption,
    fail,
    parse_decimal,
)
from services.cli.process_memory import return_freed_memory

if TYPE_CHECKING:  # pandas, numpy and the engine load when a command runs, not for `logos --help`
    from logos.risk.limits import RiskLimits

log = logging.getLogger("logos.backtest")
MIN_BARS = 2  # run_backtest decides on one bar and fills on the next
strategies_app = typer.Typer(help="The strategy registry.", no_args_is_help=True)
PROGRESS_FROM_BARS = 200_000
T = TypeVar("T")


def _optional_decimal(name: str, value: str | None) -> Decimal | None:
    return None if value is None else parse_decimal(name, value)


def _spec(
    symbol: str, catalog: dict[str, SymbolSpec], tick_size: Decimal | None, lot_size: Decimal | None
) -> SymbolSpec:
    base = catalog.get(symbol) or SymbolSpec(symbol=symbol)
    updates = {key: value for key, value in (("tick_size", tick_size), ("lot_size", lot_size)) if value is not None}
    return SymbolSpec.model_validate(base.model_dump() | updates)


def _run_id(strategy: str, symbol: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{stamp}_{strategy}_{symbol}")


def backtest(
    strategy: Annotated[str, typer.Option(help="Strategy name (see `logos strategies list`).")],
    data: Annotated[Path | None, typer.Option(help="CSV or Parquet bars.")] = None,
    fixture: Annotated[str | None, typer.Option(help="A bundled data set instead of --data.")] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            "--symbol",
            "--symbols",
            help="Symbols to trade (repeatable or comma-separated; default: every symbol of the data). Several "
            "share one cash account.",
        ),
    ] = None,
    param: ParamOption = None,
    cash: CashOption = "100000",
    fee_bps: FeeOption = "10",
    slippage_bps: SlippageOption = "0",
    fill: FillOption = FillTiming.NEXT_OPEN,
    sizing: SizingOption = "equity:1.0",
    lot_size: Annotated[str | None, typer.Option(help="Quantity step (default: catalog, else 1).")] = None,
    tick_size: Annotated[str | None, typer.Option(help="Price step (default: catalog, else 0.01).")] = None,
    participation_cap: Annotated[str | None, typer.Option(help="Most of a bar's volume one order takes.")] = None,
    max_order_notional: Annotated[str | None, typer.Option(help="Cap on one order's notional.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fill model's random parts.")] = 0,
    risk: Annotated[
        bool,
        typer.Option(
            "--risk/--no-risk",
            help="Run every decision through the risk service's engine with the stack's limits (RISK_LIMITS__*).",
        ),
    ] = False,
    risk_limit: Annotated[
        list[str] | None,
        typer.Option(
            help="One risk limit NAME=VALUE over the stack's (repeatable; off switches it off); implies --risk."
        ),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Name of the run directory (default: time_strategy_symbol).")
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where runs go (default: LOGOS_HOME/runs).")] = None,
) -> None:
    """Backtest one strategy on one symbol, or on several sharing one account, and write the run's artifacts."""
    return_freed_memory()
    from logos.backtest.artifacts import RunExists, write_backtest
    from logos.backtest.engine import BacktestConfig
    from logos.backtest.metrics import unannualized
    from logos.data.fixtures import fixture_path
    from logos.data.loading import BarDataError, load_bars
    from logos.data.quality import data_report
    from logos.execution.fill_model import FillModelConfig
    from logos.orders.sizing import SizingError, parse_sizing
    from logos.orders.translator import Caps
    from logos.settings import LogosSettings
    from logos.strategies import StrategyError, get_strategy

    if (data is None) == (fixture is None):
        raise fail("give exactly one of --data PATH or --fixture NAME")
    try:
        selected = get_strategy(strategy)
        params = selected.parse_params(param or [])
        source = fixture_path(fixture) if fixture else data
        assert source is not None
        wanted = [name.strip() for item in symbol or [] for name in item.split(",") if name.strip()]
        frames = load_bars(source, wanted[0] if len(wanted) == 1 else None, min_bars=MIN_BARS)
        # the stack's symbol catalog (LOGOS_CATALOG, else the bundled one): a backtest sizes and fills as paper does
        catalog = dict(LogosSettings().symbol_specs())
        missing = [name for name in wanted if name not in frames]
        if missing:
            raise fail(f"{source} holds no {', '.join(missing)} (it holds {', '.join(frames)})")
        if wanted:
            frames = {name: frames[name] for name in sorted(set(wanted))}
        specs = {
            name: _spec(
                name, catalog, _optional_decimal("--tick-size", tick_size), _optional_decimal("--lot-size", lot_size)
            )
            for name in frames
        }
        limits = _risk_limits(risk_limit or []) if risk or risk_limit else None
        fee = parse_decimal("--fee-bps", fee_bps)
        config = BacktestConfig(
            strategy=strategy,
            params=params.model_dump(mode="json"),
            cash=parse_decimal("--cash", cash),
            fills=FillModelConfig(
                timing=fill,
                slippage_bps=parse_decimal("--slippage-bps", slippage_bps),
                taker_fee_bps=fee,
                maker_fee_bps=fee,
                participation_cap=_optional_decimal("--participation-cap", participation_cap),
                seed=seed,
            ),
            sizing=parse_sizing(sizing),
            caps=Caps(max_order_notional=_optional_decimal("--max-order-notional", max_order_notional)),
        )
    except BarDataError as exc:
        raise fail(f"{exc} for a backtest" if exc.rule == "too_short" else str(exc)) from None
    except (StrategyError, SizingError, KeyError, FileNotFoundError) as exc:
        raise fail(str(exc).strip("'\"")) from None
    except ValidationError as exc:
        raise fail(one_line(exc)) from None
    if limits is not None or len(frames) > 1:
        from services.cli.account_backtest import account_backtest

        account_backtest(frames, specs, selected, config, limits, f"fixture:{fixture}" if fixture else str(source),
                         run_directory(runs_dir, run_id, _run_id(strategy, f"{len(frames)}symbols")))  # fmt: skip
        return
    name, frame = next(iter(frames.items()))
    spec = specs[name]
    report = data_report(frame)

    run_dir = run_directory(runs_dir, run_id, _run_id(strategy, name))
    with run_log() as log_file:
        try:
            log.info("backtest %s %s on %s (%d bars from %s)", strategy, config.params, name, len(frame), source)
            for line in report.lines():
                log.info("%s", line)
            started = time.perf_counter()
            from logos.backtest.engine import run_backtest

            result = with_progress(len(frame), lambda report: run_backtest(frame, spec, selected, config, report))
            simulated = time.perf_counter() - started
            log.info("simulated %d bars in %.3fs: %d fills, %d round trips", len(frame), simulated,
                     len(result.executions), len(result.round_trips))  # fmt: skip
            if result.refusals:
                log.info("refusals (translator and cash): %s", json.dumps(result.refusals, sort_keys=True))
            data_source = f"fixture:{fixture}" if fixture else str(source)
            writing = time.perf_counter()
            flush_run_log()
            written = write_backtest(result, config, spec, data_source, run_dir, log_file, report.as_dict())
            wrote = time.perf_counter() - writing
        except RunExists as exc:
            raise fail(str(exc)) from None
    for line in report.lines():
        typer.echo(line)
    print_summary(
        result.metrics.as_dict(),
        unannualized(result.metrics.span_days),
        f"{strategy} on {name}: {len(frame):,} bars",
        written,
        {"simulation": simulated, "artifacts": wrote},
    )


def run_directory(runs_dir: Path | None, run_id: str | None, default: str) -> Path:
    """The run's directory under the runs root: a safe name that does not exist yet, or one line and exit 2."""
    from logos.settings import LogosSettings

    runs = runs_dir or LogosSettings().paths.runs
    try:
        run_dir = child(runs, "--run-id", run_id or default)
    except UnsafeName as exc:
        raise fail(str(exc)) from None
    if run_dir.exists():
        raise fail(f"{run_dir} exists already; choose another --run-id")
    return run_dir


@contextlib.contextmanager
def run_log() -> Iterator[Path]:
    """Send the logos loggers to a scratch run.log while the block runs; the run copies it into logs/."""
    with tempfile.TemporaryDirectory() as scratch:
        log_file = Path(scratch) / "run.log"
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        logger = logging.getLogger("logos")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield log_file
        finally:
            logger.removeHandler(handler)
            handler.close()


def flush_run_log() -> None:
    """Write out what the run logged so far (before the run directory copies the file)."""
    for handler in logging.getLogger("logos").handlers:
        handler.flush()


def _risk_limits(items: list[str]) -> RiskLimits:
    """The stack's risk limits (RISK_LIMITS__* over the defaults), with ``--risk-limit NAME=VALUE`` over them."""
    from logos.risk.limits import ConfiguredLimits, RiskLimits, over_defaults

    given: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        name = name.strip().lower().replace("-", "_")
        if not equals or not name or not value.strip():
            raise fail(f"--risk-limit takes NAME=VALUE (e.g. max_gross_exposure=50000), got {item!r}")
        if name not in RiskLimits.model_fields:
            close = difflib.get_close_matches(name, list(RiskLimits.model_fields), n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; limits: {', '.join(RiskLimits.model_fields)}"
            raise fail(f"--risk-limit: no risk limit named {name!r}{hint}")
        given[name] = value.strip()
    stack = ConfiguredLimits().limits
    if not given:
        return stack
    return RiskLimits.model_validate(over_defaults(stack.model_dump() | given))


def with_progress(
    total: int, run: Callable[[Callable[[int], None] | None], T], threshold: int = PROGRESS_FROM_BARS
) -> T:
    """Return ``run(report)``, with a progress bar over ``total`` bars when there are enough to wait for."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if total < threshold:
        return run(None)
    with Progress(
        TextColumn("[bold]backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
        transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("bars", total=total)
        return run(lambda done: progress.update(task, completed=done))


@strategies_app.command("list")
def list_strategies() -> None:
    """List every strategy with its one-line summary."""
    from logos.strategies import STRATEGIES

    for name, strategy in sorted(STRATEGIES.items()):
        typer.echo(f"{name:<18} {strategy.summary}")


@strategies_app.command("show")
def show_strategy(name: Annotated[str, typer.Argument(help="Strategy name.")]) -> None:
    """Explain a strategy and print its parameters (type, default, bounds) and an example command."""
    from logos.strategies import StrategyError, get_strategy

    try:
        strategy = get_strategy(name)
    except StrategyError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{name}\n\n{strategy.description}\n\nparameters:")
    schema = strategy.params_model.model_json_schema()
    for field, spec in schema.get("properties", {}).items():
        bounds = ", ".join(
            f"{key} {spec[key]}"
            for key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
            if key in spec
        )
        typer.echo(f"  {field:<12} {spec.get('type', ''):<8} default {spec.get('default')!s:<8} {bounds}")
        typer.echo(f"  {'':<12} {spec.get('description', '')}")
    if not schema.get("properties"):
        typer.echo("  (none)")
    example = " ".join(f"--param {field}={spec.get('default')}" for field, spec in schema.get("properties", {}).items())
    typer.echo(
        f"\nexample:\n  logos backtest --fixture crypto_1m --symbol BTC-USD --strategy {name} {example}".rstrip()
    )
