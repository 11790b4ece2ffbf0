from __future__ import annotations

from pathlib import Path

import pytest

from services.ml.config import TrainScheduleSettings
from services.ml.training_schedule import run_schedule


def test_schedule_when_waiting_then_heartbeat_touched_and_runs_counted(tmp_path: Path) -> None:
    slept: list[float] = []
    heartbeat = tmp_path / "alive"
    settings = TrainScheduleSettings(interval_seconds=75)
    assert run_schedule(settings, runs=3, heartbeat_file=heartbeat, sleep=slept.append) == 3
    assert slept == [30, 30, 15, 30, 30, 15]  # two waits of 75 s, in heartbeat steps
    assert heartbeat.exists()


def test_schedule_when_interval_too_short_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_TRAIN_INTERVAL_SECONDS", "5")
    with pytest.raises(ValueError, match="interval_seconds"):
        TrainScheduleSettings()
