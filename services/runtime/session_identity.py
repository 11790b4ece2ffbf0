"""One session across services: recorded once in Redis, checked by every service before it consumes.

A stack on Redis runs one session at a time. Its identity (an id, when it started, who recorded it)
is kept under ``<prefix>:session``; each service that defines what the session trades (the feed's
data, ml's strategy, the executor's account) records a fingerprint of that configuration under
``<prefix>:session:<id>:config:<service>``. The first service to start records the identity
(``SET NX``, so two services starting at once agree), every later one adopts it:

- **resume**: the executor's ``runs/live/current_session``, risk's tag beside ``risk_state.json``,
  the consumer groups' positions in Redis and the feed's progress all belong to the recorded id;
- **refuse**: a service whose own state belongs to another session (the executor's pointer, risk's
  tag), or that finds Redis holding streams no session was recorded for, or whose configuration
  differs from the one the session started with, exits with one line naming both and the commands;
- **start fresh**: only ``logos session new`` (``make paper FRESH=1``), with the stack stopped,
  which clears the stack's streams, risk's state and the executor's pointer together.

A clean stop does not end a session: the next start resumes it. The in-memory bus of ``logos
trade`` is one process, so it has nothing to check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from logos.bus import Bus
from logos.bus.memory_backend import MemoryBackend
from logos.files import atomic_write_text
from logos.names import UnsafeName, check_name
from logos.redact import redact_url
from services.runtime.errors import StartupRefused

if TYPE_CHECKING:
    import redis

    from logos.settings import LogosSettings
    from services.runtime.settings import ServiceSettings
    from services.runtime.worker import ServiceWorker

log = logging.getLogger("logos.session")
REDIS_WAIT_SECONDS = 30.0
FRESH = "`logos session new` (make paper FRESH=1; the stack stopped)"
RESUME = "`logos session resume`"
# the settings that define what a session trades, by service: a change of any of them is a new session
FINGERPRINTED: dict[str, tuple[str, ...]] = {
    "feed": ("provider", "replay_fixture", "replay_data", "replay_symbols", "symbols"),
    "ml": ("strategy", "params", "sizing", "shadow_strategy", "shadow_params"),
    "executor": ("account", "cash", "fills", "broker", "exchange"),
}
# streams a fresh session keeps: the dead letters are a record of what went wrong, the heartbeats harmless
KEPT_ON_FRESH = ("dlq", "status")


class SessionIdentity(BaseModel):
    """The stack's session as Redis records it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    started_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class LocalClaim:
    """A service's own state outside Redis and the session it belongs to (None: an unrecorded one)."""

    session_id: str | None
    where: Path


def new_session_id() -> str:
    """A new session's id: the wall-clock second it starts (the executor's directory name)."""
    return datetime.now(UTC).strftime("%Y%m%d_%H%M%S")


def session_key(prefix: str) -> str:
    return f"{prefix}:session"


def config_key(prefix: str, session_id: str, service: str) -> str:
    return f"{prefix}:session:{session_id}:config:{service}"


def executor_key(prefix: str, session_id: str) -> str:
    """The key naming the executor's session directory in session ``session_id``."""
    return f"{prefix}:session:{session_id}:executor"


def fingerprint(settings: ServiceSettings, service: str) -> str | None:
    """The SHA-256 of the settings that define what ``service`` trades (None: it defines nothing)."""
    fields = FINGERPRINTED.get(service)
    if not fields:
        return None
    values = settings.model_dump(mode="json", include=set(fields))
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def risk_tag(state_path: Path) -> Path:
    """The file beside risk_state.json that names the session risk's state belongs to."""
    return state_path.with_name(state_path.name + ".session")


def risk_claim(state_path: Path) -> LocalClaim | None:
    """Risk's state and its session: the tag's id, None for a state file without a tag, nothing when neither exists."""
    tag = risk_tag(state_path)
    if tag.exists():
        return LocalClaim(tag.read_text().strip() or None, tag)
    return LocalClaim(None, state_path) if state_path.exists() else None


def executor_claim(pointer: Path) -> LocalClaim | None:
    """The session the executor's pointer names (a crash or a clean stop left it), refusing an unsafe name."""
    if not pointer.exists():
        return None
    session_id = pointer.read_text().strip()
    try:
        check_name(f"session id in {pointer}", session_id)
    except UnsafeName as exc:
        raise StartupRefused(f"executor: {exc}; remove the file to start a new session") from None
    return LocalClaim(session_id, pointer)


def uses_redis(bus: Bus) -> bool:
    return not isinstance(bus.backend, MemoryBackend)


def redis_url(logos: LogosSettings, user: str) -> str:
    """The URL ``user`` connects with (its own Redis user where the stack has them)."""
    url_for = getattr(logos, "redis_url_for", None)
    return str(url_for(user)) if callable(url_for) else logos.redis_url.get_secret_value()


def connect(logos: LogosSettings, user: str, wait_seconds: float = REDIS_WAIT_SECONDS) -> redis.Redis:
    """A connection to the stack's Redis, waiting up to 30 s for it to answer (a stack starting together)."""
    import redis

    url = redis_url(logos, user)
    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0, decode_responses=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            client.ping()
            return client
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            if time.monotonic() > deadline:
                client.close()
                raise StartupRefused(
                    f"{user}: Redis at {redact_url(url)} did not answer within {wait_seconds:.0f}s "
                    f"({exc}); the stack's session cannot be checked"
                ) from None
            time.sleep(0.25)


def has_consumed(client: redis.Redis, group: str, streams: Sequence[str]) -> bool:
    """Tell whether ``group`` has been delivered anything on ``streams``: state a session left in Redis."""
    import redis

    for stream in streams:
        try:
            groups = client.xinfo_groups(stream)
        except redis.exceptions.ResponseError:  # no such stream
            continue
        if any(info["name"] == group and info["last-delivered-id"] != "0-0" for info in groups):
            return True
    return False


def settle(
    client: redis.Redis,
    settings: ServiceSettings,
    service: str,
    *,
    claim: LocalClaim | None,
    proposed_id: str,
    consumed: bool,
    compare_claim: bool = True,
) -> SessionIdentity:
    """Return the stack's session, recording it as ``proposed_id`` if none is; refuse a mix with one line.

    ``compare_claim`` false: the claim only says there is local state (the executor compares its own).
    """
    prefix = settings.logos.stream_prefix
    key = session_key(prefix)
    identity = read_identity(client, key)
    if identity is None:
        if claim is not None:
            held = claim.session_id or "an unrecorded session"
            raise StartupRefused(
                f"{service}: {claim.where} holds state of session {held} but Redis ({prefix}) records no session "
                f"(its data was lost or never recorded); start fresh with {FRESH}"
            )
        if consumed:
            raise StartupRefused(
                f"{service}: Redis holds the {prefix} streams of a session it never recorded (its group has read "
                f"them); start fresh with {FRESH}"
            )
        recorded = SessionIdentity(id=proposed_id, started_at=datetime.now(UTC), recorded_by=service)
        if client.set(key, recorded.model_dump_json(), nx=True):
            log.info("%s: recorded a new session %s", service, recorded.id)
            identity = recorded
        else:  # another service recorded it first: adopt theirs
            identity = read_identity(client, key)
            assert identity is not None
    elif compare_claim and claim is not None and claim.session_id != identity.id:
        held = claim.session_id or "an unrecorded session"
        raise StartupRefused(
            f"{service}: {claim.where} belongs to session {held} but the stack's session (Redis {key}) is "
            f"{identity.id}; resume {identity.id} with {RESUME} or start fresh with {FRESH}"
        )
    _check_configuration(client, settings, service, identity)
    return identity


def read_identity(client: redis.Redis, key: str) -> SessionIdentity | None:
    """The recorded session under ``key``, if any."""
    raw = client.get(key)
    return SessionIdentity.model_validate_json(str(raw)) if raw is not None else None


def _check_configuration(
    client: redis.Redis, settings: ServiceSettings, service: str, identity: SessionIdentity
) -> None:
    """Record this service's fingerprint with the session, or refuse one that differs from the recorded one."""
    mine = fingerprint(settings, service)
    if mine is None:
        return
    key = config_key(settings.logos.stream_prefix, identity.id, service)
    if client.set(key, mine, nx=True):
        return
    recorded = str(client.get(key))
    if recorded != mine:
        names = ", ".join(
            f"{settings.model_config.get('env_prefix', '')}{name.upper()}" for name in FINGERPRINTED[service]
        )
        raise StartupRefused(
            f"{service}: its configuration ({names}) differs from the one session {identity.id} started with "
            f"(fingerprint {mine} against {recorded}); restore it to resume, or start fresh with {FRESH}"
        )


def check_worker(worker: ServiceWorker) -> SessionIdentity | None:
    """Settle the session of a service at start (the executor settles its own when it opens its files)."""
    if not uses_redis(worker.bus) or worker.service == "executor":
        return None
    claim: LocalClaim | None = None
    state_path: Path | None = None
    if worker.service == "risk":
        state_path = worker.settings.state_path()  # type: ignore[attr-defined]
        claim = risk_claim(state_path)
    client = connect(worker.settings.logos, worker.service)
    try:
        consumed = any(has_consumed(client, s.group, s.streams) for s in worker.subscriptions())
        proposed = new_session_id()
        identity = settle(client, worker.settings, worker.service, claim=claim, proposed_id=proposed, consumed=consumed)
    finally:
        client.close()
    if state_path is not None:
        atomic_write_text(risk_tag(state_path), identity.id + "\n")
    log.info("%s: session %s (started %s)", worker.service, identity.id, identity.started_at.isoformat())
    return identity


def check_executor(
    settings: ServiceSettings,
    bus: Bus,
    pointer: Path,
    explicit_id: str | None,
    default_id: str,
    streams: Sequence[str],
) -> str:
    """The executor's session directory: the one recorded with the stack's session (resumed), else a new one.

    ``explicit_id`` is EXECUTOR_SESSION_ID when it is set; the pointer is the directory a stop or a crash left.
    """
    if not uses_redis(bus):  # one process (logos trade): a set id wins, else the session a crash interrupted
        if explicit_id is not None:
            return explicit_id
        held = executor_claim(pointer)
        return held.session_id if held is not None and held.session_id else default_id
    claim = executor_claim(pointer)
    if explicit_id is not None and claim is not None and claim.session_id != explicit_id:
        raise StartupRefused(
            f"executor: EXECUTOR_SESSION_ID is {explicit_id} but {pointer} holds session {claim.session_id}; "
            f"unset it to resume {claim.session_id}, or start fresh with {FRESH}"
        )
    proposed = explicit_id or (claim.session_id if claim is not None and claim.session_id else default_id)
    client = connect(settings.logos, "executor")
    try:
        consumed = has_consumed(client, "executor", streams)
        identity = settle(
            client, settings, "executor", claim=claim, proposed_id=proposed, consumed=consumed, compare_claim=False
        )
        directory = _executor_directory(client, settings, identity, claim, explicit_id, consumed)
    finally:
        client.close()
    log.info("executor: session %s (started %s)", directory, identity.started_at.isoformat())
    return directory


def _executor_directory(
    client: redis.Redis,
    settings: ServiceSettings,
    identity: SessionIdentity,
    claim: LocalClaim | None,
    explicit_id: str | None,
    consumed: bool,
) -> str:
    """The executor's session directory in the stack's session: recorded once, the same at every restart.

    It is the session's id unless EXECUTOR_SESSION_ID names another (the session may have been recorded
    by a service that started first).
    """
    key = executor_key(settings.logos.stream_prefix, identity.id)
    recorded = client.get(key)
    held = claim.session_id if claim is not None else None
    if recorded is None:
        if held is not None:  # the pointer is of a session before this one
            raise StartupRefused(
                f"executor: {claim.where if claim else ''} holds session {held} but the stack's session "
                f"(Redis {session_key(settings.logos.stream_prefix)}) is {identity.id}; resume {identity.id} "
                f"with {RESUME} or start fresh with {FRESH}"
            )
        if client.set(key, explicit_id or identity.id, nx=True):
            return explicit_id or identity.id
        recorded = client.get(key)
    recorded = str(recorded)
    for mine, where in ((held, str(claim.where) if claim else ""), (explicit_id, "EXECUTOR_SESSION_ID")):
        if mine is not None and mine != recorded:
            raise StartupRefused(
                f"executor: {where} holds session {mine} but the stack's session (Redis "
                f"{session_key(settings.logos.stream_prefix)}) is {recorded}; resume {recorded} with {RESUME} "
                f"or start fresh with {FRESH}"
            )
    state = settings.logos.paths.runs / "live" / "sessions" / recorded / "state.jsonl"
    if held is None and consumed and not state.exists():
        # the group read the session's orders and bars, but their effects are nowhere: a flat restart would orphan them
        raise StartupRefused(
            f"executor: its group has read session {recorded}'s streams but {state} does not exist; "
            f"start fresh with {FRESH}"
        )
    return recorded


def describe(client: redis.Redis, prefix: str) -> dict[str, Any] | None:
    """The recorded session and the fingerprints of its services, for ``logos session show``."""
    identity = read_identity(client, session_key(prefix))
    if identity is None:
        return None
    configs = {service: client.get(config_key(prefix, identity.id, service)) for service in FINGERPRINTED}
    directory = client.get(executor_key(prefix, identity.id))
    return identity.model_dump(mode="json") | {"executor_directory": directory, "configuration": configs}
