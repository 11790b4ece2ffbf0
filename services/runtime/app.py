"""The FastAPI shell every service shares: lifespan, /healthz, /readyz, /status and /metrics."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from logos import __version__
from logos.bus import BackendUnavailable, Bus
from logos.redact import redact, redact_url
from services.runtime.errors import StartupRefused
from services.runtime.logging_setup import configure_logging
from services.runtime.metrics import render_metrics
from services.runtime.settings import ServiceSettings
from services.runtime.worker import ServiceWorker


class Health(BaseModel):
    status: str
    service: str


class Readiness(BaseModel):
    ready: bool
    service: str
    redis: bool
    worker: bool
    problems: list[str] = []


class StreamLoad(BaseModel):
    stream: str
    pending: int | None
    lag: int | None  # entries still there to read
    lost: int | None = None  # entries trimmed before the group read them (stream_gap)


class ConsumerReport(BaseModel):
    group: str
    connected: bool
    handled: dict[str, int]
    dead_lettered: int
    handler_failures: int
    reclaimed: int
    reconnects: int
    streams: list[StreamLoad]


class LastMessage(BaseModel):
    stream: str
    entry_id: str
    type: str
    at: datetime


class StatusReport(BaseModel):
    service: str
    instance: str
    version: str
    state: str
    uptime_seconds: float
    redis: dict[str, Any]
    last_message: LastMessage | None
    consumers: list[ConsumerReport]
    published: dict[str, int]
    dead_letter_stream_length: int | None
    unsafe: list[str]
    details: dict[str, Any]
    bus_problems: list[str] = []  # stream gaps and lag over LOGOS_MAX_LAG; each makes /readyz answer 503
    bars: dict[str, Any] = {}  # the bar guard's refused and non-monotonic bars by symbol
    settings: dict[str, Any]


def get_worker(request: Request) -> ServiceWorker:
    worker: ServiceWorker = request.app.state.worker
    return worker


WorkerDependency = Annotated[ServiceWorker, Depends(get_worker)]


def build_app(
    settings: ServiceSettings,
    worker_class: type[ServiceWorker],
    bus: Bus | None = None,
    refusals: Sequence[str] = (),
) -> FastAPI:
    """Return the service's app, or raise StartupRefused with one line per refusal; its lifespan runs the worker.

    Every start goes through here (``logos serve``, a plain ``uvicorn --factory``, the tests), so a
    service's own safety refusals cannot be skipped.
    """
    if refusals:
        raise StartupRefused(*(f"{worker_class.service}: {line}" for line in refusals))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.logos.log_level)
        service_bus = bus or Bus.redis(
            settings.logos.redis_url_for(worker_class.service),  # its own Redis user (logos.bus.acl)
            settings.logos.streams,
            block_seconds=settings.logos.read_block_seconds,
            maxlen=settings.logos.stream_maxlen,
            hard_maxlen=settings.logos.stream_hard_maxlen,
            trim_seconds=settings.logos.stream_trim_seconds,
        )
        try:
            worker = worker_class(settings, service_bus)
            app.state.worker = worker
            await worker.start()
        except StartupRefused as exc:
            if not getattr(app.state, "exit_on_refusal", False):
                raise
            # `logos serve`: the refusal's lines and exit 2, as for a refused configuration, not
            # the server's traceback of a failed lifespan (nothing has started that needs stopping)
            sys.stderr.write("".join(f"error: {line}\n" for line in exc.lines))
            sys.stderr.flush()
            os._exit(2)
        try:
            yield
        finally:
            await worker.stop()
            if bus is None:
                await service_bus.close()

    app = FastAPI(title=f"logos {worker_class.service}", version=__version__, lifespan=lifespan)

    @app.get("/healthz", response_model=Health)
    async def healthz(worker: WorkerDependency) -> Health:
        """Report that the process is alive; checks no dependency."""
        return Health(status="ok", service=worker.service)

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz(worker: WorkerDependency) -> Any:
        """Report 200 only when Redis answers, every worker loop runs and the service has no problem, else 503."""
        redis_ok = await worker.bus.ping(timeout_seconds=0.5)
        problems = worker.bus_problems() + worker.ready_problems()
        body = Readiness(
            ready=redis_ok and worker.running() and not problems,
            service=worker.service,
            redis=redis_ok,
            worker=worker.running(),
            problems=problems,
        )
        return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)

    @app.get("/status", response_model=StatusReport)
    async def status(worker: WorkerDependency) -> StatusReport:
        """Describe the service: version, uptime, last message, backlog, dead letters, unsafe settings."""
        return await build_status(worker)

    @app.get("/metrics", response_class=Response)
    async def metrics(worker: WorkerDependency) -> Response:
        """Expose Prometheus metrics."""
        body, content_type = render_metrics(worker)
        return Response(content=body, media_type=content_type)

    return app


async def build_status(worker: ServiceWorker) -> StatusReport:
    """Collect the /status report, querying Redis for backlog when it answers."""
    reachable = await worker.bus.ping(timeout_seconds=0.5)
    dlq_length: int | None = None
    if reachable:
        try:
            await worker.refresh_loads()
            dlq_length = await worker.bus.length(worker.names.dlq)
        except BackendUnavailable:
            reachable = False
    consumers = []
    for group, stats in worker.stats.items():
        load = worker.loads.get(group)
        streams = [
            StreamLoad(
                stream=info.stream,
                pending=info.pending if reachable else None,
                lag=info.behind() if reachable else None,
                lost=worker.stream_gaps.get((info.stream, group), info.lost() or 0) if reachable else None,
            )
            for info in (load.infos if load else [])
        ]
        consumers.append(
            ConsumerReport(
                group=group,
                connected=stats.connected,
                handled=dict(stats.handled),
                dead_lettered=stats.dead_lettered,
                handler_failures=stats.handler_failures,
                reclaimed=stats.reclaimed,
                reconnects=stats.reconnects,
                streams=streams,
            )
        )
    latest = max(
        (stats.last for stats in worker.stats.values() if stats.last), key=lambda entry: entry.at, default=None
    )
    settings = worker.settings
    return StatusReport(
        service=worker.service,
        instance=worker.instance,
        version=__version__,
        state=worker.state.value,
        uptime_seconds=round(worker.uptime_seconds(), 3),
        redis={"url": redact_url(settings.logos.redis_url.get_secret_value()), "reachable": reachable},
        last_message=LastMessage(**vars(latest)) if latest else None,
        consumers=consumers,
        published=dict(worker.published),
        dead_letter_stream_length=dlq_length,
        unsafe=worker.warnings(),
        details=worker.details(),
        bus_problems=worker.bus_problems(),
        bars=worker.bar_checks(),
        settings=redact(settings.model_dump(mode="json", exclude={"logos": {"redis_url"}})),
    )
