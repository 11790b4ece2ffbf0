"""Risk limits and breaker policy: every threshold the risk engine enforces, with its meaning."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


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
