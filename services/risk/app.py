"""HTTP entry point of the risk service, with the token-protected kill switch."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, status
from pydantic import BaseModel, Field

from logos.bus import Bus
from logos.contracts import ControlCommand
from services.risk.config import RiskSettings
from services.risk.worker import RiskWorker
from services.runtime.app import build_app
from services.runtime.errors import StartupRefused


class ControlRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why; recorded with the state change.")
    issued_by: str = Field(default="api", min_length=1, max_length=128)


class ControlResult(BaseModel):
    trading_state: str
    kill_switch: bool
    cause: str
    detail: str


def create_app(settings: RiskSettings | None = None, bus: Bus | None = None) -> FastAPI:
    """Return the risk app; refuse to build it without a control token."""
    settings = settings or RiskSettings()
    token = settings.control_token.get_secret_value() if settings.control_token else ""
    if not token:
        raise StartupRefused(
            "risk: RISK_CONTROL_TOKEN is not set; the kill switch needs it. Set it (e.g. `openssl rand -hex 16`) "
            "in the environment or .env, and use the same value with `logos kill`."
        )
    app = build_app(settings, RiskWorker, bus)
    expected = token.encode()

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
