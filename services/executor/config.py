"""Settings of the executor (prefix ``EXECUTOR_``): the paper account, its fill model and the broker it sends to.

Paper is the default. A venue broker (ccxt, alpaca) runs in dry-run (every request built, none
sent), against the venue's paper endpoint or testnet, or, only with ``EXECUTOR_LIVE`` and
``EXECUTOR_ACKNOWLEDGE_RISK`` and validated credentials, live; ``logos validate-config`` refuses
anything in between. Alpaca's keys may also come from the
conventional ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from logos.execution.fill_model import FillModelConfig
from logos.names import check_name
from logos.risk.limits import RiskLimits
from services.executor.hard_limits import HardLimits
from services.runtime.settings import ServiceSettings


def _session_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d_%H%M%S")


class ExecutorSettings(ServiceSettings):
    """The paper broker's account, costs and session."""

    model_config = SettingsConfigDict(
        env_prefix="EXECUTOR_", env_nested_delimiter="__", extra="ignore", frozen=True, populate_by_name=True
    )

    port: int = Field(default=8004, ge=1, le=65535, description="Port of the HTTP API.")
    cash: Decimal = Field(default=Decimal(100_000), gt=0, description="Starting cash of the paper account.")
    fills: FillModelConfig = Field(default_factory=FillModelConfig, description="Timing, slippage and fees of fills.")
    account: str = Field(default="paper", min_length=1, description="Name of the account in snapshots.")
    session_id: str = Field(default_factory=_session_id, description="Session directory name (a safe name).")

    broker: Literal["paper", "ccxt", "alpaca", "ib"] = Field(
        default="paper", description="Where orders go: the paper broker, a ccxt exchange, Alpaca (IB: not yet)."
    )
    dry_run: bool = Field(
        default=False,
        description="Build every venue request (metadata, rounding, limits) and record it as DRY_RUN; send none.",
    )
    live: bool = Field(default=False, description="Trade real money; needs acknowledge_risk and checked credentials.")
    acknowledge_risk: bool = Field(default=False, description="Set by --i-acknowledge-risk; required with live.")
    exchange: str = Field(default="", description="The ccxt exchange id (binance, kraken, ...).")
    sandbox: bool = Field(default=False, description="Use the exchange's sandbox or testnet (ccxt).")
    symbol_map: dict[str, str] = Field(
        default_factory=dict, description='Our symbol to the venue\'s, as JSON: {"BTC-USD": "BTC/USDT"}.'
    )
    ccxt_api_key: SecretStr | None = Field(default=None, description="API key of the ccxt exchange account.")
    ccxt_secret: SecretStr | None = Field(default=None, description="API secret of the ccxt exchange account.")
    ccxt_password: SecretStr | None = Field(default=None, description="API passphrase, where the exchange has one.")
    poll_seconds: float = Field(
        default=2.0, gt=0, le=300, description="How often working venue orders are asked for their fills and state."
    )
    snapshot_events: int = Field(
        default=2000,
        ge=0,
        description="Write the session's restorable state to snapshot.json every this many events, so a restart "
        "reads it and only the tail of state.jsonl (0: never; orders routed to a venue never snapshot).",
    )
    accept_mismatch: bool = Field(
        default=False,
        description="Start although start-up reconciliation found the venue's orders or positions differ (logged).",
    )
    max_order_notional: Decimal | None = Field(
        default=None,
        gt=0,
        description="Hard limit: the largest order notional the executor sends, whatever risk approved "
        "(default: twice RISK_LIMITS__MAX_ORDER_NOTIONAL).",
    )
    max_position_notional: Decimal | None = Field(
        default=None,
        gt=0,
        description="Hard limit: the largest position notional an order may leave, reductions aside "
        "(default: twice RISK_LIMITS__MAX_POSITION_NOTIONAL).",
    )
    max_orders_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Hard limit: orders sent per minute of the orders' own clock "
        "(default: twice RISK_LIMITS__MAX_ORDERS_PER_MINUTE).",
    )
    alpaca_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("EXECUTOR_ALPACA_API_KEY", "APCA_API_KEY_ID", "alpaca_api_key"),
        description="Alpaca key id (paper keys start PK, live keys AK).",
    )
    alpaca_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("EXECUTOR_ALPACA_SECRET_KEY", "APCA_API_SECRET_KEY", "alpaca_secret_key"),
        description="Alpaca secret key.",
    )

    @field_validator("session_id")
    @classmethod
    def _safe_session_id(cls, value: str) -> str:
        return check_name("session id", value)

    def hard_limits(self, risk: RiskLimits) -> HardLimits:
        """The executor's own limits: the ones set here, the others at twice ``risk``'s."""
        return HardLimits.above(risk, self.max_order_notional, self.max_position_notional, self.max_orders_per_minute)

    def venue_endpoint(self) -> str:
        """Which endpoint a venue broker talks to: live, sandbox or paper."""
        if self.live:
            return "live"
        if self.broker == "ccxt":
            return "sandbox" if self.sandbox else "live"
        return "paper"
