"""Settings of the feed service (prefix `FEED_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class FeedSettings(ServiceSettings):
    """Publishes minute bars from its providers; for now it follows operator control messages."""

    model_config = SettingsConfigDict(env_prefix="FEED_", extra="ignore", frozen=True)

    port: int = Field(default=8001, ge=1, le=65535, description="Port of the HTTP API.")
