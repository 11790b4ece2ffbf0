"""`docker compose up paper`: the same stack in containers, brought up with testcontainers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.docker import compose_available

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
ROOT = Path(__file__).resolve().parents[2]
PORTS = {"feed": 8001, "ml": 8002, "risk": 8003, "executor": 8004, "brain": 8005}


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def readyz(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code
    except httpx.HTTPError:
        return None


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_compose_when_up_paper_then_every_service_healthy_and_reachable_on_localhost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    works, why = compose_available()
    if not works:
        pytest.skip(f"needs a Docker engine with compose v2: {why}")
    busy = [port for port in [*PORTS.values(), 8501] if port_in_use(port)]
    if busy:
        pytest.fail(f"ports {busy} are taken (is a local stack running?); the compose stack publishes them")
    from testcontainers.compose import DockerCompose

    # what `make secrets` does, into a directory of the test's own (compose reads LOGOS_SECRETS_DIR)
    secrets_dir = tmp_path / "secrets"
    monkeypatch.setenv("LOGOS_SECRETS_DIR", str(secrets_dir))
    subprocess.run([sys.executable, "-m", "services.cli", "secrets", "init", "--containers"], check=True, cwd=ROOT)
    password = (secrets_dir / "redis-dashboard").read_text().strip()
    env_file = tmp_path / ".env"
    env_file.write_text("RISK_CONTROL_TOKEN=compose-e2e-token\n")
    project = f"logos-e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", project)
    compose = DockerCompose(
        ROOT, "compose.yaml", build=True, wait=True, env_file=str(env_file), services=["paper"], quiet_build=True
    )
    command = ["docker", "compose", "-f", str(ROOT / "compose.yaml"), "--env-file", str(env_file)]
    try:
        compose.start()
        for name, port in PORTS.items():
            wait_for(lambda port=port: readyz(port) == 200, 90, f"{name} ready")  # type: ignore[misc]
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok", "service": name}
            status = httpx.get(f"http://127.0.0.1:{port}/status")
            assert status.json()["state"] == "ready" and status.json()["unsafe"] == []
            assert password not in status.text
            assert f'logos_service_up{{service="{name}"}} 1.0' in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert httpx.get("http://127.0.0.1:8501/_stcore/health").text == "ok"
        wait_for(lambda: "Logos paper stack is up" in compose.get_logs("paper")[0], 60, "the paper banner")

        healthcheck = 'REDISCLI_AUTH="$1" redis-cli --user "$0" ping | grep -qx PONG'
        attempts = [("default", ""), ("dashboard", "wrong"), ("dashboard", password)]
        in_redis = [*command, "exec", "-T", "redis", "sh", "-c", healthcheck]
        codes = [subprocess.run([*in_redis, user, key], check=False).returncode for user, key in attempts]
        assert codes == [1, 1, 0]
        # the server itself (PID 1 after the shell's exec), not only what `exec` runs as
        uids = subprocess.run(
            [*command, "exec", "-T", "redis", "grep", "^Uid:", "/proc/1/status"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[1:]
        assert uids and "0" not in uids, uids

        subprocess.run([*command, "stop", "redis"], check=True, capture_output=True)
        wait_for(lambda: readyz(PORTS["risk"]) == 503, 30, "risk 503 while Redis is down")
        subprocess.run([*command, "start", "redis"], check=True, capture_output=True)
        wait_for(lambda: readyz(PORTS["risk"]) == 200, 60, "risk ready again without a restart")
    finally:
        # the whole project, volumes included, even when start-up failed half-way
        subprocess.run(
            [*command, "--profile", "paper", "down", "--volumes", "--remove-orphans"], check=False, capture_output=True
        )
