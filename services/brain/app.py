"""HTTP entry point of the brain service: `uvicorn services.brain.app:create_app --factory`."""

from __future__ import annotations

from fastapi import FastAPI

from logos.bus import Bus
from services.brain.config import BrainSettings
from services.brain.worker import BrainWorker
from services.runtime.app import build_app


def create_app(settings: BrainSettings | None = None, bus: Bus | None = None) -> FastAPI:
    """Return the brain app; without a bus it connects to the Redis of its settings."""
    return build_app(settings or BrainSettings(), BrainWorker, bus)
