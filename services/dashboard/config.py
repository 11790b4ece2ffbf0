"""Settings of the dashboard (prefix ``DASHBOARD_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from logos.redact import is_secret_name
from logos.settings import LogosSettings
from services.dashboard.masking import mask_value


class DashboardSettings(BaseSettings):
    """Where the Streamlit server listens; it reads the artifact store under ``LOGOS_HOME``."""

    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the Streamlit server binds to.")
    port: int = Field(default=8501, ge=1, le=65535, description="Port of the Streamlit server.")
    logos: LogosSettings = Field(default_factory=LogosSettings)


# prefixes of the stack's settings (.env.example lists them all)
STACK_PREFIXES = ("LOGOS_", "FEED_", "ML_", "RISK_", "EXECUTOR_", "BRAIN_", "DASHBOARD_", "REDIS_")


def stack_environment() -> dict[str, Any]:
    """The stack's settings found in the environment, plus any secret-looking variable, secrets masked."""
    found = {
        name: value
        for name, value in sorted(os.environ.items())
        if name.startswith(STACK_PREFIXES) or is_secret_name(name)
    }
    return mask_value(found)  # type: ignore[no-any-return]


def dotenv_file(path: Path) -> dict[str, Any] | None:
    """The settings of a ``.env`` file, secrets masked; None when there is no such file."""
    if not path.is_file():
        return None
    return mask_value({name: value or "" for name, value in dotenv_values(path).items()})  # type: ignore[no-any-return]
