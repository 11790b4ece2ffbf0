"""HTTP entry point of the risk service: `uvicorn services.risk.app:create_app --factory`."""

from __future__ import annotations

from fastapi import FastAPI

from logos.bus import Bus
from services.risk.config import RiskSettings
from services.risk.worker import RiskWorker
from services.runtime.app import build_app


def create_app(settings: RiskSettings | None = None, bus: Bus | None = None) -> FastAPI:
    """Return the risk app; without a bus it connects to the Redis of its settings."""
    return build_app(settings or RiskSettings(), RiskWorker, bus)
