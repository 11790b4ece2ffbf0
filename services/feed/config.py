"""Settings of the feed service (prefix ``FEED_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class FeedSettings(ServiceSettings):
    """Which provider publishes bars, and how a replay paces itself."""

    model_config = SettingsConfigDict(env_prefix="FEED_", extra="ignore", frozen=True)

    port: int = Field(default=8001, ge=1, le=65535, description="Port of the HTTP API.")
    provider: Literal["none", "replay"] = Field(default="none", description="Where bars come from.")
    replay_fixture: str | None = Field(default=None, description="A bundled data set to replay.")
    replay_data: Path | None = Field(default=None, description="A CSV or Parquet file to replay.")
    replay_symbols: list[str] = Field(default_factory=list, description="Symbols to replay (JSON list; all if empty).")
    replay_speed: float = Field(default=0.0, ge=0, description="Bars per second; 0 is as fast as lockstep allows.")
    replay_lockstep: bool = Field(default=True, description="Release a bar only once the previous one is handled.")
    replay_groups: list[str] = Field(
        default_factory=lambda: ["ml", "risk", "executor"],
        description="Consumer groups that must exist on the bar streams before the first bar.",
    )
