"""A shared-account backtest's files: the single-symbol run's, plus the per-symbol breakdown and risk's record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from logos.backtest.account import AccountResult
from logos.backtest.artifacts import (
    EQUITY_ENCODING,
    EXECUTION_COLUMNS,
    ROUND_TRIP_COLUMNS,
    plot_equity,
    staged_run,
    table,
)
from logos.backtest.engine import BacktestConfig
from logos.backtest.metrics import annualization, drawdown
from logos.symbols import SymbolSpec

DENIAL_COLUMNS = ["ts", "symbol", "intent_id", "reason", "detail", "trading_state"]
RISK_EVENT_COLUMNS = ["ts", "trading_state", "kill_switch", "cause", "detail"]
BREAKDOWN_COLUMNS = [
    "symbol", "bars", "fills", "round_trips", "open_trips", "traded_notional", "fees", "realized_pnl",
    "unrealized_pnl", "net_pnl", "final_position", "final_price", "exposure", "denials", "refusals",
]  # fmt: skip


def account_metrics_document(
    result: AccountResult, config: BacktestConfig, data: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """metrics.json: the account's metrics, each symbol's share, and what risk denied and why."""
    document: dict[str, Any] = {
        "symbol": ",".join(result.symbols),
        "symbols": result.symbols,
        "strategy": config.strategy,
        "params": config.params,
        "start": result.index[0].isoformat(),
        "end": result.index[-1].isoformat(),
        "metrics": result.metrics.as_dict(),
        "annualization": annualization(result.metrics),
        "refusals": result.refusals,
        "breakdown": [row.as_dict() for row in result.breakdown],
        "risk": {
            "limits": result.limits.model_dump(mode="json") if result.limits is not None else None,
            "denials": result.denials_by_reason(),
            "state_changes": len(result.risk_events),
            "venue_rejections": len(result.rejections),
        },
    }
    if data is not None:
        document["data"] = dict(data)
    return document


def write_account_equity(result: AccountResult, path: Path) -> None:
    """equity.parquet on every bar time: cash, equity, drawdown, gross exposure and each symbol's position."""
    import pyarrow as pa
    from pyarrow import parquet

    columns = {
        "timestamp": pa.array(result.index.as_unit("ns").asi8, pa.timestamp("ns", tz="UTC")),
        "cash": pa.array(np.round(result.cash, 8)),
        "equity": pa.array(np.round(result.equity, 8)),
        "drawdown": pa.array(np.round(drawdown(result.equity), 10)),
        "gross_exposure": pa.array(np.round(result.gross_exposure, 8)),
    }
    single = len(result.symbols) == 1
    for symbol in result.symbols:
        columns["position" if single else f"position:{symbol}"] = pa.array(result.positions[symbol])
    if single:  # the single-symbol run's columns: the dashboard draws target and position
        columns["target"] = pa.array(np.asarray(result.targets[result.symbols[0]], dtype=np.float64))
    dictionary = [name for name in columns if name.startswith(("position", "target", "cash"))]
    parquet.write_table(pa.table(columns), path, compression="zstd", use_dictionary=dictionary,
                        column_encoding=EQUITY_ENCODING)  # fmt: skip


def write_account_backtest(
    result: AccountResult,
    config: BacktestConfig,
    specs: Mapping[str, SymbolSpec],
    data_source: str,
    run_dir: Path,
    log_file: Path | None = None,
    data: Mapping[str, Any] | None = None,
) -> Path:
    """Write the run's files; besides a single-symbol run's: breakdown.csv, denials.csv and risk_events.csv."""
    import pandas as pd

    with staged_run(run_dir, log_file) as staging:
        document = account_metrics_document(result, config, data)
        (staging / "metrics.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        table(result.executions, EXECUTION_COLUMNS).to_csv(staging / "trades.csv", index=False, lineterminator="\n")
        table([*result.round_trips, *result.open_trips], ROUND_TRIP_COLUMNS, none="").to_csv(
            staging / "round_trips.csv", index=False, lineterminator="\n"
        )
        rows = [row.as_dict() for row in result.breakdown]
        pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS).astype(str).to_csv(
            staging / "breakdown.csv", index=False, lineterminator="\n"
        )
        table(result.denials, DENIAL_COLUMNS).to_csv(staging / "denials.csv", index=False, lineterminator="\n")
        table(result.risk_events, RISK_EVENT_COLUMNS).to_csv(
            staging / "risk_events.csv", index=False, lineterminator="\n"
        )
        write_account_equity(result, staging / "equity.parquet")
        settings = {
            "data": data_source,
            "symbols": {symbol: specs[symbol].model_dump(mode="json") for symbol in result.symbols},
            "backtest": config.model_dump(mode="json"),
            "risk_limits": result.limits.model_dump(mode="json") if result.limits is not None else None,
        }
        (staging / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=True))
        title = f"{config.strategy} on {', '.join(result.symbols)} (one account)"
        plot_equity(result.index, result.equity, staging / "equity.png", title)
    return run_dir
