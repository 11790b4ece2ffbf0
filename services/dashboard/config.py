"""Settings of the dashboard (prefix ``DASHBOARD_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from logos.settings import LogosSettings


class DashboardSettings(BaseSettings):
    """Where the Streamlit server listens; it reads the artifact store under ``LOGOS_HOME``."""

    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the Streamlit server binds to.")
    port: int = Field(default=8501, ge=1, le=65535, description="Port of the Streamlit server.")
    logos: LogosSettings = Field(default_factory=LogosSettings)
