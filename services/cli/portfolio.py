"""``logos portfolio allocate`` and ``logos portfolio backtest``: multi-asset allocation from the command line."""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from logos.error_text import one_line
from logos.execution.fill_model import FillTiming
from logos.names import UnsafeName, child
from logos.portfolio.choices import ALLOCATOR_NAMES, Schedule
from logos.symbols import SymbolSpec
from services.cli.options import FeeOption, FillOption, SlippageOption, fail, parse_decimal

if TYPE_CHECKING:  # numpy, pandas and the allocators load when a portfolio command runs, not for `logos --help`
    import pandas as pd

    from logos.portfolio.allocators import Allocation, Allocator
    from logos.portfolio.constraints import PortfolioConstraints
    from logos.portfolio.walk_forward import PortfolioBacktestConfig, PortfolioResult

log = logging.getLogger("logos.portfolio")
portfolio_app = typer.Typer(help="Multi-asset allocation and portfolio backtests.", no_args_is_help=True)
METHODS = ", ".join(sorted(ALLOCATOR_NAMES))

PricesOption = Annotated[Path | None, typer.Option(help="Wide price file: a date column, one column per asset.")]
FixtureOption = Annotated[str | None, typer.Option(help="A bundled price file instead of --prices (e.g. sp500_daily).")]
MethodOption = Annotated[str, typer.Option(help=f"Allocator: {METHODS}.")]
ParamOption = Annotated[list[str] | None, typer.Option(help="Allocator parameter key=value (repeatable).")]
LookbackOption = Annotated[int, typer.Option(help="Bars of returns the estimate uses.")]
LongShortOption = Annotated[bool, typer.Option("--long-short", help="Allow negative weights (see --min-weight).")]
MinWeightOption = Annotated[float, typer.Option(help="Lower bound of each weight.")]
MaxWeightOption = Annotated[float, typer.Option(help="Upper bound of each weight.")]
MaxPositionOption = Annotated[float | None, typer.Option(help="Cap on |weight| of any asset.")]
MinNetOption = Annotated[float, typer.Option(help="Lowest net exposure (sum of weights).")]
MaxNetOption = Annotated[float, typer.Option(help="Highest net exposure (sum of weights).")]
MaxGrossOption = Annotated[float | None, typer.Option(help="Cap on gross exposure (sum of |weights|).")]
SectorLimitOption = Annotated[
    list[str] | None, typer.Option(help="Sector limit SECTOR=MAX or SECTOR=MIN:MAX (repeatable).")
]
SectorsOption = Annotated[
    Path | None, typer.Option(help="JSON asset -> sector map (default: NAME.sectors.json beside the prices).")
]
MaxTurnoverOption = Annotated[float | None, typer.Option(help="Cap on sum |Δweight| per rebalance.")]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Stop with an error when the optimizer fails instead of using inverse_vol.")
]


def _source(prices: Path | None, fixture: str | None) -> Path:
    from logos.portfolio.prices import price_fixture_path

    if (prices is None) == (fixture is None):
        raise fail("give exactly one of --prices PATH or --fixture NAME")
    if fixture is not None:
        try:
            return price_fixture_path(fixture)
        except KeyError as exc:
            raise fail(str(exc).strip("'\"")) from None
    assert prices is not None
    return prices


def _sector_limits(pairs: list[str]) -> dict[str, tuple[float, float]]:
    limits: dict[str, tuple[float, float]] = {}
    for pair in pairs:
        name, separator, bounds = pair.partition("=")
        low, colon, high = bounds.partition(":")
        try:
            limits[name.strip()] = (float(low), float(high)) if colon else (-10.0, float(low))
        except ValueError:
            raise fail(f"--sector-limit takes SECTOR=MAX or SECTOR=MIN:MAX, got {pair!r}") from None
        if not separator or not name.strip():
            raise fail(f"--sector-limit takes SECTOR=MAX or SECTOR=MIN:MAX, got {pair!r}")
    return limits


def _constraints(
    source: Path,
    assets: list[str],
    long_short: bool,
    min_weight: float,
    max_weight: float,
    max_position: float | None,
    min_net: float,
    max_net: float,
    max_gross: float | None,
    sector_limit: list[str] | None,
    sectors: Path | None,
    max_turnover: float | None,
) -> PortfolioConstraints:
    from logos.portfolio.constraints import PortfolioConstraints
    from logos.portfolio.prices import load_sectors

    limits = _sector_limits(sector_limit or [])
    groups: dict[str, str] = {}
    if limits:
        try:
            groups = json.loads(sectors.read_text()) if sectors else load_sectors(source)
        except (OSError, json.JSONDecodeError) as exc:
            raise fail(f"--sectors {sectors}: cannot read: {exc}") from None
        if not groups:
            raise fail(f"--sector-limit needs --sectors FILE (no {source.stem}.sectors.json beside {source})")
        unknown = sorted(set(limits) - set(groups.values()))
        if unknown:
            raise fail(
                f"--sector-limit: unknown sector {unknown[0]!r} (known: {', '.join(sorted(set(groups.values())))})"
            )
        missing = [asset for asset in assets if asset not in groups]
        if missing:
            raise fail(f"the sector map has no sector for {', '.join(missing)}")
    try:
        return PortfolioConstraints(
            long_only=not long_short, min_weight=min_weight, max_weight=max_weight, max_position=max_position,
            min_net=min_net, max_net=max_net, max_gross=max_gross, groups=groups, group_limits=limits,
            max_turnover=max_turnover,
        )  # fmt: skip
    except ValidationError as exc:
        raise fail(one_line(exc)) from None


def _allocator(method: str, param: list[str] | None) -> Allocator:
    from logos.portfolio.allocators import ALLOCATORS, AllocatorError, get_allocator

    try:
        if method not in ALLOCATORS:
            return get_allocator(method)  # raises, naming the known methods
        return get_allocator(method, ALLOCATORS[method].parse_params(param or []))
    except AllocatorError as exc:
        raise fail(str(exc)) from None


@portfolio_app.command("allocate")
def allocate_command(
    method: MethodOption,
    prices: PricesOption = None,
    fixture: FixtureOption = None,
    lookback: LookbackOption = 252,
    param: ParamOption = None,
    out: Annotated[Path | None, typer.Option(help="Also write the weights to this CSV.")] = None,
    long_short: LongShortOption = False,
    min_weight: MinWeightOption = 0.0,
    max_weight: MaxWeightOption = 1.0,
    max_position: MaxPositionOption = None,
    min_net: MinNetOption = 1.0,
    max_net: MaxNetOption = 1.0,
    max_gross: MaxGrossOption = None,
    sector_limit: SectorLimitOption = None,
    sectors: SectorsOption = None,
    strict: StrictOption = False,
) -> None:
    """Print (and with --out write) the weights of one allocator on the last --lookback bars."""
    import pandas as pd

    from logos.files import atomic_write_text
    from logos.portfolio.allocators import FallbackRefused, allocate
    from logos.portfolio.constraints import ConstraintError
    from logos.portfolio.prices import PriceDataError, load_prices, simple_returns
    from logos.portfolio.risk_model import ledoit_wolf_covariance, realized_volatility, risk_contributions

    source = _source(prices, fixture)
    allocator = _allocator(method, param)
    try:
        frame = load_prices(source)
    except PriceDataError as exc:
        raise fail(str(exc)) from None
    if lookback < 2 or len(frame) < lookback + 1:
        raise fail(f"--lookback {lookback} needs at least {lookback + 1} dates; {source} has {len(frame)}")
    assets = [str(column) for column in frame.columns]
    constraints = _constraints(source, assets, long_short, min_weight, max_weight, max_position, min_net, max_net,
                               max_gross, sector_limit, sectors, None)  # fmt: skip
    window = simple_returns(frame.iloc[-(lookback + 1) :])
    try:
        allocation = allocate(allocator, window, constraints, strict=strict)
    except (ConstraintError, FallbackRefused) as exc:
        raise fail(str(exc)) from None
    volatility = realized_volatility(window)
    contributions = risk_contributions(allocation.weights, ledoit_wolf_covariance(window))
    table = pd.DataFrame(
        {"asset": assets, "weight": allocation.weights, "volatility": volatility, "risk_contribution": contributions}
    )
    # the file says whose weights these are, so a fallback is never mistaken for the method's answer
    table["method"] = method
    table["fallback"] = allocation.fallback_note or ""
    start, end = window.index[0].date(), window.index[-1].date()
    typer.echo(f"{method} on {len(assets)} assets, {len(window)} returns {start} to {end}")
    _warn_fallback(allocation)
    typer.echo(f"  {'asset':<10} {'weight':>9} {'vol (ann.)':>11} {'risk share':>11}")
    for asset, weight, vol, share in zip(assets, allocation.weights, volatility, contributions, strict=True):
        typer.echo(f"  {asset:<10} {weight * 100:>8.2f}% {vol * 100:>10.2f}% {share * 100:>10.2f}%")
    typer.echo(f"  {'total':<10} {allocation.weights.sum() * 100:>8.2f}%")
    if out is not None:
        text = table.to_csv(index=False, lineterminator="\n", float_format="%.10f")
        atomic_write_text(out, text)
        typer.echo(f"weights: {out}")


def _warn_fallback(allocation: Allocation) -> None:
    if allocation.fallback_note:
        typer.echo(f"warning: {allocation.fallback_note}; --strict makes this an error", err=True)


def _run_id(method: str, source: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{stamp}_{method}_{source.stem}")


@portfolio_app.command("backtest")
def backtest_command(
    method: MethodOption,
    prices: PricesOption = None,
    fixture: FixtureOption = None,
    param: ParamOption = None,
    lookback: LookbackOption = 252,
    schedule: Annotated[Schedule, typer.Option(help="Rebalance at the first bar of each day/week/month.")] = (
        Schedule.MONTHLY
    ),
    drift_band: Annotated[float | None, typer.Option(help="Also rebalance when a weight drifts this far.")] = None,
    start: Annotated[str | None, typer.Option(help="First date to use (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date to use (YYYY-MM-DD).")] = None,
    cash: Annotated[str, typer.Option(help="Starting cash.")] = "1000000",
    fee_bps: FeeOption = "10",
    slippage_bps: SlippageOption = "5",
    fill: FillOption = FillTiming.NEXT_OPEN,
    lot_size: Annotated[str, typer.Option(help="Quantity step of every asset.")] = "1",
    no_trade_band: Annotated[float, typer.Option(help="Weight drift left untraded.")] = 0.0,
    turnover_penalty: Annotated[float, typer.Option(help="Multiple of the cost rate a trade must beat.")] = 0.0,
    min_order_notional: Annotated[str, typer.Option(help="Orders below this notional are dropped.")] = "0",
    long_short: LongShortOption = False,
    min_weight: MinWeightOption = 0.0,
    max_weight: MaxWeightOption = 1.0,
    max_position: MaxPositionOption = None,
    min_net: MinNetOption = 1.0,
    max_net: MaxNetOption = 1.0,
    max_gross: MaxGrossOption = None,
    sector_limit: SectorLimitOption = None,
    sectors: SectorsOption = None,
    max_turnover: MaxTurnoverOption = None,
    strict: StrictOption = False,
    run_id: Annotated[str | None, typer.Option(help="Name of the run directory (default: time_method_data).")] = None,
    runs_dir: Annotated[
        Path | None, typer.Option(help="Where portfolio runs go (default: LOGOS_HOME/runs/portfolio).")
    ] = None,
) -> None:
    """Walk-forward backtest of one allocator; writes runs/portfolio/<id>/."""
    from logos.backtest.artifacts import RunExists
    from logos.execution.fill_model import FillModelConfig
    from logos.portfolio.artifacts import write_portfolio_run
    from logos.portfolio.constraints import ConstraintError
    from logos.portfolio.position_manager import RebalanceConfig
    from logos.portfolio.prices import PriceDataError, load_prices
    from logos.portfolio.walk_forward import PortfolioBacktestConfig
    from logos.settings import LogosSettings

    source = _source(prices, fixture)
    allocator = _allocator(method, param)
    first_day, last_day = _date("--start", start), _date("--end", end)
    if first_day is not None and last_day is not None and first_day > last_day:
        raise fail(f"--start {start} is after --end {end}")
    try:
        frame = _cut(load_prices(source), source, first_day, last_day)
    except PriceDataError as exc:
        raise fail(str(exc)) from None
    assets = [str(column) for column in frame.columns]
    constraints = _constraints(source, assets, long_short, min_weight, max_weight, max_position, min_net, max_net,
                               max_gross, sector_limit, sectors, max_turnover)  # fmt: skip
    fee = parse_decimal("--fee-bps", fee_bps)
    lot = parse_decimal("--lot-size", lot_size)
    try:
        specs = {asset: SymbolSpec(symbol=asset, lot_size=lot, fractionable=lot < 1) for asset in assets}
        config = PortfolioBacktestConfig(
            method=method,
            params=allocator.params.model_dump(mode="json"),
            lookback=lookback,
            schedule=schedule,
            drift_band=drift_band,
            cash=parse_decimal("--cash", cash),
            fills=FillModelConfig(
                timing=fill,
                slippage_bps=parse_decimal("--slippage-bps", slippage_bps),
                taker_fee_bps=fee,
                maker_fee_bps=fee,
            ),
            constraints=constraints,
            rebalance=RebalanceConfig(
                no_trade_band=no_trade_band,
                turnover_penalty=turnover_penalty,
                max_turnover=max_turnover,
                min_order_notional=parse_decimal("--min-order-notional", min_order_notional),
            ),
            strict=strict,
        )
    except ValidationError as exc:
        raise fail(one_line(exc)) from None
    if len(frame) <= lookback + 1:
        raise fail(
            f"--lookback {lookback} needs more than {lookback + 1} dates; the data has {len(frame)}"
            + (f" from {frame.index[0].date()} to {frame.index[-1].date()}" if len(frame) else "")
        )
    runs = runs_dir or LogosSettings().paths.portfolio_runs
    try:
        run_dir = child(runs, "--run-id", run_id or _run_id(method, source))
    except UnsafeName as exc:
        raise fail(str(exc)) from None
    if run_dir.exists():
        raise fail(f"{run_dir} exists already; choose another --run-id")
    data_source = f"fixture:{fixture}" if fixture else str(source)
    with tempfile.TemporaryDirectory() as scratch:
        log_file = Path(scratch) / "run.log"
        handler = logging.FileHandler(log_file)
        # no wall-clock times in the run's log, so two runs of the same inputs are byte-identical
        handler.setFormatter(logging.Formatter("%(levelname)-7s %(name)s: %(message)s"))
        logging.getLogger("logos").addHandler(handler)
        logging.getLogger("logos").setLevel(logging.INFO)
        try:
            log.info("portfolio backtest %s %s on %d assets, %d bars from %s (%s to %s)", method, config.params,
                     len(assets), len(frame), data_source, frame.index[0].date(), frame.index[-1].date())  # fmt: skip
            started = time.perf_counter()
            result = _run_with_progress(frame, allocator, config, specs)
            seconds = time.perf_counter() - started
            log.info("%d rebalances, %d fills, fees %s", len(result.targets), len(result.ledger.executions),
                     result.ledger.fees_paid)  # fmt: skip
            handler.flush()
            written = write_portfolio_run(result, config, data_source, run_dir, log_file)
        except (ConstraintError, ValueError) as exc:
            raise fail(str(exc)) from None
        except RunExists as exc:
            raise fail(str(exc)) from None
        finally:
            logging.getLogger("logos").removeHandler(handler)
            handler.close()
    _print_summary(result, method, seconds, written)


def _date(name: str, value: str | None) -> pd.Timestamp | None:
    """Read a --start/--end date as the start of that UTC day, or stop with a line naming the option."""
    import pandas as pd

    if value is None:
        return None
    try:
        return pd.Timestamp(date.fromisoformat(value), tz="UTC")
    except ValueError:
        raise fail(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None


def _cut(frame: pd.DataFrame, source: Path, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """The dates from start through the whole end day; a range wholly outside the data is an error."""
    import pandas as pd

    first, last = frame.index[0], frame.index[-1]
    if start is not None and start > last:
        raise fail(f"--start {start.date()} is after the last date of {source.name} ({last.date()})")
    if end is not None and end < first.normalize():
        raise fail(f"--end {end.date()} is before the first date of {source.name} ({first.date()})")
    if start is not None:
        frame = frame.loc[frame.index >= start]
    if end is not None:
        frame = frame.loc[frame.index < end + pd.Timedelta(days=1)]
    return frame


def _run_with_progress(
    frame: pd.DataFrame, allocator: Allocator, config: PortfolioBacktestConfig, specs: dict[str, SymbolSpec]
) -> PortfolioResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from logos.portfolio.walk_forward import run_portfolio_backtest

    with Progress(
        TextColumn("[bold]portfolio"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
        transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("bars", total=len(frame))
        return run_portfolio_backtest(
            frame, allocator, config, specs,
            lambda done: progress.update(task, completed=done),
        )  # fmt: skip


def _print_summary(result: PortfolioResult, method: str, seconds: float, run: Path) -> None:
    metrics = result.metrics

    def percent(key: str) -> str:
        value = metrics.get(key)
        return "-" if value is None else f"{value * 100:,.2f} %"

    def number(key: str, digits: int = 2) -> str:
        value = metrics.get(key)
        return "-" if value is None else f"{value:,.{digits}f}"

    rows = [
        ("total return", percent("total_return")), ("CAGR", percent("cagr")), ("Sharpe", number("sharpe")),
        ("volatility", percent("volatility")), ("max drawdown", percent("max_drawdown")),
        ("rebalances", str(metrics["rebalances"])), ("turnover/year", number("turnover_annual")),
        ("costs paid", number("costs_paid")), ("eff. assets", number("effective_assets_mean")),
        ("fallbacks", str(metrics["fallbacks"])), ("end equity", number("end_equity")),
    ]  # fmt: skip
    first, last = result.index[0].date(), result.index[-1].date()
    typer.echo(
        f"{method} on {len(result.assets)} assets: {len(result.index):,} bars {first} to {last} in {seconds:.2f}s"
    )
    for label, value in rows:
        typer.echo(f"  {label:<14} {value:>16}")
    typer.echo(f"artifacts: {run}")
    _warn_fallbacks(result)


def _warn_fallbacks(result: PortfolioResult) -> None:
    noted = [(stamp, allocation) for stamp, allocation in result.targets if allocation.fallback_note]
    if noted:
        stamp, allocation = noted[0]
        typer.echo(
            f"warning: {len(noted)} of {len(result.targets)} rebalances fell back (first {stamp.date()}: "
            f"{allocation.fallback_note}); see fallbacks in metrics.json, --strict makes this an error",
            err=True,
        )
