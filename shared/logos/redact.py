"""Masking of secrets: any value whose name looks like a key, secret, token or password."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from pydantic import SecretStr

MASK = "********"
_SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL)", re.IGNORECASE)
# query parameters are named more tersely than settings: ?pass=, ?pwd=, ?auth=
_SECRET_PARAMETER = re.compile(r"(KEY|SECRET|TOKEN|PASS|PWD|AUTH|CREDENTIAL)", re.IGNORECASE)
# a URL in text runs to the next blank, less the quotes and punctuation that close it
_URL = re.compile(r"""\b[a-z][a-z0-9+.-]*://\S+?(?=['"),;\]}>]*(?:\s|$))""", re.IGNORECASE)
_PARAMETER = re.compile(r"(?P<name>[^=&;?#]*)=(?P<value>[^&;#]*)")


def is_secret_name(name: str) -> bool:
    """Tell whether a setting or field name marks its value as secret."""
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """Mask the password and secret-named query parameters of a URL (``redis://:pw@host``, ``?password=pw``)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    # the user info ends at the last "@" before the query, so an unencoded "/" or "#" in a password is masked too
    head, question, query = rest.partition("?")
    userinfo, at, host_and_path = head.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon and password:
        head = f"{user}:{MASK}@{host_and_path}"
    return f"{scheme}://{head}{question}{_PARAMETER.sub(_masked_parameter, query)}"


def _masked_parameter(match: re.Match[str]) -> str:
    name, value = match.group("name"), match.group("value")
    if value and _SECRET_PARAMETER.search(unquote_plus(name)):
        return f"{name}={MASK}"
    return match.group(0)


def redact_text(text: str) -> str:
    """Mask the secrets of any URLs that appear inside free text (log lines, error messages)."""
    if "://" not in text:  # most log lines: skip the scan
        return text
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


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
