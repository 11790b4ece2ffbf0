"""Risk limits and breaker policy: every threshold the risk engine enforces, with its meaning."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RiskLimits(BaseModel):
    """Pre-trade limits and breaker thresholds; ``None`` switches a rule off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: Decimal | None = Field(default=None, gt=0, description="Largest single order, in quote.")
    max_position_notional: Decimal | None = Field(default=None, gt=0, description="Largest position per symbol.")
    max_gross_exposure: Decimal | None = Field(default=None, gt=0, description="Largest sum of |position| x price.")
    max_net_exposure: Decimal | None = Field(default=None, gt=0, description="Largest |sum of position x price|.")
    max_orders_per_minute: int | None = Field(default=None, ge=1, description="Approved orders per rolling minute.")
    allowed_symbols: frozenset[str] | None = Field(default=None, description="Symbols that may trade (all if unset).")
    max_intraday_drawdown: Decimal | None = Field(
        default=None, gt=0, lt=1, description="Halt when equity falls this fraction below the day's start."
    )
    max_drawdown: Decimal | None = Field(
        default=None, gt=0, lt=1, description="Halt when equity falls this fraction below its peak."
    )
    max_reject_rate: Decimal | None = Field(
        default=None, gt=0, le=1, description="Reduce when this share of recent orders was rejected."
    )
    reject_window: int = Field(default=20, ge=1, description="Orders the reject rate is measured over.")
    stale_after_seconds: float | None = Field(
        default=None, gt=0, description="A symbol whose last bar is older than this may only reduce."
    )
    recover_automatically: bool = Field(
        default=True, description="Return REDUCING to ACTIVE once the breaker that caused it clears."
    )
    buying_power_tolerance: Decimal | None = Field(
        default=Decimal("0.02"),
        ge=0,
        le=1,
        description=(
            "Deny a buy that opens or grows a position when its cost at the intent's price is more than the cash "
            "by over this fraction of the cash; the margin leaves room for fees and the gap to the next open, "
            "which the fill trims to what the cash pays for."
        ),
    )


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


def over_defaults(value: Any) -> Any:
    """Read ``RISK_LIMITS__<NAME>`` over the conservative defaults: naming one limit keeps the others.

    ``off`` (or ``none``) switches a rule off explicitly.
    """
    if not isinstance(value, dict):
        return value
    given = {name: None if str(item).strip().lower() in ("off", "none", "null") else item
             for name, item in value.items()}  # fmt: skip
    return DEFAULT_LIMITS.model_dump() | given


class ConfiguredLimits(BaseSettings):
    """Risk's limits as the stack's environment sets them (``RISK_LIMITS__<NAME>``), for the executor's wall.

    The executor's hard limits default to twice these, so raising risk's limits keeps its own above them.
    """

    model_config = SettingsConfigDict(env_prefix="RISK_", env_nested_delimiter="__", extra="ignore", frozen=True)

    limits: RiskLimits = DEFAULT_LIMITS

    @field_validator("limits", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        return over_defaults(value)
