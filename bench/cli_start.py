"""Command-line start-up: how long `logos --help` and `logos version` take, as a user runs them.

    python bench/cli_start.py [--runs 11]

Each command runs --runs times as a fresh subprocess (the interpreter start, every import and the
command itself); the median and the range are printed against the goal. What a command imports
when it starts is held by a unit test (no pandas, numpy, ccxt or broker SDK for these two); this
measures what that buys.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_SECONDS = 0.5
COMMANDS = (["--help"], ["version"])


def logos_command() -> list[str]:
    script = Path(sys.executable).with_name("logos")
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]


def wall_times(arguments: list[str], runs: int) -> list[float]:
    """Seconds from spawn to exit of ``logos ARGUMENTS``, ``runs`` times (after one untimed run)."""
    command = [*logos_command(), *arguments]
    subprocess.run(command, capture_output=True, check=True)  # the first run fills the bytecode cache
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=11, help="runs per command (default 11)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print(f"logos start-up: {args.runs} runs of each command as a subprocess, goal: median <= {GOAL_SECONDS} s")
    verdicts = []
    for arguments in COMMANDS:
        seconds = wall_times(arguments, args.runs)
        median = statistics.median(seconds)
        verdict = "meets" if median <= GOAL_SECONDS else "misses"
        verdicts.append(verdict)
        label = "logos " + " ".join(arguments)
        print(f"  {label:<14} median {median:.3f} s (range {min(seconds):.3f}-{max(seconds):.3f} s): {verdict}")
    overall = "misses" if "misses" in verdicts else "meets"
    print(f"goal: `logos --help` and `logos version` <= {GOAL_SECONDS} s: {overall}")


if __name__ == "__main__":
    main()
