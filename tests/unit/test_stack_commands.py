"""`logos serve dashboard` and `logos status`: how the dashboard is started, what status exits with."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


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
