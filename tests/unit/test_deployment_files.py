"""The Makefile and compose.yaml: documented port overrides work, and Redis does not run as root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from logos.secrets import REDIS_USERS
from services.cli.stack import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def _make_exports(tmp_path: Path, environment: dict[str, str], *arguments: str) -> str:
    probe = tmp_path / "probe.mk"
    probe.write_text(f"include {ROOT / 'Makefile'}\nprobe:\n\t@echo $$LOGOS_LOCAL_REDIS_PORT $$LOGOS_REDIS_URL\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("LOGOS_", "LOCAL_REDIS"))}
    completed = subprocess.run(
        ["make", "-s", "-f", str(probe), "probe", *arguments],
        cwd=tmp_path,
        env=env | environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout.strip()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_when_local_redis_port_given_in_environment_or_on_command_line_then_the_stack_uses_it(
    tmp_path: Path,
) -> None:
    assert _make_exports(tmp_path, {}) == "6380 redis://127.0.0.1:6380/0"
    assert _make_exports(tmp_path, {"LOGOS_LOCAL_REDIS_PORT": "6390"}) == "6390 redis://127.0.0.1:6390/0"
    assert _make_exports(tmp_path, {}, "LOCAL_REDIS_PORT=6391") == "6391 redis://127.0.0.1:6391/0"
    both = _make_exports(tmp_path, {"LOGOS_LOCAL_REDIS_PORT": "6390"}, "LOCAL_REDIS_PORT=6392")
    assert both == "6392 redis://127.0.0.1:6392/0"  # the command line wins


def test_compose_when_ports_published_then_each_on_localhost_and_set_by_its_service_variable() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for name, entry in SERVICES.items():
        port = entry.settings().port  # type: ignore[attr-defined]
        assert services[name]["ports"] == [f"127.0.0.1:${{{name.upper()}_PORT:-{port}}}:{port}"]
    assert "ports" not in services["redis"]


def test_compose_when_redis_starts_then_as_its_own_user_with_the_acl_file_and_each_service_its_own_secrets() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    redis = services["redis"]
    assert redis["user"] == "redis"
    assert redis["depends_on"] == {"redis-volume": {"condition": "service_completed_successfully"}}
    owner = services["redis-volume"]
    assert "chown -R redis:redis /data /acl" in owner["command"][2]
    assert owner["depends_on"] == {"redis-acl": {"condition": "service_completed_successfully"}}
    assert services["redis-acl"]["command"] == ["logos", "secrets", "redis-acl", "--out", "/acl/users.acl"]
    command = redis["command"]
    assert command[command.index("--aclfile") + 1] == "/acl/users.acl" and "--requirepass" not in command
    assert command[command.index("--maxmemory") + 1] == "${REDIS_MAXMEMORY:-1gb}"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert "--user dashboard" in redis["healthcheck"]["test"][1]
    assert "REDIS_PASSWORD" not in (ROOT / "compose.yaml").read_text()
    given = {name: set(entry.get("secrets", [])) for name, entry in services.items()}
    assert given["risk"] == given["executor"] - {"redis-executor"} | {"redis-risk"}
    assert given["executor"] == {"redis-executor", "orders-key", "control-key"}
    for name in ("feed", "ml", "brain", "dashboard"):
        assert given[name] == {f"redis-{name}"}
    assert given["paper"] == given["replay"] == {"redis-cli", "control-key"}
    assert {f"redis-{user}" for user in REDIS_USERS} == given["redis-acl"]
    assert all(entry["file"].endswith(f"/{name}") for name, entry in compose["secrets"].items())
