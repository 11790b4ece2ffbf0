"""HTTP entry point of the ml service: `uvicorn services.ml.app:create_app --factory`."""

from __future__ import annotations

from fastapi import FastAPI

from logos.bus import Bus
from services.ml.config import MLSettings
from services.ml.worker import MLWorker
from services.runtime.app import build_app


def create_app(settings: MLSettings | None = None, bus: Bus | None = None) -> FastAPI:
    """Return the ml app; without a bus it connects to the Redis of its settings."""
    return build_app(settings or MLSettings(), MLWorker, bus)
