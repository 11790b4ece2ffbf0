"""The ml-train container's scheduler: a plain loop that runs training at a fixed interval.

Training, gates and promotion arrive with the model registry; until then each run only reports
that nothing is configured, so the container, its schedule and its logs can already be operated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.ml.config import TrainScheduleSettings

log = logging.getLogger("logos.ml_train")
HEARTBEAT_SECONDS = 30.0


def run_training_once() -> None:
    """Run one training cycle (not yet configured: reports that and leaves the champion as it is)."""
    log.info("training run: no training pipeline is configured yet; champion and staging unchanged")


def run_schedule(
    settings: TrainScheduleSettings,
    runs: int | None = None,
    heartbeat_file: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run training now and then every ``interval_seconds``; stop after ``runs`` when given.

    While waiting it touches ``heartbeat_file`` every 30 s, which the container healthcheck reads.
    """
    completed = 0
    while True:
        run_training_once()
        completed += 1
        if runs is not None and completed >= runs:
            return completed
        next_run = datetime.now(UTC) + timedelta(seconds=settings.interval_seconds)
        log.info("next training run at %s", next_run.isoformat(timespec="seconds"))
        remaining = settings.interval_seconds
        while remaining > 0:
            if heartbeat_file is not None:
                heartbeat_file.touch()
            step = min(HEARTBEAT_SECONDS, remaining)
            sleep(step)
            remaining -= step
