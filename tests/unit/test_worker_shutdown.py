"""A background loop that meets a vanished Redis while its service stops ends quietly; before that, it fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import pytest

from logos.bus import BackendUnavailable, Bus
from logos.settings import LogosSettings
from services.brain.config import BrainSettings
from services.runtime.worker import ServiceWorker

pytestmark = pytest.mark.anyio


class LoopWorker(ServiceWorker):
    service = "brain"

    def __init__(self, fail_before_stop: bool) -> None:
        super().__init__(BrainSettings(logos=LogosSettings(), heartbeat_seconds=0.05), Bus.memory())  # type: ignore[call-arg]
        self.fail_before_stop = fail_before_stop

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        return [self._publish()]

    async def _publish(self) -> None:
        if not self.fail_before_stop:
            await self.stopping.wait()
        raise BackendUnavailable("redis unreachable: connection refused")


async def test_loop_when_redis_gone_during_shutdown_then_ends_without_error(caplog: pytest.LogCaptureFixture) -> None:
    worker = LoopWorker(fail_before_stop=False)
    await worker.start()
    with caplog.at_level(logging.INFO, logger="logos.worker"):
        await worker.stop()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert "a background loop ended during shutdown" in caplog.text


async def test_loop_when_redis_gone_while_running_then_logged_and_not_ready(caplog: pytest.LogCaptureFixture) -> None:
    worker = LoopWorker(fail_before_stop=True)
    with caplog.at_level(logging.ERROR, logger="logos.worker"):
        await worker.start()
        await asyncio.sleep(0.05)
    assert not worker.running()
    assert "a background loop failed" in caplog.text
    await worker.stop()
