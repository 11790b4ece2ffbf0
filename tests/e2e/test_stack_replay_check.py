"""`logos stack replay-check` on the local stack: a replayed fixture ends with the backtest's trades."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_local_stack import BIN, Stack

pytestmark = pytest.mark.e2e


def test_stack_replay_check_when_fixture_replayed_then_files_complete_and_equal_to_backtest(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.env |= {
        "FEED_PROVIDER": "replay",
        "FEED_REPLAY_FIXTURE": "sma_demo_1m",
        "FEED_REPLAY_SPEED": "0",
        "ML_STRATEGY": "sma_cross",
        "ML_SIZING": "notional:20000",
        "RISK_CLOCK": "data",
        "LOGOS_READ_BLOCK_SECONDS": "0.05",
        "EXECUTOR_SESSION_ID": "stack-replay",
    }
    stack.start()
    try:
        check = subprocess.run([str(BIN / "logos"), "stack", "replay-check", "--timeout", "240"], env=stack.env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert check.returncode == 0, f"{check.stdout}\n{check.stderr}\n{stack.output()[-3000:]}"
        assert "replay check passed: 3,000 bars" in check.stdout
        session = tmp_path / "home" / "runs" / "live" / "sessions" / "stack-replay"
        assert "3000 handled" in (session / "session.md").read_text()
        # a session whose trades were tampered with fails the same check
        trades = session / "trades.csv"
        trades.write_text(trades.read_text().replace(",buy,", ",sell,", 1))
        tampered = subprocess.run([str(BIN / "logos"), "stack", "replay-check", "--timeout", "30"], env=stack.env,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        assert tampered.returncode == 1 and "differs from the backtest" in tampered.stderr
    finally:
        assert stack.stop() in (0, 130, -2), stack.output()[-3000:]
