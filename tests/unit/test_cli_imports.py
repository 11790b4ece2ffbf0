"""What the command line loads before a command runs: no data, broker or plotting library, so it starts at once.

Each check runs in a fresh interpreter and reads ``sys.modules``: a guard on what is imported, not
a timing (bench/cli_start.py measures the time).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "ccxt",
    "yfinance",
    "alpaca",
    "matplotlib",
    "sklearn",
    "scipy",
    "redis",
    "httpx",
    "fastapi",
    "uvicorn",
    "logos.backtest.engine",
    "logos.strategies",
    "logos.portfolio.allocators",
    "services.executor.worker",
    "services.ml.worker",
    "services.risk.worker",
    "services.feed.worker",
)


def loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it left in ``sys.modules``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_import_when_cli_loaded_then_no_heavy_module_imported() -> None:
    assert loaded_after("import services.cli") == []


@pytest.mark.parametrize("arguments", [["--help"], ["version"]])
def test_command_when_help_or_version_then_no_heavy_module_imported(arguments: list[str]) -> None:
    code = (
        "import contextlib, io\nfrom services.cli import run\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    run({arguments!r})"
    )
    assert loaded_after(code) == []
