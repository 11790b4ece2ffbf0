"""The stack's own secrets: Redis passwords per service and the keys that sign orders and control commands.

Each secret is one file in one directory: ``LOGOS_SECRETS_DIR``, by default ``.logos/secrets`` under
``LOGOS_HOME`` for the local stack, and ``/run/secrets`` in containers, where Docker mounts only the
files a service is given. Secrets are generated once (``logos secrets init``), never overwritten,
kept out of the repository, and written readable by their owner only. A service reads just the
files it needs; a missing one is a refusal to start that names the file and the command that makes it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from logos.names import check_name

SECRET_BYTES = 32
ORDERS_KEY = "orders-key"  # risk signs orders, denials and trading-state changes; the executor verifies
CONTROL_KEY = "control-key"  # the operator's control path signs commands; risk and the executor verify


# one Redis user per service, and one for the command line (stack watch, replay checks, the control path)
REDIS_USERS = ("feed", "ml", "risk", "executor", "brain", "dashboard", "cli")


def redis_password_name(user: str) -> str:
    """The file holding the Redis password of ``user`` (one user per service, and ``cli``)."""
    return f"redis-{user}"


def stack_secret_names() -> list[str]:
    """Every secret a stack needs: what `logos secrets init` creates."""
    return [*(redis_password_name(user) for user in REDIS_USERS), ORDERS_KEY, CONTROL_KEY]


class SecretMissing(ValueError):
    """A secret a service needs is not there; the message says which file and how to make it."""


@dataclass(frozen=True)
class SecretStore:
    """The secrets directory: one file per secret, its whole content the value (without a trailing newline)."""

    directory: Path

    def path(self, name: str) -> Path:
        check_name("secret name", name)
        return self.directory / name

    def get(self, name: str) -> str | None:
        """The secret's value, or None when its file is absent or empty."""
        try:
            value = self.path(name).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return value or None

    def require(self, name: str, needed_by: str) -> str:
        value = self.get(name)
        if value is None:
            raise SecretMissing(
                f"{needed_by} needs the secret {self.path(name)}, which is missing or empty; "
                "create the stack's secrets with `logos secrets init` (make paper does)"
            )
        return value

    def ensure(self, names: list[str]) -> list[str]:
        """Create each missing secret with fresh random bytes; return the names it created (never overwrites)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = []
        for name in names:
            path = self.path(name)
            if self.get(name) is not None:
                continue
            path.unlink(missing_ok=True)  # an empty file holds nothing to keep
            value = secrets.token_hex(SECRET_BYTES)
            # O_EXCL: of two starts at once only one writes, and the file is never readable by others
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(value + "\n")
            path.chmod(0o600)
            created.append(name)
        return created
