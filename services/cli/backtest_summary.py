"""The console summary of one backtest: its figures, what was not annualized and why, and the real time taken."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

import typer

_IMPORTED = time.perf_counter()


def process_seconds() -> float:
    """Wall time since this process started (since this module was imported where /proc is missing)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        # the fields after the command name, which may hold spaces, start at field 3; starttime is field 22
        started_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


def _format(value: object, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value * 100:,.2f} %" if percent else f"{value:,.4f}"
    return str(value)


def _bar_length(seconds: float) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}-{unit}"
    return f"{seconds:g}-second"


def _calendar(metrics: Mapping[str, object]) -> str:
    bar_seconds, per_year = metrics.get("bar_seconds"), metrics.get("periods_per_year")
    if not isinstance(bar_seconds, int | float) or not isinstance(per_year, int | float) or bar_seconds <= 0:
        return "calendar unknown"
    return f"{metrics.get('calendar')} calendar, {_bar_length(float(bar_seconds))} bars, {per_year:,.0f} a year"


def print_summary(
    metrics: Mapping[str, object],
    not_annualized: Mapping[str, str],
    heading: str,
    run: Path,
    times: Mapping[str, float],
) -> None:
    """Print the figures, each annualized one left out with its reason, then the time taken and the run."""

    def annualized(name: str, percent: bool = False) -> str:
        if name in not_annualized:
            return f"n/a ({not_annualized[name]})"
        value = _format(metrics.get(name), percent)
        error = metrics.get("sharpe_standard_error") if name == "sharpe" else None
        return f"{value} ± {error:,.2f}" if isinstance(error, float) else value

    open_trades = metrics.get("open_trades") or 0
    trades = _format(metrics.get("trades"))
    rows = [
        ("total return", _format(metrics.get("total_return"), percent=True)),
        ("CAGR", annualized("cagr", percent=True)),
        ("Sharpe", annualized("sharpe")),
        ("Sortino", annualized("sortino")),
        ("volatility", annualized("volatility", percent=True)),
        ("max drawdown", _format(metrics.get("max_drawdown"), percent=True)),
        ("trades", f"{trades} ({open_trades} open, marked at the last close)" if open_trades else trades),
        ("win rate", _format(metrics.get("win_rate"), percent=True)),
        ("profit factor", _format(metrics.get("profit_factor"))),
        ("exposure", _format(metrics.get("exposure"), percent=True)),
        ("fees", _format(metrics.get("fees"))),
        ("end equity", _format(metrics.get("end_equity"))),
    ]
    span = metrics.get("span_days")
    span_text = f", {span:,.1f} days" if isinstance(span, float) else ""
    typer.echo(f"{heading} ({_calendar(metrics)}{span_text})")
    for label, value in rows:
        typer.echo(f"  {label:<14} {value:>16}")
    parts = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in times.items())
    typer.echo(f"time: {process_seconds():.2f}s wall ({parts})")
    typer.echo(f"artifacts: {run}")
