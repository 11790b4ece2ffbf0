"""A portfolio backtest's files, written into a temporary directory and renamed into place in one step.

runs/portfolio/<id>/: metrics.json weights.csv trades.csv equity.csv equity.png weights.png config.yaml
logs/run.log. Nothing in them depends on the wall clock, so two runs of the same inputs are byte-identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from logos.backtest.artifacts import EXECUTION_COLUMNS, PLOT_POINTS, plot_equity, staged_run, table
from logos.backtest.metrics import drawdown
from logos.portfolio.walk_forward import PortfolioBacktestConfig, PortfolioResult, fallbacks

TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def weights_frame(result: PortfolioResult) -> pd.DataFrame:
    """One row per rebalance: the target weight of every asset and the fallback, if any."""
    rows = [
        [stamp.strftime(TIMESTAMP), allocation.method, allocation.fallback_note or ""]
        + [f"{float(weight):.10f}" for weight in allocation.weights]
        for stamp, allocation in result.targets
    ]
    return pd.DataFrame(rows, columns=["timestamp", "method", "fallback", *result.assets])


def equity_frame(result: PortfolioResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": result.index.strftime(TIMESTAMP),
            "cash": np.round(result.cash, 8),
            "equity": np.round(result.equity, 8),
            "gross_exposure": np.round(np.abs(result.weights).sum(axis=1), 10),
            "turnover": np.round(result.turnover, 10),
            "drawdown": np.round(drawdown(result.equity), 10),
        }
    )


def metrics_document(result: PortfolioResult, config: PortfolioBacktestConfig, data_source: str) -> dict[str, Any]:
    return {
        "data": data_source,
        "method": config.method,
        "params": config.params,
        "assets": list(result.assets),
        "start": result.index[0].isoformat(),
        "end": result.index[-1].isoformat(),
        "metrics": result.metrics,
        "fallbacks": fallbacks(result),
    }


def _plots(result: PortfolioResult, directory: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plot_equity(result.index, result.equity, directory / "equity.png", title)
    step = max(1, len(result.equity) // PLOT_POINTS)
    index = result.index[::step]

    figure, axis = plt.subplots(figsize=(11, 6), layout="constrained")
    held = np.clip(result.weights[::step], 0, None)
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(result.assets), 2)))
    axis.stackplot(index, held.T, labels=list(result.assets), colors=colors, linewidth=0)
    axis.set_title(f"{title}: weights held (long side)")
    axis.set_ylabel("weight of equity")
    axis.set_ylim(0, max(1.0, float(held.sum(axis=1).max()) if held.size else 1.0))
    axis.margins(x=0)
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    figure.savefig(directory / "weights.png", dpi=100, metadata={"Software": None})
    plt.close(figure)


def write_portfolio_run(
    result: PortfolioResult,
    config: PortfolioBacktestConfig,
    data_source: str,
    run_dir: Path,
    log_file: Path | None = None,
) -> Path:
    """Write the run's files under ``run_dir``; an existing run is never overwritten."""
    with staged_run(run_dir, log_file) as staging:
        document = metrics_document(result, config, data_source)
        (staging / "metrics.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        weights_frame(result).to_csv(staging / "weights.csv", index=False, lineterminator="\n")
        table(result.ledger.executions, EXECUTION_COLUMNS).to_csv(
            staging / "trades.csv", index=False, lineterminator="\n"
        )
        equity_frame(result).to_csv(staging / "equity.csv", index=False, lineterminator="\n")
        settings = {"data": data_source, "assets": list(result.assets), "portfolio": config.model_dump(mode="json")}
        (staging / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=True))
        _plots(result, staging, f"{config.method} on {len(result.assets)} assets")
    return run_dir
