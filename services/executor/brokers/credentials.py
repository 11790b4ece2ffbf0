"""Proof that an account's credentials were checked: a stamp ``logos brokers check`` writes when all is ready.

The stamp holds a salted fingerprint of the key and secret, never either of them, so a live start
can tell that exactly these credentials were accepted by the venue not long ago.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from logos.files import atomic_write_text
from logos.paths import Paths
from services.executor.config import ExecutorSettings

STAMP_VALID_FOR = timedelta(hours=24)


def credential_pair(settings: ExecutorSettings) -> tuple[SecretStr | None, SecretStr | None]:
    if settings.broker == "alpaca":
        return settings.alpaca_api_key, settings.alpaca_secret_key
    return settings.ccxt_api_key, settings.ccxt_secret


def fingerprint(key: SecretStr | None, secret: SecretStr | None) -> str:
    """A one-way, salted digest of the key pair (empty when a part is missing)."""
    if not key or not secret or not key.get_secret_value() or not secret.get_secret_value():
        return ""
    material = f"logos-credentials\0{key.get_secret_value()}\0{secret.get_secret_value()}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def stamp_path(paths: Paths, settings: ExecutorSettings) -> Path:
    venue = settings.broker + (f"-{settings.exchange}" if settings.broker == "ccxt" else "")
    return paths.runs / "live" / "credentials" / f"{venue}-{settings.venue_endpoint()}.json"


def write_stamp(settings: ExecutorSettings, now: datetime | None = None) -> Path:
    """Record that the current credentials passed every check."""
    path = stamp_path(settings.logos.paths, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"broker": settings.broker, "exchange": settings.exchange, "endpoint": settings.venue_endpoint(),
            "fingerprint": fingerprint(*credential_pair(settings)),
            "checked_at": (now or datetime.now(UTC)).isoformat()}  # fmt: skip
    atomic_write_text(path, json.dumps(body, indent=2) + "\n")
    return path


def stamp_problem(settings: ExecutorSettings, now: datetime | None = None) -> str | None:
    """Why the current credentials do not count as checked, or None when they do."""
    path = stamp_path(settings.logos.paths, settings)
    try:
        stamp: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return "have not been checked"
    current = fingerprint(*credential_pair(settings))
    if not current or stamp.get("fingerprint") != current:
        return "changed since they were last checked"
    checked = datetime.fromisoformat(str(stamp.get("checked_at")))
    if (now or datetime.now(UTC)) - checked > STAMP_VALID_FOR:
        return f"were last checked {checked:%Y-%m-%d %H:%M} UTC, over 24 hours ago"
    return None
