"""Settings of the ml service (prefix `ML_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.settings import ServiceSettings


class MLSettings(ServiceSettings):
    """Runs the active strategy per symbol and turns its signals into order intents."""

    model_config = SettingsConfigDict(env_prefix="ML_", extra="ignore", frozen=True)

    port: int = Field(default=8002, ge=1, le=65535, description="Port of the HTTP API.")


class TrainScheduleSettings(BaseSettings):
    """When the ml-train container runs training (prefix ``ML_TRAIN_``)."""

    model_config = SettingsConfigDict(env_prefix="ML_TRAIN_", extra="ignore", frozen=True)

    interval_seconds: float = Field(default=86_400, ge=60, description="Seconds between two training runs.")
