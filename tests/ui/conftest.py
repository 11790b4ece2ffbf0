"""Fixtures of the dashboard tests: a copy of the recorded artifact store, an empty one, planted secrets."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.dashboard import data_access

FIXTURE_HOME = Path(__file__).resolve().parents[1] / "fixtures"
APP = Path(__file__).resolve().parents[2] / "services" / "dashboard" / "app.py"
PAGES = {
    "pages/overview.py": "Overview",
    "pages/backtests.py": "Backtests",
    "pages/live_monitor.py": "Live Monitor",
    "pages/strategy_lab.py": "Strategy Lab",
    "pages/settings.py": "Settings",
    "pages/tutor.py": "Tutor",
}
# fake secrets, planted in the environment and in config files; none may ever be shown
SECRETS = {
    "RISK_CONTROL_TOKEN": "planted-control-token-5f1c",
    "LOGOS_REDIS_URL": "redis://:planted-redis-password-9a2b@127.0.0.1:6380/0",
    "ALPACA_API_KEY": "planted-alpaca-key-77e0",
    "BINANCE_API_KEY": "planted-binance-key-3d4e",
    "EXECUTOR_BROKER_SECRET": "planted-broker-secret-c0de",
}
FILE_SECRETS = ("planted-dotenv-token-a1a1", "planted-yaml-api-key-b2b2", "planted-url-password-c3c3")
ALL_SECRETS = (
    "planted-control-token-5f1c",
    "planted-redis-password-9a2b",
    "planted-alpaca-key-77e0",
    "planted-binance-key-3d4e",
    "planted-broker-secret-c0de",
    *FILE_SECRETS,
    "fixture-redis-password",
)


def copy_fixture_home(destination: Path) -> Path:
    """Copy tests/fixtures' runs/ and logs/ (symlinks kept) to ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("runs", "logs"):
        shutil.copytree(FIXTURE_HOME / name, destination / name, symlinks=True)
    return destination


def plant_file_secrets(home: Path, run: str = "20240101_000000_sma_cross_sma_demo_1m") -> None:
    """Secrets in a .env file and in a backtest's config.yaml, as a careless operator might leave them."""
    (home / ".env").write_text(
        f"RISK_CONTROL_TOKEN={FILE_SECRETS[0]}\nREDIS_PASSWORD={FILE_SECRETS[0]}\n"
        f"LOGOS_REDIS_URL=redis://:{FILE_SECRETS[2]}@redis:6379/0\nFEED_PROVIDER=replay\n"
    )
    config = home / "runs" / run / "config.yaml"
    config.write_text(
        config.read_text()
        + f"broker:\n  api_key: {FILE_SECRETS[1]}\n  url: https://user:{FILE_SECRETS[2]}@broker.example\n"
    )


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    data_access.reset_caches()
    yield
    data_access.reset_caches()


@pytest.fixture
def fixture_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LOGOS_HOME pointing at a private copy of the recorded artifacts."""
    home = copy_fixture_home(tmp_path / "fixture_home")
    monkeypatch.setenv("LOGOS_HOME", str(home))
    return home


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LOGOS_HOME with an empty runs/ and nothing else."""
    home = tmp_path / "empty_home"
    (home / "runs").mkdir(parents=True)
    monkeypatch.setenv("LOGOS_HOME", str(home))
    return home


@pytest.fixture
def planted_secrets(fixture_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    plant_file_secrets(fixture_home)
    return fixture_home


def tree_digest(root: Path) -> dict[str, tuple[int, str]]:
    """Every entry under ``root``: modification time and content hash (symlinks by target)."""
    digest = {}
    for path in sorted(root.rglob("*")):
        status = path.lstat()
        if path.is_symlink():
            content = str(path.readlink())
        elif path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = "dir"
        digest[str(path.relative_to(root))] = (status.st_mtime_ns, content)
    return digest
