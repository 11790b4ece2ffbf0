"""`make paper` without Docker: the Procfile stack as real processes, on ports of the test's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.redis_process import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API_SERVICES = ["feed", "ml", "risk", "executor", "brain"]
# streams and the groups that consume them, for the dead-letter check
CONSUMED = {
    "control": {"feed", "risk", "executor"},
    "bars:0": {"ml", "risk", "executor"},
    "intents:0": {"risk"},
    "orders": {"executor"},
    "signals": {"brain"},
}


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Stack:
    def __init__(self, tmp_path: Path) -> None:
        self.ports = {name: free_port() for name in [*API_SERVICES, "dashboard", "redis"]}
        self.redis_dir = tmp_path / "redis"
        self.log = tmp_path / "honcho.log"
        self.env = os.environ | {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "LOGOS_HOME": str(tmp_path / "home"),
            "LOGOS_LOCAL_REDIS_PORT": str(self.ports["redis"]),
            "LOGOS_LOCAL_REDIS_DIR": str(self.redis_dir),
            "LOGOS_REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "LOGOS_RECLAIM_IDLE_SECONDS": "1",
            "LOGOS_MAX_DELIVERIES": "2",
            "RISK_CONTROL_TOKEN": "e2e-token",
            **{f"{name.upper()}_PORT": str(self.ports[name]) for name in [*API_SERVICES, "dashboard"]},
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # what make paper does first: the secrets (and an operator's user for this test), then the ACL file
        for command in (["init", "--admin"], ["redis-acl", "--out", str(self.redis_dir / "users.acl")]):
            subprocess.run([str(BIN / "logos"), "secrets", *command], env=self.env, check=True, capture_output=True)
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(BIN / "honcho"), "start", "-f", "Procfile"],
                cwd=ROOT,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # what Ctrl-C does
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise AssertionError(f"the stack did not stop on Ctrl-C:\n{self.output()[-3000:]}") from None
        return self.process.returncode


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_local_stack_when_started_then_every_service_healthy_and_dashboard_answers(stack: Stack) -> None:
    with httpx.Client(timeout=5) as client:

        def all_ready() -> bool:
            ready = [client.get(stack.url(name) + "/readyz").status_code == 200 for name in API_SERVICES]
            return all(ready) and client.get(stack.url("dashboard") + "/_stcore/health").text == "ok"

        wait_until(all_ready, 90, "every service ready")
        for name in API_SERVICES:
            assert client.get(stack.url(name) + "/healthz").json() == {"status": "ok", "service": name}
            status = client.get(stack.url(name) + "/status").json()
            assert status["service"] == name and status["redis"]["reachable"] is True
            assert status["consumers"] and status["unsafe"] == []
            assert f'logos_service_up{{service="{name}"}} 1.0' in client.get(stack.url(name) + "/metrics").text
        assert "<html" in client.get(stack.url("dashboard") + "/").text.lower()
        wait_until(lambda: "Logos paper stack is up" in stack.output(), 30, "the banner of the paper process")

        # garbage written by hand to every consumed stream ends in the dead-letter stream
        with pytest.raises(redis.exceptions.AuthenticationError):  # the default user is off: no password, no Redis
            redis.Redis(port=stack.ports["redis"]).ping()
        admin = (Path(stack.env["LOGOS_HOME"]) / ".logos" / "secrets" / "redis-admin").read_text().strip()
        raw = redis.Redis(port=stack.ports["redis"], username="admin", password=admin, decode_responses=True)
        for topic in CONSUMED:
            raw.xadd(f"logos:{topic}", {"type": "bar", "v": "1", "body": "{oops"})
        # every group gives up on it alike, so each entry is dead-lettered once, by whichever group came first
        wait_until(lambda: raw.xlen("logos:dlq") == len(CONSUMED), 30, "one dead letter per stream")
        letters = [json.loads(fields["body"]) for _, fields in raw.xrange("logos:dlq")]
        assert sorted(letter["source_stream"] for letter in letters) == sorted(f"logos:{topic}" for topic in CONSUMED)
        assert all(letter["group"] in CONSUMED[letter["source_stream"].removeprefix("logos:")] for letter in letters)
        assert all(letter["reason"].startswith("invalid entry: ") for letter in letters)
        for name in API_SERVICES:
            assert client.get(stack.url(name) + "/readyz").status_code == 200
        wait_until(lambda: "DEAD LETTER" in stack.output(), 30, "the paper process to report the dead letters")

        cli = subprocess.run(
            [str(BIN / "logos"), "status", "--json"], env=stack.env, capture_output=True, text=True, timeout=60
        )
        assert cli.returncode == 0, cli.stderr
        reports = json.loads(cli.stdout)
        assert {name: reports[name]["state"] for name in reports} == dict.fromkeys(
            [*API_SERVICES, "dashboard"], "ready"
        )

        def logos(*args: str, token: str = "e2e-token") -> subprocess.CompletedProcess[str]:
            env = stack.env | {"RISK_CONTROL_TOKEN": token}
            return subprocess.run([str(BIN / "logos"), *args], env=env, capture_output=True, text=True, timeout=60)

        refused = logos("kill", "--reason", "e2e", token="wrong")
        assert refused.returncode == 2 and "401" in refused.stderr
        killed = logos("kill", "--reason", "e2e drill")
        assert killed.returncode == 0 and "kill switch on" in killed.stdout
        assert client.get(stack.url("risk") + "/status").json()["details"]["kill_switch"] is True
        resumed = logos("resume", "--reason", "drill over")
        assert resumed.returncode == 0 and "trading state active, kill switch off" in resumed.stdout

    assert stack.stop() in (0, 130, -2), stack.output()[-3000:]
    with httpx.Client(timeout=1) as client:
        for name in API_SERVICES:
            with pytest.raises(httpx.ConnectError):
                client.get(stack.url(name) + "/healthz")
    assert "Traceback" not in stack.output(), stack.output()[-5000:]
