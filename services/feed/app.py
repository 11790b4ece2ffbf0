"""HTTP entry point of the feed service: `uvicorn services.feed.app:create_app --factory`."""

from __future__ import annotations

from fastapi import FastAPI

from logos.bus import Bus
from services.feed.config import FeedSettings
from services.feed.worker import FeedWorker
from services.runtime.app import build_app


def create_app(settings: FeedSettings | None = None, bus: Bus | None = None) -> FastAPI:
    """Return the feed app; without a bus it connects to the Redis of its settings."""
    return build_app(settings or FeedSettings(), FeedWorker, bus)
