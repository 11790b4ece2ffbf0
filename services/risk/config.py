"""Settings of the risk service (prefix ``RISK_``; limits as ``RISK_LIMITS__<NAME>``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from logos.risk.limits import DEFAULT_LIMITS, RiskLimits, over_defaults
from services.runtime.settings import ServiceSettings


class RiskSettings(ServiceSettings):
    """Limits, breaker policy, the kill-switch token and where the trading state is kept."""

    model_config = SettingsConfigDict(env_prefix="RISK_", env_nested_delimiter="__", extra="ignore", frozen=True)

    port: int = Field(default=8003, ge=1, le=65535, description="Port of the HTTP API.")
    control_token: SecretStr | None = Field(
        default=None, description="Bearer token of POST /kill and /resume; the service refuses to start without it."
    )
    limits: RiskLimits = Field(default=DEFAULT_LIMITS, description="Pre-trade limits and breaker thresholds.")
    clock: Literal["wall", "data"] = Field(
        default="wall", description="Time of staleness and rate checks: the wall clock, or the newest bar (replays)."
    )
    evaluate_seconds: float = Field(default=1.0, gt=0, le=60, description="How often breakers are evaluated.")
    control_max_age_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A control command older than this (wall clock) is refused as a replayed copy; "
        "each is acted on once.",
    )
    state_file: Path | None = Field(
        default=None,
        description="Where the trading state survives restarts (default: LOGOS_HOME/runs/live/risk_state.json).",
    )

    @field_validator("limits", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """Read ``RISK_LIMITS__<NAME>`` over the conservative defaults (``off`` switches a rule off)."""
        return over_defaults(value)

    def state_path(self) -> Path:
        return self.state_file or self.logos.paths.runs / "live" / "risk_state.json"
