"""Settings of the executor (prefix ``EXECUTOR_``): the paper account and its fill model."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from logos.execution.fill_model import FillModelConfig
from services.runtime.settings import ServiceSettings


def _session_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d_%H%M%S")


class ExecutorSettings(ServiceSettings):
    """The paper broker's account, costs and session."""

    model_config = SettingsConfigDict(env_prefix="EXECUTOR_", env_nested_delimiter="__", extra="ignore", frozen=True)

    port: int = Field(default=8004, ge=1, le=65535, description="Port of the HTTP API.")
    cash: Decimal = Field(default=Decimal(100_000), gt=0, description="Starting cash of the paper account.")
    fills: FillModelConfig = Field(default_factory=FillModelConfig, description="Timing, slippage and fees of fills.")
    account: str = Field(default="paper", min_length=1, description="Name of the account in snapshots.")
    session_id: str = Field(default_factory=_session_id, pattern=r"^[A-Za-z0-9._-]+$", description="Session directory.")
