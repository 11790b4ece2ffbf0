"""``logos session show|new|resume``: the stack's one session (services/runtime/session_identity.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from logos.files import atomic_write_text
from logos.settings import LogosSettings
from services.runtime.errors import StartupRefused

if TYPE_CHECKING:
    import redis

session_app = typer.Typer(help="Show, resume or start fresh the local stack's one session.", no_args_is_help=True)


class SessionRefused(RuntimeError):
    """A session command that cannot do what it was asked; the message says why and what to do."""


def _pointer(logos: LogosSettings) -> Path:
    return logos.paths.runs / "live" / "current_session"


def _risk_state() -> Path:
    from services.risk.config import RiskSettings

    return RiskSettings().state_path()


def _client(logos: LogosSettings, wait_seconds: float, user: str = "cli") -> redis.Redis:
    from services.runtime.session_identity import connect

    try:
        return connect(logos, user, wait_seconds)
    except StartupRefused as exc:
        raise SessionRefused(str(exc).removeprefix(f"{user}: ")) from None


def _clearing_user(logos: LogosSettings) -> str:
    """The operator's Redis user when its secret exists (it may delete streams), else the command line's."""
    from logos.bus.acl import ADMIN_USER
    from logos.secrets import redis_password_name

    return ADMIN_USER if logos.secrets.get(redis_password_name(ADMIN_USER)) else "cli"


def _fresh_id(logos: LogosSettings, old: str | None) -> str:
    """A new id whose executor directory does not exist yet (two fresh starts within one second)."""
    from services.runtime.session_identity import new_session_id

    base = new_session_id()
    sessions = logos.paths.runs / "live" / "sessions"
    candidate, number = base, 1
    while candidate == old or (sessions / candidate).exists():
        number += 1
        candidate = f"{base}_{number}"
    return candidate


def start_fresh(logos: LogosSettings, wait_seconds: float = 30.0) -> list[str]:
    """Clear the stack's streams, risk's state and the executor's pointer, and record a new session."""
    import redis

    from services.runtime.session_identity import KEPT_ON_FRESH, SessionIdentity, read_identity, session_key

    names = logos.streams
    user = _clearing_user(logos)
    client = _client(logos, wait_seconds, user)
    try:
        old = read_identity(client, session_key(names.prefix))
        kept = {getattr(names, topic) for topic in KEPT_ON_FRESH}
        cleared = [stream for stream in names.all() if stream not in kept]
        try:
            client.delete(*cleared)
            fresh_id = _fresh_id(logos, old.id if old else None)
            fresh = SessionIdentity(id=fresh_id, started_at=datetime.now(UTC), recorded_by="cli")
            client.set(session_key(names.prefix), fresh.model_dump_json())
        except redis.exceptions.NoPermissionError as exc:
            raise SessionRefused(
                f"Redis refused user {user} ({exc}); a fresh session needs DEL on the {names.prefix} streams and "
                f"SET on {session_key(names.prefix)}: create the operator's user with `logos secrets init --admin` "
                "and `logos secrets redis-acl`"
            ) from None
    finally:
        client.close()
    state = _risk_state()
    from services.runtime.session_identity import risk_tag

    for path in (state, risk_tag(state), _pointer(logos)):
        path.unlink(missing_ok=True)
    was = f" (was {old.id})" if old else ""
    return [
        f"fresh session {fresh.id}{was}: cleared {len(cleared)} streams of {names.prefix} (the dead letters kept), "
        f"risk's state and the executor's pointer; the feed's replay starts from the beginning"
    ]


def _refuse(exc: SessionRefused) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _stack_running() -> list[str]:
    import httpx

    from services.cli.stack import SERVICES, base_url

    answering = []
    with httpx.Client(timeout=0.5) as client:
        for name, entry in SERVICES.items():
            if entry.app is None:
                continue
            try:
                client.get(base_url(entry, compose=False) + "/healthz")
            except httpx.HTTPError:
                continue
            answering.append(name)
    return answering


@session_app.command("new")
def new() -> None:
    """Start fresh: clear the stack's streams and risk's state and record a new session (the stack stopped)."""
    running = _stack_running()
    if running:
        _refuse(SessionRefused(f"the stack is running ({', '.join(running)} answer); stop it first (Ctrl-C)"))
    try:
        lines = start_fresh(LogosSettings(), wait_seconds=2.0)
    except SessionRefused as exc:
        _refuse(exc)
    for line in lines:
        typer.echo(line)


@session_app.command("resume")
def resume() -> None:
    """Point the executor and risk at the session Redis records (its files must exist): the next start resumes it."""
    from services.runtime.session_identity import executor_key, read_identity, risk_tag, session_key

    logos = LogosSettings()
    client = None
    directory: str | None = None
    try:
        client = _client(logos, 2.0)
        identity = read_identity(client, session_key(logos.stream_prefix))
        if identity is not None:
            directory = str(client.get(executor_key(logos.stream_prefix, identity.id)) or identity.id)
    except SessionRefused as exc:
        _refuse(exc)
    finally:
        if client is not None:
            client.close()
    if identity is None:
        _refuse(SessionRefused(f"Redis records no session for {logos.stream_prefix}; start one with `make paper`"))
    assert identity is not None
    assert directory is not None
    state = logos.paths.runs / "live" / "sessions" / directory / "state.jsonl"
    if not state.exists():
        problem = f"session {identity.id} has no executor state ({state} does not exist), so it cannot be resumed"
        _refuse(SessionRefused(f"{problem}; start fresh with `logos session new`"))
    atomic_write_text(_pointer(logos), directory + "\n")
    risk_state = _risk_state()
    if risk_state.exists() or risk_tag(risk_state).exists():  # its kill switch and breakers stay as they are
        atomic_write_text(risk_tag(risk_state), identity.id + "\n")
    typer.echo(f"the executor and risk now belong to session {identity.id}; the next start resumes it")


@session_app.command("show")
def show() -> None:
    """Print the session Redis records and the executor's and risk's own; exit 1 when none is recorded."""
    from services.runtime.session_identity import describe, risk_claim

    logos = LogosSettings()
    try:
        client = _client(logos, 2.0)
    except SessionRefused as exc:
        _refuse(exc)
    try:
        recorded = describe(client, logos.stream_prefix)
    finally:
        client.close()
    pointer = _pointer(logos)
    risk = risk_claim(_risk_state())
    report = {
        "recorded": recorded,
        "executor": pointer.read_text().strip() if pointer.exists() else None,
        "risk": risk.session_id if risk else None,
    }
    typer.echo(json.dumps(report, indent=2))
    if recorded is None:
        raise typer.Exit(1)
