"""Settings of the ml service (prefix ``ML_``) and of the scheduled ml-train container (``ML_TRAIN_``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from logos.orders.sizing import parse_sizing
from services.runtime.settings import ServiceSettings


class MLSettings(ServiceSettings):
    """The strategy that trades (champion) and the one that only publishes signals (shadow)."""

    model_config = SettingsConfigDict(env_prefix="ML_", env_nested_delimiter="__", extra="ignore", frozen=True)

    port: int = Field(default=8002, ge=1, le=65535, description="Port of the HTTP API.")
    strategy: str | None = Field(default=None, description="Strategy that trades; none: ml only watches.")
    params: dict[str, Any] = Field(default_factory=dict, description="Its parameters (JSON), checked by its schema.")
    # a full position of 20,000 fits risk's default limits (25,000 an order, 50,000 a symbol) on a 100,000 account
    sizing: str = Field(default="notional:20000", description="equity:FRACTION, notional:AMOUNT or vol:TARGET.")
    shadow_strategy: str | None = Field(default=None, description="A staging strategy run in shadow (signals only).")
    shadow_params: dict[str, Any] = Field(default_factory=dict, description="The shadow strategy's parameters.")

    @field_validator("strategy", "shadow_strategy")
    @classmethod
    def _known_strategy(cls, name: str | None) -> str | None:
        if name is not None:
            from logos.strategies import get_strategy  # imported here: only a trading ml pays for pandas

            get_strategy(name)
        return name

    @field_validator("params", "shadow_params")
    @classmethod
    def _params_fit_schema(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Check parameters against their strategy's own schema (bounds, types, unknown names)."""
        owner = "strategy" if info.field_name == "params" else "shadow_strategy"
        if owner not in info.data:  # the strategy itself was refused; that error says enough
            return params
        name = info.data[owner]
        if name is None:
            if params:
                raise ValueError(f"parameters without a strategy: set ML_{owner.upper()} too, or unset these")
            return params
        from logos.strategies import get_strategy

        strategy = get_strategy(name)
        known = strategy.params_model.model_fields
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"{name} has no parameter {', '.join(unknown)} (parameters: {', '.join(known)})")
        strategy.params(params)
        return params

    @field_validator("sizing")
    @classmethod
    def _readable_sizing(cls, sizing: str) -> str:
        parse_sizing(sizing)
        return sizing


class TrainScheduleSettings(BaseSettings):
    """When the ml-train container runs training (prefix ``ML_TRAIN_``)."""

    model_config = SettingsConfigDict(env_prefix="ML_TRAIN_", extra="ignore", frozen=True)

    interval_seconds: float = Field(default=86_400, ge=60, description="Seconds between two training runs.")
