"""Settings of the risk service (prefix `RISK_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class RiskSettings(ServiceSettings):
    """Checks every intent against the risk rules and the trading state."""

    model_config = SettingsConfigDict(env_prefix="RISK_", extra="ignore", frozen=True)

    port: int = Field(default=8003, ge=1, le=65535, description="Port of the HTTP API.")
