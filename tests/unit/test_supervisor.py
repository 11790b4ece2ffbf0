"""logos stack run: the Procfile's processes (real ones, small shell commands), restarted, prefixed and stopped."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.cli.supervisor import ProcessSpec, ProcfileError, Supervisor, read_env_file, read_procfile
from tests.support.cli_process import run_logos

ROOT = Path(__file__).resolve().parents[2]


def run_for(supervisor: Supervisor, seconds: float) -> int:
    """Run ``supervisor`` in a thread for ``seconds``, then ask it to stop; return its exit code."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run(poll_seconds=0.02)))
    thread.start()
    supervisor.stopping.wait(seconds)
    supervisor.stopping.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return result[0]


def lines_of(out: io.StringIO, name: str) -> list[str]:
    return [line.split(" | ", 1)[1] for line in out.getvalue().splitlines() if line.split(" ")[1] == name]


def test_read_procfile_when_the_repository_procfile_then_every_process_in_order_redis_first() -> None:
    names = [spec.name for spec in read_procfile(ROOT / "Procfile")]
    assert names == ["redis", "feed", "ml", "risk", "executor", "brain", "dashboard", "paper"]


def test_read_procfile_when_a_line_is_not_name_colon_command_then_refused_naming_the_line(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("# the stack\nweb: exec server\nthis is not a process\n")
    with pytest.raises(ProcfileError, match=r"Procfile:3: expected 'name: command', got 'this is not a process'"):
        read_procfile(procfile)


def test_read_env_file_when_quoted_exported_and_commented_then_values_as_honcho_reads_them(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# comment\nexport A=1\nB='two words'\nC=\"x=y\"\n\nnot a setting\n")
    assert read_env_file(env) == {"A": "1", "B": "two words", "C": "x=y"}
    assert read_env_file(tmp_path / "missing") == {}


def test_supervisor_when_a_process_exits_then_restarted_with_backoff_and_its_lines_prefixed() -> None:
    out = io.StringIO()
    specs = [ProcessSpec("steady", "exec sleep 30"), ProcessSpec("flaky", "echo run $$; exit 3")]
    supervisor = Supervisor(specs, dict(os.environ), out=out, initial_backoff=0.05, grace_seconds=5)

    assert run_for(supervisor, 1.5) == 0

    flaky = supervisor.processes[1]
    runs = [line for line in lines_of(out, "flaky") if line.startswith("run ")]
    assert flaky.restarts >= 3 and len(runs) >= 3 and len(set(runs)) == len(runs)  # a new process each time
    notes = lines_of(out, "system")
    assert "flaky exited with code 3; restarting in 0.05s" in notes
    assert "flaky exited with code 3; restarting in 0.1s" in notes  # the backoff doubles
    assert supervisor.processes[0].restarts == 0
    assert notes[-1] == "steady stopped (code -15)"  # the first line's process stops last


def test_supervisor_when_a_process_refuses_to_start_then_the_stack_stops_with_exit_2() -> None:
    out = io.StringIO()
    specs = [ProcessSpec("redis", "exec sleep 30"), ProcessSpec("executor", "echo 'error: mixed sessions' >&2; exit 2")]
    supervisor = Supervisor(specs, dict(os.environ), out=out, grace_seconds=5)

    assert run_for(supervisor, 10) == 2

    assert lines_of(out, "executor") == ["error: mixed sessions"]
    assert "executor refused to start (exit 2); stopping the stack" in lines_of(out, "system")
    assert all(item.process is None for item in supervisor.processes)


def test_supervisor_when_a_process_ignores_sigterm_then_killed_after_the_grace_period() -> None:
    out = io.StringIO()
    specs = [ProcessSpec("stubborn", "trap '' TERM; echo ready; while true; do sleep 0.1; done")]
    supervisor = Supervisor(specs, dict(os.environ), out=out, grace_seconds=0.5)
    started = time.monotonic()

    run_for(supervisor, 0.5)

    assert time.monotonic() - started < 10
    notes = lines_of(out, "system")
    assert "stubborn did not stop within 0.5s; killing it" in notes
    assert notes[-1] == "stubborn stopped (code -9)"


def test_stack_run_when_the_procfile_is_missing_then_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_logos("stack", "run", "-f", str(tmp_path / "Procfile"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: cannot read {tmp_path / 'Procfile'}: No such file or directory"]


def test_stack_run_when_interrupted_then_every_process_stopped_and_exit_0(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    marker = tmp_path / "stopped"
    procfile.write_text(
        f"first: exec sleep 60\nsecond: trap 'echo bye > {marker}; exit 0' TERM; echo up; sleep 60 & wait\n"
    )
    command = [sys.executable, "-m", "services.cli", "stack", "run", "-f", str(procfile)]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared")])}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.rstrip().endswith("second | up"):
            break
    process.send_signal(signal.SIGINT)  # what Ctrl-C does
    rest = process.communicate(timeout=30)[0]
    assert process.returncode == 0, rest
    assert "SIGINT received; stopping" in rest
    assert marker.read_text() == "bye\n"  # it was sent SIGTERM, not killed
    assert rest.index("second stopped") < rest.index("first stopped")
