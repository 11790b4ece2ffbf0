"""HTTP entry point of the risk service, with the token-protected kill switch."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, status
from pydantic import BaseModel, Field

from logos.bus import Bus
from logos.contracts import ControlCommand
from services.risk.config import RiskSettings
from services.risk.safety import startup_refusals
from services.risk.worker import RiskWorker
from services.runtime.app import build_app


class ControlRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why; recorded with the state change.")
    issued_by: str = Field(default="api", min_length=1, max_length=128)


class ControlResult(BaseModel):
    trading_state: str
    kill_switch: bool
    cause: str
    detail: str


def create_app(settings: RiskSettings | None = None, bus: Bus | None = None) -> FastAPI:
    """Return the risk app; refuse to build it without a control token or its core limits."""
    settings = settings or RiskSettings()
    app = build_app(settings, RiskWorker, bus, refusals=startup_refusals(settings))
    assert settings.control_token is not None  # refused above otherwise
    expected = settings.control_token.get_secret_value().encode()

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, presented = (authorization or "").partition(" ")
        # compare_digest takes the same time wherever the strings differ
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )

    async def apply(request: Request, command: ControlCommand, body: ControlRequest) -> ControlResult:
        worker: RiskWorker = request.app.state.worker
        event = await worker.control(command, body.reason, body.issued_by)
        return ControlResult(
            trading_state=worker.engine.state.value,
            kill_switch=worker.engine.killed,
            cause=event.cause,
            detail=event.detail,
        )

    @app.post("/kill", response_model=ControlResult, dependencies=[Depends(authorized)])
    async def kill(request: Request, body: ControlRequest) -> ControlResult:
        """Engage the kill switch: every intent is denied until an operator resumes."""
        return await apply(request, ControlCommand.KILL, body)

    @app.post("/resume", response_model=ControlResult, dependencies=[Depends(authorized)])
    async def resume(request: Request, body: ControlRequest) -> ControlResult:
        """Release the kill switch and any halt; trading becomes ACTIVE."""
        return await apply(request, ControlCommand.RESUME, body)

    return app
