"""Settings of the executor service (prefix `EXECUTOR_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class ExecutorSettings(ServiceSettings):
    """Turns approved orders into broker orders and keeps the authoritative ledger."""

    model_config = SettingsConfigDict(env_prefix="EXECUTOR_", extra="ignore", frozen=True)

    port: int = Field(default=8004, ge=1, le=65535, description="Port of the HTTP API.")
