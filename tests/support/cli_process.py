"""Run the ``logos`` command in its own process, as a user or a container would start it."""

from __future__ import annotations

import os
import subprocess
import sys

# a Redis nobody listens on: a command that got as far as connecting would fail, not hang
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def run_logos(
    *arguments: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``logos ARGUMENTS`` with ``env`` over this process's environment; return what it printed and its code."""
    environment = {**os.environ, "LOGOS_REDIS_URL": UNREACHABLE_REDIS, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
