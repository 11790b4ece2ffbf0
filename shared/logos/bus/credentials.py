"""The credentials a process connects to Redis with: its own user and the password from the secrets."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit, urlunsplit


def url_has_credentials(url: str) -> bool:
    """Tell whether ``url`` names a user or a password (in its user info or its query)."""
    parts = urlsplit(url)
    query = {name.lower() for name in parse_qs(parts.query)}
    return bool(parts.username or parts.password or query & {"username", "password"})


def url_with_credentials(url: str, user: str, password: str | None) -> str:
    """Return ``url`` connecting as ``user`` with ``password``; credentials in the URL win, no password adds none."""
    if password is None or url_has_credentials(url):
        return url
    parts = urlsplit(url)
    user_info = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return urlunsplit(parts._replace(netloc=user_info + parts.netloc))
