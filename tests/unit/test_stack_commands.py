"""`logos serve dashboard` and `logos status`: how the dashboard is started, what status exits with."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.cli.stack import SERVICES
from tests.support.cli_process import run_logos
from tests.support.redis_process import free_port

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
REAL_CLIENT = httpx.Client


def test_serve_dashboard_when_started_then_streamlit_shows_the_viewer_toolbar(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []

    def execv(path: str, argv: list[str]) -> NoReturn:
        started.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", execv)
    monkeypatch.setenv("DASHBOARD_PORT", "8600")
    result = runner.invoke(app, ["serve", "dashboard"])
    assert result.exit_code == 0, result.output
    (argv,) = started
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("services/dashboard/app.py")
    assert "--client.toolbarMode=viewer" in argv and "--server.port=8600" in argv
    assert "--browser.gatherUsageStats=false" in argv and "--server.headless=true" in argv


def test_dashboard_when_started_by_plain_streamlit_then_the_viewer_toolbar(isolated_home: Path) -> None:
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    assert tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]["toolbarMode"] == "viewer"
    config.set_option("client.toolbarMode", "auto")
    dashboard = AppTest.from_file(str(ROOT / "services" / "dashboard" / "app.py"), default_timeout=30)
    dashboard.run()
    assert not dashboard.exception and config.get_option("client.toolbarMode") == "viewer"


def _free_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in ("FEED", "ML", "RISK", "EXECUTOR", "BRAIN", "DASHBOARD"):
        monkeypatch.setenv(f"{service}_PORT", str(free_port()))


def _answering(monkeypatch: pytest.MonkeyPatch, down: set[str]) -> None:
    """Every service answers its /status (the dashboard its health) except those in ``down``."""
    ports = {str(SERVICES[name].settings().port): name for name in SERVICES}  # type: ignore[attr-defined]

    def handler(request: httpx.Request) -> httpx.Response:
        name = ports[str(request.url.port)]
        if name in down:
            raise httpx.ConnectError("connection refused", request=request)
        if name == "dashboard":
            return httpx.Response(200, text="ok")
        return httpx.Response(200, json={"state": "running", "uptime_seconds": 5, "consumers": [], "unsafe": []})

    monkeypatch.setattr(httpx, "Client", lambda: REAL_CLIENT(transport=httpx.MockTransport(handler)))


def test_status_when_every_service_is_down_then_exit_1_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    _free_ports(monkeypatch)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["down: feed, ml, risk, executor, brain, dashboard"]
    assert runner.invoke(app, ["status", "--json"]).exit_code == 1


def test_status_when_every_service_answers_then_exit_0_and_when_one_is_down_then_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _free_ports(monkeypatch)
    _answering(monkeypatch, down=set())
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "down" not in result.output and "running" in result.output
    _answering(monkeypatch, down={"risk"})
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1 and result.stderr.splitlines() == ["down: risk"]


def test_serve_when_the_worker_refuses_to_start_then_its_line_and_exit_2_without_a_traceback(
    isolated_home: Path,
) -> None:
    pointer = isolated_home / "runs" / "live" / "current_session"
    pointer.parent.mkdir(parents=True)
    pointer.write_text("../../etc\n")
    done = run_logos("serve", "executor", env={"EXECUTOR_PORT": str(free_port())})

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: executor: session id in {pointer} '../../etc' is not a safe name: use 1-128 letters, digits, '.', "
        "'_' or '-', starting with a letter or digit; remove the file to start a new session"
    ]
