"""A LOGOS_HOME filled by the real commands, for the documentation's screenshots (``make screenshots``).

Three backtests on the bundled fixtures and one replayed paper session, run exactly as a user runs
them; the tutor lesson is the recorded one (no command writes lessons yet).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ui.conftest import FIXTURE_HOME

COMMANDS = [
    "backtest --fixture crypto_1m --symbol BTC-USD --strategy sma_cross --param fast=20 --param slow=60",
    "backtest --fixture crypto_1m --symbol ETH-USD --strategy donchian_breakout",
    "backtest --fixture equities_1m --symbol AAPL --strategy rsi_reversion",
    "trade --paper --feed replay --fixture crypto_1m --symbol BTC-USD --strategy sma_cross --param fast=20 "
    "--param slow=60",
]


def _logos(home: Path, arguments: str) -> None:
    command = [sys.executable, "-m", "services.cli", *arguments.split()]
    environment = os.environ | {"LOGOS_HOME": str(home)}
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL, timeout=300)


def build_demo_home(home: Path) -> Path:
    """Run the backtests and the paper session into ``home`` and return it."""
    home.mkdir(parents=True, exist_ok=True)
    for arguments in COMMANDS:
        _logos(home, arguments)
    shutil.copytree(FIXTURE_HOME / "runs" / "lessons", home / "runs" / "lessons")
    return home
