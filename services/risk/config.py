"""Settings of the risk service (prefix ``RISK_``; limits as ``RISK_LIMITS__<NAME>``)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from logos.risk.limits import RiskLimits
from services.runtime.settings import ServiceSettings

# Conservative defaults: a paper account of 100,000 trades small and stops early.
DEFAULT_LIMITS = RiskLimits(
    max_order_notional=Decimal(25_000),
    max_position_notional=Decimal(50_000),
    max_gross_exposure=Decimal(150_000),
    max_net_exposure=Decimal(120_000),
    max_orders_per_minute=60,
    max_intraday_drawdown=Decimal("0.05"),
    max_drawdown=Decimal("0.15"),
    max_reject_rate=Decimal("0.5"),
    reject_window=20,
    stale_after_seconds=180,
)


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
    state_file: Path | None = Field(
        default=None,
        description="Where the trading state survives restarts (default: LOGOS_HOME/runs/live/risk_state.json).",
    )

    @field_validator("limits", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """Read ``RISK_LIMITS__<NAME>`` over the conservative defaults: naming one limit keeps the others.

        ``off`` (or ``none``) switches a rule off explicitly.
        """
        if not isinstance(value, dict):
            return value
        given = {name: None if str(item).strip().lower() in ("off", "none", "null") else item
                 for name, item in value.items()}  # fmt: skip
        return DEFAULT_LIMITS.model_dump() | given

    def state_path(self) -> Path:
        return self.state_file or self.logos.paths.runs / "live" / "risk_state.json"
