"""Settings shared by every process of a deployment (prefix ``LOGOS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from logos.bus.credentials import url_with_credentials
from logos.bus.options import ConsumerOptions
from logos.paths import Paths
from logos.secrets import SecretStore, redis_password_name
from logos.streams import StreamNames
from logos.symbols import SpecCatalog, load_catalog


class LogosSettings(BaseSettings):
    """Where the bus and the artifact store are, and how delivery behaves."""

    model_config = SettingsConfigDict(env_prefix="LOGOS_", extra="ignore", frozen=True)

    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6380/0"),
        description="Redis connection URL; may hold a password, so it is treated as a secret.",
    )
    stream_prefix: str = Field(default="logos", description="Prefix of every stream name.")
    shards: int = Field(default=1, ge=1, le=256, description="Shards of the per-symbol streams (bars, intents).")
    home: Path = Field(default=Path("."), description="Root of runs/, data/ and logs/.")
    stream_maxlen: int = Field(
        default=100_000,
        ge=1_000,
        description="Entries each stream keeps once its groups have acknowledged them (approximate).",
    )
    stream_hard_maxlen: int = Field(
        default=1_000_000,
        ge=1_000,
        description="Last-resort cap of a stream whose group stopped acknowledging; trimming past it loses entries.",
    )
    stream_trim_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often a producer trims the streams it appended to."
    )
    max_lag: int = Field(
        default=10_000, ge=1, description="Entries a group may have left to read before its service is not ready."
    )
    bar_future_tolerance_seconds: float = Field(
        default=300.0, ge=0, description="How far after the wall clock a bar may be dated before it is refused."
    )
    max_bar_gap_seconds: float = Field(
        default=4 * 86_400.0,
        ge=0,
        description="Largest step between two bars of a symbol taken without confirmation (0: no check).",
    )
    max_deliveries: int = Field(
        default=5, ge=1, description="Deliveries before an entry goes to the dead-letter stream."
    )
    reclaim_idle_seconds: float = Field(
        default=30.0, gt=0, description="Idle time after which a pending entry is reclaimed."
    )
    read_block_seconds: float = Field(default=1.0, gt=0, le=30, description="How long one read waits for new entries.")
    batch_size: int = Field(
        default=100, ge=1, le=10_000, description="Entries read per call, and handled per transaction."
    )
    replay_window: int = Field(
        default=256,
        ge=0,
        le=100_000,
        description="Bars a replay runs ahead of the executor (a credit window; 0: no limit, no executor needed). "
        "It sets speed and memory, never results.",
    )
    container: bool = Field(
        default=False,
        description="Set in the image: binding 0.0.0.0 is then the container's own interface, and the "
        "ports compose publishes (127.0.0.1 only) decide the exposure.",
    )
    catalog: Path | None = Field(
        default=None,
        description="Symbol specs (JSON list; default: the bundled data's). Others get 0.01 ticks, whole lots.",
    )
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    secrets_dir: Path | None = Field(
        default=None,
        description="Directory of the stack's secrets, one file each (default: .logos/secrets under LOGOS_HOME; "
        "/run/secrets in containers).",
    )

    @property
    def streams(self) -> StreamNames:
        return StreamNames(prefix=self.stream_prefix, shards=self.shards)

    @property
    def paths(self) -> Paths:
        return Paths(self.home)

    @property
    def secrets(self) -> SecretStore:
        return SecretStore(self.secrets_dir if self.secrets_dir is not None else self.home / ".logos" / "secrets")

    def redis_url_for(self, user: str) -> str:
        """The Redis URL ``user`` connects with: its password from the secrets (``redis-<user>``) when that exists.

        A password in LOGOS_REDIS_URL wins; no secret file means no credentials (a Redis without users).
        """
        password = self.secrets.get(redis_password_name(user))
        return url_with_credentials(self.redis_url.get_secret_value(), user, password)

    def symbol_specs(self) -> SpecCatalog:
        """The symbol specs every service sizes, quantizes and fills with."""
        from logos.data.fixtures import fixture_catalog

        return SpecCatalog(load_catalog(self.catalog) if self.catalog else fixture_catalog())

    def consumer_options(self) -> ConsumerOptions:
        return ConsumerOptions(
            batch_size=self.batch_size,
            block_seconds=self.read_block_seconds,
            max_deliveries=self.max_deliveries,
            reclaim_idle_seconds=self.reclaim_idle_seconds,
        )


class LogosDebug(BaseSettings):
    """``LOGOS_DEBUG``: show an unexpected error's traceback; read alone, so no other bad setting can hide it."""

    model_config = SettingsConfigDict(env_prefix="LOGOS_", extra="ignore", frozen=True)

    debug: bool = Field(default=False, description="Show tracebacks of unexpected errors on the command line.")

    @classmethod
    def enabled(cls) -> bool:
        """Tell whether LOGOS_DEBUG is set to a true value; an unreadable value counts as off."""
        try:
            return cls().debug
        except ValueError:
            return False
