"""Running and watching the stack: ``logos serve``, ``healthcheck``, ``status`` and ``stack wait|watch``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic_settings import BaseSettings

import services.dashboard
from logos.bus import Bus
from logos.contracts import ControlCommand, DeadLetter, ServiceStatus
from logos.redact import redact_text
from logos.settings import LogosSettings
from services.brain.config import BrainSettings
from services.cli.brokers import refuse_unsafe_start
from services.dashboard.config import DashboardSettings
from services.executor.config import ExecutorSettings
from services.feed.config import FeedSettings
from services.healthcheck import probe
from services.ml.config import MLSettings
from services.risk.config import RiskSettings
from services.runtime.errors import StartupRefused
from services.runtime.logging_setup import configure_logging

if TYPE_CHECKING:  # httpx loads when a command talks to a service, not for `logos --help`
    import httpx


@dataclass(frozen=True)
class ServiceEntry:
    """How to start one service and how to tell that it is up."""

    name: str
    settings: type[BaseSettings]
    app: str | None
    ready_path: str
    health_path: str


SERVICES: dict[str, ServiceEntry] = {
    entry.name: entry
    for entry in (
        ServiceEntry("feed", FeedSettings, "services.feed.app:create_app", "/readyz", "/healthz"),
        ServiceEntry("ml", MLSettings, "services.ml.app:create_app", "/readyz", "/healthz"),
        ServiceEntry("risk", RiskSettings, "services.risk.app:create_app", "/readyz", "/healthz"),
        ServiceEntry("executor", ExecutorSettings, "services.executor.app:create_app", "/readyz", "/healthz"),
        ServiceEntry("brain", BrainSettings, "services.brain.app:create_app", "/readyz", "/healthz"),
        ServiceEntry("dashboard", DashboardSettings, None, "/_stcore/health", "/_stcore/health"),
    )
}

stack_app = typer.Typer(help="Wait for and watch a running stack.", no_args_is_help=True)
ServiceName = Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")]
ComposeOption = Annotated[bool, typer.Option("--compose", help="Reach services by their compose host names.")]


def _entry(name: str) -> ServiceEntry:
    if name not in SERVICES:
        typer.echo(f"error: unknown service {name!r}; choose one of {', '.join(SERVICES)}", err=True)
        raise typer.Exit(2)
    return SERVICES[name]


def _port(entry: ServiceEntry) -> int:
    port: int = entry.settings().port  # type: ignore[attr-defined]
    return port


def base_url(entry: ServiceEntry, compose: bool) -> str:
    return f"http://{entry.name if compose else '127.0.0.1'}:{_port(entry)}"


def serve(
    name: ServiceName,
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Run one service in the foreground until Ctrl-C or SIGTERM; an unsafe configuration stops it first."""
    entry = _entry(name)
    refuse_unsafe_start(name)
    settings: Any = entry.settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    if entry.app is None:
        argv = streamlit_argv(bind_host, bind_port)
        os.execv(argv[0], argv)
    import importlib

    import uvicorn

    # bind, then join: a port already taken stops the service before its worker joins a consumer group
    listening = bind_port_or_exit(name, bind_host, bind_port, entry.settings)
    configure_logging(settings.logos.log_level)
    module, _, factory = entry.app.partition(":")
    try:
        app = getattr(importlib.import_module(module), factory)()
    except StartupRefused as exc:
        for line in exc.lines:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    app.state.exit_on_refusal = True  # a worker that refuses to start: its lines and exit 2
    config = uvicorn.Config(app, host=bind_host, port=bind_port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: the stop signal it raises again after shutdown
        server.run(sockets=[listening])
    if not server.started:
        raise typer.Exit(3)  # uvicorn's exit code of a failed start


def bind_port_or_exit(name: str, host: str, port: int, settings: type[BaseSettings]) -> socket.socket:
    """The service's listening socket, bound now; a port in use is one line and exit 2."""
    setting = f"{settings.model_config.get('env_prefix', '')}PORT"
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listening = socket.socket(family, kind)
    except OSError as exc:
        typer.echo(f"error: {name}: cannot bind {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT is free
    try:
        listening.bind(address)
    except OSError as exc:
        listening.close()
        typer.echo(
            f"error: {name}: cannot bind {host}:{port} ({exc.strerror or exc}): another {name} is running there? "
            f"stop it or choose another port ({setting})",
            err=True,
        )
        raise typer.Exit(2) from None
    listening.set_inheritable(True)
    return listening


def streamlit_argv(host: str, port: int) -> list[str]:
    """The command that runs the dashboard: headless, no usage statistics, the viewer's toolbar (no Deploy)."""
    script = Path(services.dashboard.__file__).with_name("app.py")
    options = {
        "server.address": host,
        "server.port": str(port),
        "server.headless": "true",
        "browser.gatherUsageStats": "false",
        "client.toolbarMode": "viewer",  # a read-only view: no Deploy, Rerun or Clear cache
    }
    flags = [f"--{name}={value}" for name, value in options.items()]
    return [sys.executable, "-m", "streamlit", "run", str(script), *flags]


def _control(command: str, reason: str) -> None:
    import httpx

    settings = RiskSettings()
    token = settings.control_token.get_secret_value() if settings.control_token else ""
    if not token:
        typer.echo("error: RISK_CONTROL_TOKEN is not set; use the risk service's token", err=True)
        raise typer.Exit(2)
    url = f"{base_url(SERVICES['risk'], compose=False)}/{command}"
    try:
        response = httpx.post(url, json={"reason": reason, "issued_by": "cli"},
                              headers={"Authorization": f"Bearer {token}"}, timeout=5)  # fmt: skip
    except httpx.HTTPError as exc:
        typer.echo(f"error: risk is unreachable at {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code == 401:
        typer.echo("error: risk refused the token (401); RISK_CONTROL_TOKEN differs from the service's", err=True)
        raise typer.Exit(2)
    response.raise_for_status()
    body = response.json()
    typer.echo(
        f"trading state {body['trading_state']}, kill switch {'on' if body['kill_switch'] else 'off'}: {body['detail']}"
    )


def _control_via_bus(command: ControlCommand, reason: str) -> None:
    from services.cli.bus_control import send_control

    sent = asyncio.run(send_control(LogosSettings(), command, reason))
    typer.echo(f"{command.value} appended to the control stream ({sent.entry_id}), signed with control-key")
    if sent.change is None:
        typer.echo("error: risk did not answer within 10s; see `logos status` (is risk running?)", err=True)
        raise typer.Exit(1)
    change = sent.change
    state = f"trading state {change.trading_state.value}, kill switch {'on' if change.kill_switch else 'off'}"
    typer.echo(f"{state}: {change.detail}")


ReasonOption = Annotated[str, typer.Option(help="Why; recorded with the state change.")]
ViaBusOption = Annotated[
    bool,
    typer.Option(
        "--via-bus",
        help="Send the command on the control stream, signed with the control key (no token, no HTTP to risk).",
    ),
]


def kill(reason: ReasonOption = "operator kill switch", via_bus: ViaBusOption = False) -> None:
    """Engage the kill switch on the risk service: every intent is denied until `logos resume`."""
    if via_bus:
        _control_via_bus(ControlCommand.KILL, reason)
        return
    _control("kill", reason)


def resume(reason: ReasonOption = "operator resume", via_bus: ViaBusOption = False) -> None:
    """Release the kill switch (and any halt) on the risk service."""
    if via_bus:
        _control_via_bus(ControlCommand.RESUME, reason)
        return
    _control("resume", reason)


def healthcheck(
    name: ServiceName,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 3.0,
) -> None:
    """Exit 0 when the service's liveness endpoint answers 200 on this host (container HEALTHCHECK)."""
    alive, reason = probe(name, timeout)
    typer.echo(reason, err=not alive)
    if not alive:
        raise typer.Exit(1)


def _probe(client: httpx.Client, url: str) -> int | None:
    import httpx

    try:
        return client.get(url, timeout=2.0).status_code
    except httpx.HTTPError:
        return None


def wait_ready(compose: bool, timeout: float, names: list[str] | None = None) -> bool:
    """Poll every service until it is ready; print each one as it comes up."""
    import httpx

    waiting = {name: SERVICES[name] for name in names or SERVICES}
    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while waiting and time.monotonic() < deadline:
            for name, entry in list(waiting.items()):
                if _probe(client, base_url(entry, compose) + entry.ready_path) == 200:
                    typer.echo(f"  {name:<9} ready")
                    del waiting[name]
            if waiting:
                time.sleep(0.5)
    if waiting:
        typer.echo(f"not ready after {timeout:.0f}s: {', '.join(waiting)} (see their logs)", err=True)
    return not waiting


def _banner() -> str:
    lines = ["", "Logos paper stack is up (bound to 127.0.0.1):"]
    for name, entry in SERVICES.items():
        port = _port(entry)
        if entry.app is None:
            lines.append(f"  dashboard  http://localhost:{port}")
        else:
            lines.append(f"  {name:<9}  http://localhost:{port}/status   (/healthz /readyz /metrics)")
    lines += ["Following the status stream: state changes and dead letters are shown; Ctrl-C stops.", ""]
    return "\n".join(lines)


@stack_app.command("wait")
def wait(
    compose: ComposeOption = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 120.0,
) -> None:
    """Wait until every service answers ready; exit 1 on timeout."""
    if not wait_ready(compose, timeout):
        raise typer.Exit(1)


@stack_app.command("watch")
def watch(
    compose: ComposeOption = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 180.0,
    ready_file: Annotated[Path | None, typer.Option(help="Create this file once the stack is ready.")] = None,
) -> None:
    """Wait until the stack is ready, print where everything is, then follow its status stream."""
    typer.echo("Waiting for the stack to become ready...")
    if not wait_ready(compose, timeout):
        raise typer.Exit(1)
    # follow from the moment the banner says the stack is up, not from whenever the first read happens
    # to run: a stream id is the appending server's millisecond clock (this display only, no decision)
    since = f"{time.time_ns() // 1_000_000}-0"
    typer.echo(_banner())
    if ready_file is not None:
        ready_file.touch()
    if FeedSettings().provider == "replay":
        import threading

        from services.cli.stack_replay import checkpoint_when_replayed

        # a replay's session files are written at its end, without a replay check (or Ctrl-C) to ask for them
        threading.Thread(target=checkpoint_when_replayed, args=(compose,), daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_follow(LogosSettings(), since))


async def _follow(settings: LogosSettings, since: str = "$") -> None:
    bus = Bus.redis(settings.redis_url_for("cli"), settings.streams)
    names = settings.streams
    shown: dict[str, tuple[Any, ...]] = {}
    try:
        async for tailed in bus.tail([names.status, names.dlq], asyncio.Event(), start=since):
            message = tailed.message
            stamp = message.ts.strftime("%H:%M:%S")
            if isinstance(message, DeadLetter):
                typer.echo(
                    f"{stamp} DEAD LETTER {message.source_stream} {message.entry_id}: {redact_text(message.reason)}"
                )
            elif isinstance(message, ServiceStatus):
                key = f"{message.service}/{message.instance}"
                summary = (message.state, message.dead_lettered, message.warnings)
                if shown.get(key) != summary:
                    shown[key] = summary
                    warnings = f" unsafe: {'; '.join(message.warnings)}" if message.warnings else ""
                    typer.echo(
                        f"{stamp} {key:<20} {message.state.value:<9} handled={message.messages_handled} "
                        f"dead_lettered={message.dead_lettered}{warnings}"
                    )
    finally:
        await bus.close()


def status(
    compose: ComposeOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw /status documents.")] = False,
) -> None:
    """Print every service's /status (state, backlog, dead letters, unsafe settings); exit 1 when any is down."""
    import httpx

    reports: dict[str, Any] = {}
    with httpx.Client() as client:
        for name, entry in SERVICES.items():
            if entry.app is None:
                code = _probe(client, base_url(entry, compose) + entry.health_path)
                reports[name] = {"state": "ready" if code == 200 else "down"}
                continue
            try:
                reports[name] = client.get(base_url(entry, compose) + "/status", timeout=3.0).json()
            except (httpx.HTTPError, json.JSONDecodeError):
                reports[name] = {"state": "down"}
    down = [name for name, report in reports.items() if report["state"] == "down"]
    if as_json:
        typer.echo(json.dumps(reports, indent=2, sort_keys=True))
        if down:
            raise typer.Exit(1)
        return
    typer.echo(
        f"{'service':<10} {'state':<9} {'uptime':>8} {'handled':>8} {'pending':>8} {'lag':>6} {'dlq':>5}  unsafe"
    )
    for name, report in reports.items():
        consumers = report.get("consumers", [])
        handled = sum(sum(consumer["handled"].values()) for consumer in consumers)
        loads = [load for consumer in consumers for load in consumer["streams"]]
        pending = sum(load["pending"] or 0 for load in loads)
        lag = sum(load["lag"] or 0 for load in loads)
        uptime = f"{report['uptime_seconds']:.0f}s" if "uptime_seconds" in report else "-"
        dead = report.get("dead_letter_stream_length", "-")
        unsafe = "; ".join(report.get("unsafe", []))
        typer.echo(
            f"{name:<10} {report['state']:<9} {uptime:>8} {handled:>8} {pending:>8} {lag:>6} {dead!s:>5}  {unsafe}"
        )
    if down:
        typer.echo(f"down: {', '.join(down)}", err=True)
        raise typer.Exit(1)
