"""``logos stack run``: the Procfile's processes, restarted when one exits, as ``restart: unless-stopped`` does.

Every line of the Procfile (``name: command``) is one process, run by ``/bin/sh -c`` in its own
process group with the environment of ``.env`` (if present) over this one's, as honcho ran them.
Their output is interleaved line by line, prefixed with the time and the process's name, coloured
on a terminal. The first line's process (the stack's Redis) starts first and stops last.

- A process that exits while the stack runs is started again after a backoff (1 s, doubling to
  30 s; back to 1 s once it has run for a minute). Exit code 2 is a refusal (a configuration or a
  session it must not run with): it would only be refused again, so the whole stack stops with it.
- Ctrl-C or SIGTERM stops every process with SIGTERM, the first line's last, and SIGKILL after a
  grace period; the supervisor then exits 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated

import typer

INITIAL_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0  # a process that ran this long starts over at the initial backoff
GRACE_SECONDS = 10.0
REFUSED = 2  # `logos serve` and the command line exit 2 on a refused configuration
COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95")  # honcho's order, roughly
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


class ProcfileError(ValueError):
    """A Procfile that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str


def read_procfile(path: Path) -> list[ProcessSpec]:
    """The processes of a Procfile in order; blank lines and ``#`` comments are skipped."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProcfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    specs: list[ProcessSpec] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ProcfileError(f"{path}:{number}: expected 'name: command', got {line.strip()[:60]!r}")
        if any(spec.name == match[1] for spec in specs):
            raise ProcfileError(f"{path}:{number}: process {match[1]!r} is defined twice")
        specs.append(ProcessSpec(match[1], match[2].strip()))
    if not specs:
        raise ProcfileError(f"{path} names no process")
    return specs


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a .env file (optional quotes, ``export`` and ``#`` comments), as honcho reads them."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass
class Supervised:
    """One process of the Procfile and its restarts."""

    spec: ProcessSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = INITIAL_BACKOFF_SECONDS
    restart_at: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Start, watch, restart and stop the processes of a Procfile."""

    def __init__(
        self,
        specs: list[ProcessSpec],
        env: dict[str, str],
        *,
        cwd: Path | None = None,
        out: IO[str] | None = None,
        colour: bool = False,
        grace_seconds: float = GRACE_SECONDS,
        initial_backoff: float = INITIAL_BACKOFF_SECONDS,
    ) -> None:
        self.processes = [Supervised(spec, backoff=initial_backoff) for spec in specs]
        self.env, self.cwd = env, cwd
        self.out = out or sys.stdout
        self.colour = colour
        self.grace_seconds = grace_seconds
        self.initial_backoff = initial_backoff
        self.width = max(len(spec.name) for spec in specs)
        self.stopping = threading.Event()
        self.refused: Supervised | None = None
        self._write_lock = threading.Lock()

    # -- output ----------------------------------------------------------------------------------

    def say(self, name: str, line: str) -> None:
        """Print one line prefixed like honcho: the time and the process's name, coloured on a terminal."""
        index = next((i for i, item in enumerate(self.processes) if item.spec.name == name), len(self.processes))
        prefix = f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | "
        if self.colour:
            prefix = f"\033[{COLOURS[index % len(COLOURS)]}m{prefix}\033[0m"
        with self._write_lock:
            self.out.write(prefix + line + "\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode("utf-8", "replace").rstrip("\r\n"))
        stream.close()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, item: Supervised) -> None:
        item.process = subprocess.Popen(
            ["/bin/sh", "-c", item.spec.command],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a terminal's Ctrl-C reaches the supervisor only
        )
        item.started_at = time.monotonic()
        item.restart_at = None
        assert item.process.stdout is not None
        reader = threading.Thread(target=self._pump, args=(item.spec.name, item.process.stdout), daemon=True)
        reader.start()
        item.readers = [reader]
        self.say("system", f"{item.spec.name} started (pid {item.process.pid})")

    def start_all(self, after_first: Callable[[], None] | None = None) -> None:
        """Start every process, the first line's first; ``after_first`` runs once it is started."""
        first, *rest = self.processes
        self.start(first)
        if after_first is not None:
            after_first()
        for item in rest:
            if self.stopping.is_set():
                return
            self.start(item)

    def poll(self) -> None:
        """Notice exits and start what is due; an exit 2 stops the whole stack."""
        now = time.monotonic()
        for item in self.processes:
            if self.stopping.is_set():
                return
            if item.process is not None and (code := item.process.poll()) is not None:
                item.process = None
                for reader in item.readers:
                    reader.join(timeout=1.0)  # its last lines come before the supervisor's
                if code == REFUSED:
                    self.say("system", f"{item.spec.name} refused to start (exit 2); stopping the stack")
                    self.refused = item
                    self.stopping.set()
                    return
                if now - item.started_at >= HEALTHY_AFTER_SECONDS:
                    item.backoff = self.initial_backoff
                delay = item.backoff
                item.backoff = min(item.backoff * 2, MAX_BACKOFF_SECONDS)
                item.restart_at = now + delay
                item.restarts += 1
                self.say("system", f"{item.spec.name} exited with code {code}; restarting in {delay:g}s")
            elif item.process is None and item.restart_at is not None and now >= item.restart_at:
                self.start(item)

    def run(self, after_first: Callable[[], None] | None = None, poll_seconds: float = 0.1) -> int:
        """Run until asked to stop (``stopping``) or a refusal; stop everything; return the exit code."""
        try:
            self.start_all(after_first)
            while not self.stopping.wait(poll_seconds):
                self.poll()
        finally:
            self.stop_all()
        return REFUSED if self.refused is not None else 0

    def stop_all(self) -> None:
        """SIGTERM every process (the first line's last), SIGKILL what is still running after the grace period."""
        self.stopping.set()
        first, *rest = self.processes
        self._stop_group(rest)
        self._stop_group([first])

    def _stop_group(self, items: list[Supervised]) -> None:
        running = [item for item in items if item.process is not None and item.process.poll() is None]
        for item in running:
            self._signal(item, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for item in running:
            assert item.process is not None
            try:
                item.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("system", f"{item.spec.name} did not stop within {self.grace_seconds:g}s; killing it")
                self._signal(item, signal.SIGKILL)
                item.process.wait()
        for item in running:
            for reader in item.readers:
                reader.join(timeout=1.0)
            assert item.process is not None
            self.say("system", f"{item.spec.name} stopped (code {item.process.returncode})")
            item.process = None

    @staticmethod
    def _signal(item: Supervised, signum: signal.Signals) -> None:
        assert item.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(item.process.pid, signum)  # the shell and what it started


def run(
    procfile: Annotated[Path, typer.Option("--procfile", "-f", help="The list of processes.")] = Path("Procfile"),
    env_file: Annotated[Path, typer.Option("--env-file", "-e", help="KEY=value lines over the environment.")] = Path(
        ".env"
    ),
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start a fresh session once Redis is up (logos session new).")
    ] = False,
    grace: Annotated[float, typer.Option(help="Seconds between SIGTERM and SIGKILL at stop.")] = GRACE_SECONDS,
) -> None:
    """Run the Procfile's processes, restart any that exits, stop them all on Ctrl-C or SIGTERM."""
    try:
        specs = read_procfile(procfile)
    except ProcfileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    env = os.environ | read_env_file(env_file)
    supervisor = Supervisor(specs, env, colour=sys.stdout.isatty() and "NO_COLOR" not in env, grace_seconds=grace)

    def on_signal(signum: int, frame: object) -> None:
        supervisor.say("system", f"{signal.Signals(signum).name} received; stopping")
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = supervisor.run(after_first=(lambda: _start_fresh(supervisor, env)) if fresh else None)
    raise typer.Exit(code)


def _start_fresh(supervisor: Supervisor, env: dict[str, str]) -> None:
    """With the first process (Redis) started, clear the session so the rest start fresh together."""
    from logos.settings import LogosSettings
    from services.cli.session_command import SessionRefused, start_fresh

    saved = os.environ.copy()
    os.environ.update(env)  # the settings read the environment the processes get
    try:
        for line in start_fresh(LogosSettings()):
            supervisor.say("system", line)
    except SessionRefused as exc:
        supervisor.say("system", f"error: {exc}")
        supervisor.refused = supervisor.processes[0]
        supervisor.stopping.set()
    finally:
        os.environ.clear()
        os.environ.update(saved)
