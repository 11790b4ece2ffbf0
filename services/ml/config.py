"""Settings of the ml service (prefix ``ML_``) and of the scheduled ml-train container (``ML_TRAIN_``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.settings import ServiceSettings


class MLSettings(ServiceSettings):
    """The strategy that trades (champion) and the one that only publishes signals (shadow)."""

    model_config = SettingsConfigDict(env_prefix="ML_", env_nested_delimiter="__", extra="ignore", frozen=True)

    port: int = Field(default=8002, ge=1, le=65535, description="Port of the HTTP API.")
    strategy: str | None = Field(default=None, description="Strategy that trades; none: ml only watches.")
    params: dict[str, Any] = Field(default_factory=dict, description="Its parameters (JSON), checked by its schema.")
    sizing: str = Field(default="equity:1.0", description="equity:FRACTION, notional:AMOUNT or vol:TARGET.")
    shadow_strategy: str | None = Field(default=None, description="A staging strategy run in shadow (signals only).")
    shadow_params: dict[str, Any] = Field(default_factory=dict, description="The shadow strategy's parameters.")


class TrainScheduleSettings(BaseSettings):
    """When the ml-train container runs training (prefix ``ML_TRAIN_``)."""

    model_config = SettingsConfigDict(env_prefix="ML_TRAIN_", extra="ignore", frozen=True)

    interval_seconds: float = Field(default=86_400, ge=60, description="Seconds between two training runs.")
