"""Settings every service has; each service subclasses them with its own env prefix."""

from __future__ import annotations

import ipaddress

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from logos.settings import LogosSettings


class ServiceSettings(BaseSettings):
    """HTTP bind, identity and heartbeat of one service; shared bus settings come from ``LOGOS_``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the HTTP API binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the HTTP API.")
    instance: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Consumer name in the bus groups; stable across restarts. Empty means the service name.",
    )
    heartbeat_seconds: float = Field(default=5.0, gt=0, le=300, description="Interval of status heartbeats.")
    logos: LogosSettings = Field(default_factory=LogosSettings)

    def public_bind(self) -> bool:
        """Tell whether the HTTP API listens beyond the loopback interface."""
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host != "localhost"
