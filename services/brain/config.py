"""Settings of the brain service (prefix `BRAIN_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class BrainSettings(ServiceSettings):
    """Proposes bounded parameter changes; proposals go through the same gates as models."""

    model_config = SettingsConfigDict(env_prefix="BRAIN_", extra="ignore", frozen=True)

    port: int = Field(default=8005, ge=1, le=65535, description="Port of the HTTP API.")
