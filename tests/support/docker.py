"""Whether a Docker engine (and Compose v2) can be used by the tests, and why not."""

from __future__ import annotations

import shutil
import subprocess


def docker_available() -> tuple[bool, str]:
    """Tell whether a Docker engine answers, and why not when it does not."""
    if shutil.which("docker") is None:
        return False, "the docker client is not installed"
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return False, f"no Docker engine answers ({type(exc).__name__})"
    return True, "docker engine answers"


def compose_available() -> tuple[bool, str]:
    """Tell whether ``docker compose`` (v2) can run against a live engine."""
    works, why = docker_available()
    if not works:
        return works, why
    result = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if result.returncode != 0 or "v2" not in result.stdout:
        return False, "docker compose v2 is not installed"
    return True, result.stdout.strip()
