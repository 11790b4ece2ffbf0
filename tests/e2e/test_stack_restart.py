"""The local stack under `logos stack run` (what `make paper` runs): stopped or crashed mid-replay, one session.

Each test replays sma_demo_1m (3,000 bars, sma_cross: 59 fills) through the Procfile's processes and
ends with `logos stack replay-check`, whose trades must equal the backtest's.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import app as cli
from tests.e2e.test_local_stack import BIN, ROOT, Stack, wait_until

pytestmark = pytest.mark.e2e
SIZING = "notional:20000"


class SupervisedStack(Stack):
    """The Procfile stack under the supervisor `make paper` runs, on the test's own ports and home."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.tmp_path = tmp_path
        self.starts = 0
        self.env |= {
            "FEED_PROVIDER": "replay",
            "FEED_REPLAY_FIXTURE": "sma_demo_1m",
            "FEED_REPLAY_SPEED": "0",
            "ML_STRATEGY": "sma_cross",
            "ML_SIZING": SIZING,
            "RISK_CLOCK": "data",
            "LOGOS_READ_BLOCK_SECONDS": "0.05",
        }

    def start(self) -> None:
        for command in (["init", "--admin"], ["redis-acl", "--out", str(self.redis_dir / "users.acl")]):
            subprocess.run([str(BIN / "logos"), "secrets", *command], env=self.env, check=True, capture_output=True)
        self.starts += 1
        self.log = self.tmp_path / f"stack-{self.starts}.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(BIN / "logos"), "stack", "run", "-f", "Procfile", "--grace", "20"],
                cwd=ROOT,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def replayed(self) -> int:
        try:
            return int(httpx.get(self.url("feed") + "/status", timeout=2).json()["details"]["replayed"])
        except (httpx.HTTPError, KeyError, ValueError):
            return 0

    def replay_check(self) -> subprocess.CompletedProcess[str]:
        command = [str(BIN / "logos"), "stack", "replay-check", "--timeout", "300"]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=360)


def backtest_trades(tmp_path: Path) -> str:
    arguments = ["--fixture", "sma_demo_1m", "--strategy", "sma_cross", "--sizing", SIZING]
    result = CliRunner().invoke(cli, ["backtest", *arguments, "--runs-dir", str(tmp_path / "runs"), "--run-id", "b"])
    assert result.exit_code == 0, result.output
    return (tmp_path / "runs" / "b" / "trades.csv").read_text()


def test_stack_when_interrupted_mid_replay_and_started_again_then_one_session_equal_to_the_backtest(
    tmp_path: Path,
) -> None:
    stack = SupervisedStack(tmp_path)
    stack.start()
    try:
        wait_until(lambda: stack.replayed() >= 600, 180, "600 bars replayed")
        assert stack.replayed() < 3000
    finally:
        assert stack.stop() == 0, stack.output()[-3000:]  # Ctrl-C: a clean stop, Redis last
    first = stack.output()
    live = tmp_path / "home" / "runs" / "live"
    session = (live / "current_session").read_text().strip()  # the stop did not end the session

    stack.start()
    try:
        check = stack.replay_check()
        assert check.returncode == 0, f"{check.stdout}\n{check.stderr}\n{stack.output()[-3000:]}"
        assert "replay check passed: 3,000 bars, 59 fills" in check.stdout
    finally:
        assert stack.stop() == 0, stack.output()[-3000:]
    second = stack.output()
    assert "resuming the replay after sma_demo_1m@" in second
    assert f"executor: session {session} (started" in second
    assert [path.name for path in (live / "sessions").iterdir()] == [session]
    assert (live / "sessions" / session / "trades.csv").read_text() == backtest_trades(tmp_path)
    assert "Traceback" not in first + second, (first + second)[-5000:]


def test_stack_when_ml_is_killed_mid_replay_then_restarted_and_the_replay_check_passes(tmp_path: Path) -> None:
    stack = SupervisedStack(tmp_path)
    stack.start()
    try:
        wait_until(lambda: stack.replayed() >= 300, 180, "300 bars replayed")
        pids = re.findall(r"ml started \(pid (\d+)\)", stack.output())
        assert len(pids) == 1
        subprocess.run(["kill", "-9", pids[0]], check=True)
        wait_until(lambda: len(re.findall(r"ml started \(pid", stack.output())) == 2, 60, "ml started again")
        assert "ml exited with code -9; restarting in 1s" in stack.output()
        check = stack.replay_check()
        assert check.returncode == 0, f"{check.stdout}\n{check.stderr}\n{stack.output()[-3000:]}"
        assert "replay check passed: 3,000 bars, 59 fills" in check.stdout
    finally:
        assert stack.stop() == 0, stack.output()[-3000:]
    with httpx.Client(timeout=1) as client, pytest.raises(httpx.ConnectError):
        client.get(stack.url("ml") + "/healthz")
    assert "did not stop within" not in stack.output()  # every process stopped on SIGTERM
