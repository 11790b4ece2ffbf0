"""Masking of secrets: any value whose name looks like a key, secret, token or password."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

MASK = "********"
_SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL)", re.IGNORECASE)
_URL_WITH_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^:/@\s]*):([^@\s]+)@", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Tell whether a setting or field name marks its value as secret."""
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """Mask the password in a URL such as ``redis://:pw@host:6379/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}{port}"))


def redact_text(text: str) -> str:
    """Mask passwords in any URLs that appear inside free text (log lines, error messages)."""
    return _URL_WITH_PASSWORD.sub(lambda match: f"{match.group(1)}{match.group(2)}:{MASK}@", text)


def redact(value: Any, name: str = "", text: Callable[[str], str] = redact_text) -> Any:
    """Return a copy of ``value`` with secrets masked, recursing into mappings and sequences.

    Strings that are not secret by name go through ``text`` (URL passwords by default).
    """
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if name and is_secret_name(name) and value not in (None, ""):
        return MASK
    if isinstance(value, Mapping):
        return {key: redact(item, str(key), text) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item, name, text) for item in value)
    if isinstance(value, str):
        return text(value)
    return value
