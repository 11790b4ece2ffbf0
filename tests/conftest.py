"""Fixtures shared by every test: a real Redis server and a stream prefix of the test's own."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.settings import LogosSettings
from logos.streams import StreamNames
from tests.support.docker import docker_available
from tests.support.redis_process import RedisProcess

# No reaper container is needed: the fixtures below stop what they start.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes runs/ and risk state under its own directory, never the checkout's, with its own keys."""
    home = tmp_path / "home"
    monkeypatch.setenv("LOGOS_HOME", str(home))
    monkeypatch.setenv("RISK_CONTROL_TOKEN", "test-control-token")
    LogosSettings().secrets.ensure([ORDERS_KEY, CONTROL_KEY])  # what `logos secrets init` makes for a stack
    return home


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: TEST_REDIS_URL, else a testcontainers Redis, else a redis-server process."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    works, why_not = docker_available()
    if works and os.environ.get("LOGOS_TEST_REDIS", "") != "process":
        from testcontainers.community.redis import RedisContainer

        container = RedisContainer("redis:7-alpine")
        try:
            container.start()
        except Exception as exc:  # an engine that answers but cannot run the image
            with contextlib.suppress(Exception):
                container.stop()
            why_not = f"testcontainers could not start redis:7-alpine ({exc})"
        else:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
            container.stop()
            return
    if shutil.which("redis-server") is None:
        pytest.fail(f"no Redis for the tests: {why_not}, redis-server is not installed and TEST_REDIS_URL is unset")
    server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def names() -> StreamNames:
    """Stream names under a prefix no other test uses."""
    return StreamNames(prefix=f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def redis_dir(tmp_path: Path) -> Path:
    return tmp_path / "redis"
