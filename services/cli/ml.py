"""``logos ml``: the model loop's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.ml.config import TrainScheduleSettings
from services.ml.training_schedule import run_schedule
from services.runtime.logging_setup import configure_logging

app = typer.Typer(help="The ML model loop.", no_args_is_help=True)


@app.command("train-schedule")
def train_schedule(
    runs: Annotated[int | None, typer.Option(help="Stop after this many runs (default: run forever).")] = None,
    heartbeat_file: Annotated[Path | None, typer.Option(help="Touch this file every 30 s while waiting.")] = None,
) -> None:
    """Run training on the schedule of ML_TRAIN_INTERVAL_SECONDS (the ml-train container's command)."""
    configure_logging()
    run_schedule(TrainScheduleSettings(), runs=runs, heartbeat_file=heartbeat_file)
