"""Settings of the feed service (prefix ``FEED_``; retry policy as ``FEED_RETRY__<NAME>``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from logos.contracts import Symbol
from services.runtime.settings import ServiceSettings

LIVE_PROVIDERS = ("yfinance", "ccxt")
# Yahoo serves 1-minute bars for the last 30 days only; a longer first look back cannot be filled.
MAX_LOOKBACK_MINUTES = 30 * 24 * 60


class RetryPolicy(BaseModel):
    """How a provider retries a request that failed for a passing reason (network, timeout, rate limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=4, ge=1, le=20, description="Tries per request, the first included.")
    initial_seconds: float = Field(default=1.0, gt=0, le=60, description="Wait before the first retry.")
    max_seconds: float = Field(default=30.0, gt=0, le=600, description="Longest wait between two tries.")

    @model_validator(mode="after")
    def _check_order(self) -> RetryPolicy:
        if self.max_seconds < self.initial_seconds:
            raise ValueError(f"max_seconds {self.max_seconds} is below initial_seconds {self.initial_seconds}")
        return self


class FeedSettings(ServiceSettings):
    """Which provider publishes bars: a replay that paces itself, or a live provider that polls."""

    model_config = SettingsConfigDict(env_prefix="FEED_", env_nested_delimiter="__", extra="ignore", frozen=True)

    port: int = Field(default=8001, ge=1, le=65535, description="Port of the HTTP API.")
    provider: Literal["none", "replay", "yfinance", "ccxt"] = Field(default="none", description="Where bars come from.")
    replay_fixture: str | None = Field(default=None, description="A bundled data set to replay.")
    replay_data: Path | None = Field(default=None, description="A CSV or Parquet file to replay.")
    replay_symbols: list[str] = Field(default_factory=list, description="Symbols to replay (JSON list; all if empty).")
    replay_speed: float = Field(
        default=0.0, ge=0, description="Bars per second at most; 0: as fast as the executor goes (LOGOS_REPLAY_WINDOW)."
    )
    replay_groups: list[str] = Field(
        default_factory=lambda: ["ml", "risk", "executor"],
        description="Consumer groups that must exist on the bar streams before the first bar.",
    )
    symbols: list[Symbol] = Field(
        default_factory=list, description='Symbols a live provider polls (JSON list, e.g. ["AAPL","MSFT"]).'
    )
    poll_seconds: float = Field(default=15.0, gt=0, le=3600, description="Pause between two polls of every symbol.")
    lookback_minutes: int = Field(
        default=120, ge=0, le=MAX_LOOKBACK_MINUTES, description="History the first poll fetches (strategy warm-up)."
    )
    stale_after_seconds: float = Field(
        default=180.0,
        gt=0,
        description="A symbol whose newest bar closed longer ago than this is stale (and /readyz answers 503).",
    )
    cache: bool = Field(default=True, description="Append every published bar to LOGOS_HOME/data/cache/bars/.")
    ccxt_exchange: str = Field(default="binance", description="ccxt exchange id whose public OHLCV is polled.")
    ccxt_symbol_map: dict[Symbol, Symbol] = Field(
        default_factory=lambda: {"BTC-USD": "BTC/USDT", "ETH-USD": "ETH/USDT"},
        description="Our symbol -> the exchange's unified symbol; others map BASE-QUOTE to BASE/QUOTE.",
    )
    ccxt_page_size: int = Field(
        default=500, ge=1, le=1000, description="Candles asked for per fetch_ohlcv request; longer gaps are paged."
    )
    yfinance_symbol_map: dict[Symbol, Symbol] = Field(
        default_factory=dict, description="Our symbol -> Yahoo's ticker; others are asked for by their own name."
    )
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Timeout of one HTTP request.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retries of passing request failures.")

    @model_validator(mode="after")
    def _check_replay_source(self) -> FeedSettings:
        if self.provider != "replay":
            return self
        if self.replay_fixture is None and self.replay_data is None:
            raise ValueError("the replay provider needs FEED_REPLAY_FIXTURE (a bundled data set) or FEED_REPLAY_DATA")
        if self.replay_fixture is not None:
            from logos.data.fixtures import list_fixtures  # imported here: only a replay pays for loading it

            known = list_fixtures()
            if self.replay_fixture not in known:
                raise ValueError(
                    f"FEED_REPLAY_FIXTURE {self.replay_fixture!r} is not a bundled data set (known: {', '.join(known)})"
                )
        return self

    @model_validator(mode="after")
    def _check_live_provider(self) -> FeedSettings:
        if self.provider not in LIVE_PROVIDERS:
            return self
        if not self.symbols:
            raise ValueError(
                f'the {self.provider} provider needs symbols: set FEED_SYMBOLS to a JSON list, e.g. ["AAPL","MSFT"]'
            )
        if self.provider == "ccxt":
            _check_exchange(self.ccxt_exchange)
        return self


def _check_exchange(name: str) -> None:
    """Refuse an exchange ccxt does not know, or one without public OHLCV."""
    import ccxt  # imported here: only a ccxt feed pays for loading it

    if name not in ccxt.exchanges:
        raise ValueError(f"FEED_CCXT_EXCHANGE {name!r} is not a ccxt exchange id (e.g. binance, kraken, coinbase)")
    if not getattr(ccxt, name)().has.get("fetchOHLCV"):
        raise ValueError(f"ccxt exchange {name!r} does not offer OHLCV candles (fetchOHLCV)")
