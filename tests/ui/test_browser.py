"""The dashboard in a real browser: every page opened in headless Chromium, checked and photographed.

Needs Debian's ``chromium`` (``scripts/bootstrap`` installs it) and the ``playwright`` package driving
it; no browser is ever downloaded. ``LOGOS_SCREENSHOTS=docs/img`` (``make screenshots``) keeps the
screenshots there, taken over a store filled by real backtests and a real paper session
(``tests/ui/demo_home.py``) in ``~/logos`` of a scratch home directory; otherwise they go to the
test's temporary directory, taken over the recorded artifacts with their odd and broken files.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import ALL_SECRETS, APP, SECRETS, copy_fixture_home, plant_file_secrets
from tests.ui.demo_home import build_demo_home

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("LOGOS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
# url path, title, screenshot name, an element every rendering of the page has
PAGES = [
    ("", "Overview", "overview", '[data-testid="stMetric"]'),
    ("backtests", "Backtests", "backtests", ".js-plotly-plot"),
    ("live_monitor", "Live Monitor", "live_monitor", ".js-plotly-plot"),
    ("strategy_lab", "Strategy Lab", "strategy_lab", '[data-testid="stExpander"]'),
    ("tutor", "Tutor", "tutor", '[data-testid="stImage"]'),
    ("settings", "Settings", "settings", '[data-testid="stJson"]'),
]
WIDTHS = (1280, 1920)


def _chromium_or_skip() -> str:
    path = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    if not path:
        pytest.skip(
            f"Chromium is not installed (looked for {CHROMIUM} and chromium on PATH); the browser test needs "
            "Debian's chromium package: run scripts/bootstrap (or apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed; install the dev extra (scripts/bootstrap)")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served by Streamlit over the recorded artifacts (or real runs), with secrets planted; its URL."""
    _chromium_or_skip()
    scratch = tmp_path_factory.mktemp("browser")
    environment = os.environ | SECRETS
    if os.environ.get("LOGOS_SCREENSHOTS"):
        # the documentation's pictures: real runs in the store a user would have, shown as ~/logos
        home = build_demo_home(scratch / "user" / "logos")
        plant_file_secrets(home, min(path.name for path in (home / "runs").glob("2*_*")))
        environment |= {"HOME": str(scratch / "user")}
    else:
        home = copy_fixture_home(scratch / "home")
        plant_file_secrets(home)
    environment |= {"LOGOS_HOME": str(home)}
    port = _free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]  # fmt: skip
    log = home / "streamlit.out"
    with log.open("wb") as output:
        server = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def tab(dashboard: str) -> Iterator[Any]:
    """One Chromium tab on the dashboard; pages are opened from the sidebar, as a user does."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium_or_skip(), args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": WIDTHS[0], "height": 900})
        page.goto(dashboard, wait_until="domcontentloaded")
        page.get_by_role("heading", name="Overview", level=1).wait_for(timeout=30_000)
        yield page
        chromium.close()


def screenshot_dir(tmp_path: Path) -> Path:
    configured = os.environ.get("LOGOS_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.mark.parametrize(("path", "title", "name", "marker"), PAGES, ids=[page[2] for page in PAGES])
def test_page_in_chromium_when_opened_then_no_error_no_secret_no_clipping(
    dashboard: str, tab: Any, tmp_path: Path, path: str, title: str, name: str, marker: str
) -> None:
    page = tab
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.wait_for_url(f"{dashboard}/{path}", timeout=20_000)
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=20_000)
    page.locator(marker).first.wait_for(timeout=20_000)
    # the page's script has finished and no element is still a loading placeholder
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=30_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000)
    page.wait_for_timeout(800)  # let charts and tables finish drawing
    html = page.content()
    text = page.inner_text("body")

    assert page.locator('[data-testid="stException"]').count() == 0, text[:2000]
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, text[:2000]
    assert "Traceback" not in text
    for secret in ALL_SECRETS:
        assert secret not in html, f"{secret} is in the HTML of {title}"
    page.screenshot(path=str(screenshot_dir(tmp_path) / f"dashboard_{name}.png"), full_page=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(200)
        overflow = page.evaluate(
            "() => { const main = document.querySelector('[data-testid=\"stMain\"]');"
            " return main.scrollWidth - main.clientWidth; }"
        )
        assert overflow <= 1, f"{title} is {overflow}px wider than the window at {width}px"
        clipped = page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=\"stMetricValue\"] *')]"
            ".filter(element => element.scrollWidth > element.clientWidth + 1).map(element => element.textContent)"
        )
        assert not clipped, f"metric values cut off on {title} at {width}px: {clipped}"
