"""HTTP entry point of the executor service: `uvicorn services.executor.app:create_app --factory`."""

from __future__ import annotations

from fastapi import FastAPI

from logos.bus import Bus
from services.executor.config import ExecutorSettings
from services.executor.safety import startup_refusals
from services.executor.worker import ExecutorWorker
from services.runtime.app import build_app


def create_app(settings: ExecutorSettings | None = None, bus: Bus | None = None) -> FastAPI:
    """Return the executor app, refusing unsafe settings; without a bus it connects to the Redis of its settings."""
    settings = settings or ExecutorSettings()
    return build_app(settings, ExecutorWorker, bus, refusals=startup_refusals(settings))
