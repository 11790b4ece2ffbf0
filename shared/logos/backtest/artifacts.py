"""A backtest's files: written into a temporary directory, then renamed into place in one step."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from enum import Enum
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from logos.backtest.engine import BacktestConfig, BacktestResult
from logos.backtest.metrics import annualization, drawdown
from logos.symbols import SymbolSpec

PLOT_POINTS = 4000
EXECUTION_COLUMNS = [
    "ts", "symbol", "side", "quantity", "price", "fee", "realized_pnl", "position_after", "cash_after", "order_id",
]  # fmt: skip
ROUND_TRIP_COLUMNS = [
    "symbol",
    "direction",
    "quantity",
    "entry_price",
    "exit_price",
    "opened_at",
    "closed_at",
    "pnl",
    "fees",
    "net_pnl",
    "status",
]
# equity.parquet: runs of equal values in target, position and cash cost a few bytes as dictionary
# runs; timestamps as deltas; equity and drawdown split by byte, which compresses floats best
EQUITY_ENCODING = {"timestamp": "DELTA_BINARY_PACKED", "equity": "BYTE_STREAM_SPLIT", "drawdown": "BYTE_STREAM_SPLIT"}


class RunExists(FileExistsError):
    """A run directory of that id exists already; runs are never overwritten."""


def metrics_document(
    result: BacktestResult, config: BacktestConfig, data: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return metrics.json's content: the metrics plus what was run on what (and, given, the data's checks)."""
    document: dict[str, Any] = {
        "symbol": result.symbol,
        "strategy": config.strategy,
        "params": config.params,
        "start": result.index[0].isoformat(),
        "end": result.index[-1].isoformat(),
        "metrics": result.metrics.as_dict(),
        "annualization": annualization(result.metrics),
        "refusals": dict(sorted(result.refusals.items())),
    }
    if data is not None:
        document["data"] = dict(data)
    return document


_PLAIN = {Decimal, str, int}


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value.value if isinstance(value, Enum) else value)


def _strings(values: list[Any], none: str | None = None) -> list[str]:
    """Return ``_cell`` of every value; a column of one plain type converts in one pass."""
    kinds = set(map(type, values))
    if len(kinds) == 1 and kinds <= _PLAIN:
        return list(map(str, values))
    if kinds == {datetime}:
        return list(map(datetime.isoformat, values))
    return [none if value is None and none is not None else _cell(value) for value in values]


def table(items: Sequence[object], columns: list[str], none: str | None = None) -> pd.DataFrame:
    """Return one row per item with ``columns`` read from its attributes, as exact strings (``none`` for None)."""
    return pd.DataFrame(
        {column: _strings(list(map(attrgetter(column), items)), none) for column in columns}, columns=columns
    )


def round_trip_table(result: BacktestResult) -> pd.DataFrame:
    """Return the closed round trips, then the open ones marked at the last close (no ``closed_at``)."""
    return table([*result.round_trips, *result.open_trips], ROUND_TRIP_COLUMNS, none="")


def write_equity(result: BacktestResult, path: Path) -> None:
    """Write the per-bar curves as Parquet: a few bytes a bar, and the same bytes for the same run."""
    import pyarrow as pa
    from pyarrow import parquet

    columns = {
        "timestamp": pa.array(result.index.as_unit("ns").asi8, pa.timestamp("ns", tz="UTC")),
        "target": pa.array(np.asarray(result.targets, dtype=np.float64)),
        "position": pa.array(result.positions),
        "cash": pa.array(np.round(result.cash, 8)),
        "equity": pa.array(np.round(result.equity, 8)),
        "drawdown": pa.array(np.round(drawdown(result.equity), 10)),
    }
    parquet.write_table(
        pa.table(columns),
        path,
        compression="zstd",
        use_dictionary=["target", "position", "cash"],
        column_encoding=EQUITY_ENCODING,
    )


def plot_equity(full_index: pd.DatetimeIndex, full_equity: np.ndarray, path: Path, title: str) -> None:
    """Draw equity over time with its drawdown below (at most PLOT_POINTS points) into ``path``."""
    # a Figure drawn by the Agg canvas directly: pyplot's import and its figure manager cost more than the drawing
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    step = max(1, len(full_equity) // PLOT_POINTS)
    index, equity = full_index[::step], full_equity[::step]
    figure = Figure(figsize=(11, 6))
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    figure.subplots_adjust(left=0.08, right=0.98, top=0.95, bottom=0.07, hspace=0.06)
    top.plot(index, equity, color="#1f5fbf", linewidth=1.2)
    top.set_title(title)
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    bottom.fill_between(index, drawdown(full_equity)[::step] * 100, 0, color="#c0392b", alpha=0.5)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    figure.savefig(path, dpi=100, metadata={"Software": None})


@contextmanager
def staged_run(run_dir: Path, log_file: Path | None = None) -> Iterator[Path]:
    """Yield a staging directory that becomes ``run_dir`` (with logs/run.log) only if the block succeeds.

    An existing run is never overwritten; a failed block leaves nothing behind.
    """
    if run_dir.exists():
        raise RunExists(f"{run_dir} exists already; choose another --run-id")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = run_dir.parent / f".{run_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "logs").mkdir(parents=True)
    try:
        yield staging
        if log_file is not None and log_file.exists():
            shutil.copyfile(log_file, staging / "logs" / "run.log")
        else:
            (staging / "logs" / "run.log").touch()
        try:
            staging.rename(run_dir)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # another run of the same id finished first (runs started at once): that one stands
            raise RunExists(f"{run_dir} exists already; choose another --run-id") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_backtest(
    result: BacktestResult,
    config: BacktestConfig,
    spec: SymbolSpec,
    data_source: str,
    run_dir: Path,
    log_file: Path | None = None,
    data: Mapping[str, Any] | None = None,
) -> Path:
    """Write metrics.json, trades.csv, round_trips.csv, equity.parquet, equity.png, config.yaml, logs/run.log."""
    with staged_run(run_dir, log_file) as staging:
        document = metrics_document(result, config, data)
        (staging / "metrics.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        table(result.executions, EXECUTION_COLUMNS).to_csv(staging / "trades.csv", index=False, lineterminator="\n")
        round_trip_table(result).to_csv(staging / "round_trips.csv", index=False, lineterminator="\n")
        write_equity(result, staging / "equity.parquet")
        settings = {
            "data": data_source,
            "symbol": spec.model_dump(mode="json"),
            "backtest": config.model_dump(mode="json"),
        }
        (staging / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=True))
        plot_equity(result.index, result.equity, staging / "equity.png", f"{config.strategy} on {result.symbol}")
    return run_dir
