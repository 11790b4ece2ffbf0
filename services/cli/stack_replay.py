"""``logos stack replay-check``: a replay on the running stack must end with complete files equal to the backtest."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from logos.contracts import ControlCommand
from logos.settings import LogosSettings
from services.cli.stack import SERVICES, ComposeOption, base_url, wait_ready
from services.executor.config import ExecutorSettings
from services.feed.config import FeedSettings
from services.ml.config import MLSettings

if TYPE_CHECKING:  # httpx loads when the check runs, not for `logos --help`
    import httpx


def _details(client: httpx.Client, name: str, compose: bool) -> dict[str, Any]:
    import httpx

    try:
        response = client.get(base_url(SERVICES[name], compose) + "/status", timeout=5.0)
        details: dict[str, Any] = response.json()["details"]
        return details
    except (httpx.HTTPError, ValueError, KeyError):
        return {}


def replayed_bars(client: httpx.Client, compose: bool, deadline: float) -> int | None:
    """Wait until the feed's replay has finished; return how many bars it replayed (None: not by ``deadline``)."""
    while time.monotonic() < deadline:
        replay = _details(client, "feed", compose)
        if replay.get("replay_finished"):
            return int(replay["replayed"])
        time.sleep(1.0)
    return None


def checkpoint_replay(client: httpx.Client, compose: bool, replayed: int, deadline: float) -> dict[str, Any] | None:
    """Once the executor has every replayed bar, ask it for the session's files; return its checkpoint, or None.

    The command is signed with the control key (the feed sends none); a checkpoint that already covers
    the replay is taken as it is, so a second check reads the files as they are.
    """
    from services.cli.bus_control import send_control

    asked = False
    while time.monotonic() < deadline:
        details = _details(client, "executor", compose)
        checkpoint: dict[str, Any] = details.get("checkpoint") or {}
        if checkpoint.get("bars", 0) >= replayed:
            return checkpoint
        if not asked and details.get("bars", 0) >= replayed:
            asyncio.run(send_control(LogosSettings(), ControlCommand.CHECKPOINT, f"replay finished: {replayed} bars"))
            asked = True
        time.sleep(0.5)
    return None


def checkpoint_when_replayed(compose: bool) -> None:
    """`logos stack watch` beside a replay: write the session's files once the replay has ended, and say where."""
    import httpx

    with httpx.Client() as client:
        replayed = replayed_bars(client, compose, float("inf"))
        assert replayed is not None  # no deadline: it returns once the replay has finished
        checkpoint = checkpoint_replay(client, compose, replayed, time.monotonic() + 600.0)
    if checkpoint is None:
        typer.echo(f"replay finished: {replayed:,} bars, but the executor wrote no checkpoint within 600 s", err=True)
        return
    typer.echo(f"replay finished: {replayed:,} bars; the session's files are in {checkpoint['directory']}")


def replay_check(
    compose: ComposeOption = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the replay to finish.")] = 1800.0,
) -> None:
    """Wait for the stack's replay to end; exit 0 only if the session's files are complete and equal the backtest."""
    import httpx

    from logos.data.fixtures import fixture_path
    from logos.data.loading import load_bars
    from services.cli.replay_compare import SESSION_FILES, compare_trades, expected_fills

    feed, ml, executor = FeedSettings(), MLSettings(), ExecutorSettings()
    if feed.provider != "replay":
        typer.echo(f"replay check: FEED_PROVIDER is {feed.provider!r}; set it to replay", err=True)
        raise typer.Exit(2)
    if not wait_ready(compose, 180.0, ["feed", "ml", "risk", "executor"]):
        raise typer.Exit(1)
    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        replayed = replayed_bars(client, compose, deadline)
        if replayed is None:
            typer.echo(f"replay check FAILED: the replay did not finish within {timeout:.0f}s", err=True)
            raise typer.Exit(1)
        typer.echo(f"replay finished: {replayed:,} bars; waiting for the executor's checkpoint")
        checkpoint = checkpoint_replay(client, compose, replayed, deadline)
        if checkpoint is None:
            typer.echo("replay check FAILED: the executor wrote no checkpoint of the whole replay", err=True)
            raise typer.Exit(1)
    directory = Path(checkpoint["directory"])
    missing = [name for name in SESSION_FILES if not (directory / name).exists()]
    if missing:
        typer.echo(f"replay check FAILED: {directory} lacks {', '.join(missing)}", err=True)
        raise typer.Exit(1)
    source = fixture_path(feed.replay_fixture) if feed.replay_fixture else feed.replay_data
    assert source is not None
    frames = load_bars(source)
    if feed.replay_symbols:
        frames = {symbol: frames[symbol] for symbol in feed.replay_symbols if symbol in frames}
    try:
        problem = compare_trades((directory / "trades.csv").read_text(), expected_fills(frames, ml, executor))
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        typer.echo(f"replay check FAILED: {directory}: {problem}", err=True)
        raise typer.Exit(1)
    fills = (directory / "trades.csv").read_text().count("\n") - 1
    typer.echo(f"replay check passed: {replayed:,} bars, {fills} fills equal the backtest's; files in {directory}")
