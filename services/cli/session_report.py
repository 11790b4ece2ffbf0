"""The end of a one-process session on the console: its summary, and what to change when it did not trade."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import typer

if TYPE_CHECKING:  # the command line imports this module at start: the workers only when a session runs
    from logos.live.summary import SessionSummary
    from services.executor.worker import ExecutorWorker
    from services.ml.config import MLSettings
    from services.risk.config import RiskSettings


class SessionRun(NamedTuple):
    """A finished session: its directory, the bars it handled and its summary."""

    directory: Path
    bars: int
    summary: SessionSummary | None


def finished(worker: ExecutorWorker, bars: int) -> SessionRun:
    """The run the executor ``worker`` recorded, once it has stopped."""
    return SessionRun(worker.recorder.directory, bars, worker.recorder.summary)


def describe_session(worker: ExecutorWorker, ml: MLSettings, risk: RiskSettings) -> None:
    """Add what the executor does not know to the session's recorded settings: strategy, sizing, risk limits."""
    described: dict[str, Any] = {
        "strategy": ml.strategy,
        "params": ml.params,
        "sizing": ml.sizing,
        "risk_limits": risk.limits.model_dump(mode="json", exclude_none=True),
        "risk_clock": risk.clock,
    }
    worker.recorder.configuration.update(described)


def print_summary(summary: SessionSummary | None) -> None:
    """Print the summary, and each warning on stderr: a session that never filled says why and what to change."""
    if summary is None:
        return
    first, *rest = summary.lines()
    typer.echo(f"summary: {first}")
    for line in rest:
        typer.echo(f"  {line}")
    for line in summary.warnings():
        typer.echo(f"warning: {line}", err=True)
