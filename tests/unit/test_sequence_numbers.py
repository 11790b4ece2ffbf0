"""Sequence numbers on the wire: every bar has its place in canonical order, every message derived from it says so."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from logos.bus import Bus, decode
from logos.contracts import AccountSnapshot, Bar, Fill, Message, Order, OrderDenied, OrderIntent, Signal
from logos.data.fixtures import fixture_path
from logos.data.loading import load_bars
from logos.settings import LogosSettings
from logos.streams import StreamNames
from services.cli import app
from services.feed.app import create_app as feed_app
from services.feed.config import FeedSettings
from tests.support.apps import running
from tests.support.bus_helpers import eventually


async def _all(bus: Bus, stream: str) -> list[Message]:
    entries = await bus.backend.read({stream: "0"}, 100_000, 0.01)
    return [decode(entry.fields or {}, bus.names.accepted_types(stream)) for entry in entries]


async def _replay(bus: Bus, data: Path, names: StreamNames) -> dict[str, Any]:
    settings = FeedSettings(  # type: ignore[call-arg]
        logos=LogosSettings(stream_prefix=names.prefix, read_block_seconds=0.05, replay_window=0),
        heartbeat_seconds=0.1,
        provider="replay",
        replay_data=data,
        replay_groups=[],
    )
    async with running(feed_app(settings, bus)) as client:

        async def finished() -> bool:
            return bool((await client.get("/status")).json()["details"]["replay_finished"])

        await eventually(finished, what="the replay to finish")
        details: dict[str, Any] = (await client.get("/status")).json()["details"]
    return details


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["timestamp,symbol,open,high,low,close,volume", *rows]) + "\n")
    return path


@pytest.mark.anyio
async def test_feed_when_replay_resumed_then_bars_numbered_on_without_gaps_and_refused_bars_unnumbered(
    tmp_path: Path,
) -> None:
    names = StreamNames(prefix=f"test-seq-{tmp_path.name}")
    minutes = [f"2024-01-01T00:{minute:02d}:00Z" for minute in range(8)]
    rows = [f"{moment},{symbol},100,101,99,100,1" for moment in minutes for symbol in ("BTC-USD", "ETH-USD")]
    bus = Bus.memory(names)
    first = await _replay(bus, _write(tmp_path / "first.csv", rows[:6]), names)
    # the same bars and more, with a bar from the future among them (refused, so it gets no number)
    later = [*rows, "2099-01-01T00:00:00Z,BTC-USD,100,101,99,100,1"]
    second = await _replay(bus, _write(tmp_path / "all.csv", later), names)
    bars = [m for stream in names.all_bars() for m in await _all(bus, stream) if isinstance(m, Bar)]
    await bus.close()

    assert first["replayed"] == 6 and second["replay_refused"] == 1
    ordered = sorted(bars, key=lambda bar: (bar.ts, bar.symbol))
    assert [bar.seq for bar in ordered] == list(range(1, 17))  # canonical order, from 1, no gap, no repeat
    assert len({bar.id for bar in bars}) == 16


def test_session_when_replayed_then_every_derived_message_carries_its_bars_number(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buses: list[Bus] = []
    memory = Bus.memory

    def captured(*args: Any, **kwargs: Any) -> Bus:
        bus = memory(*args, **kwargs)
        buses.append(bus)
        return bus

    monkeypatch.setattr(Bus, "memory", staticmethod(captured))
    monkeypatch.setenv("RISK_LIMITS__MAX_GROSS_EXPOSURE", "30000")  # two symbols at 20,000 each: some denials
    data = tmp_path / "bars.csv"
    pd.read_csv(fixture_path("crypto_1m")).head(1200).to_csv(data, index=False)
    options = ["trade", "--data", str(data), "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30"]
    # the session's in-memory bus, kept to read every stream afterwards
    outcome = CliRunner().invoke(app, [*options, "--session-id", "seq"])
    assert outcome.exit_code == 0, outcome.output
    (bus,) = buses
    streams = asyncio.run(_streams(bus))
    names = bus.names
    bars = [m for stream in names.all_bars() for m in streams[stream] if isinstance(m, Bar)]
    number = {(bar.symbol, bar.ts): bar.seq for bar in bars}
    frames = load_bars(data)
    assert sorted(number.values()) == list(range(1, sum(len(frame) for frame in frames.values()) + 1))

    def of(symbol: str, ts: datetime) -> int | None:
        return number[(symbol, ts)]

    intents = [m for stream in names.all_intents() for m in streams[stream] if isinstance(m, OrderIntent)]
    decisions = [m for m in streams[names.orders] if isinstance(m, Order | OrderDenied)]
    snapshots = [m for m in streams[names.account] if isinstance(m, AccountSnapshot)]
    fills = [m for m in streams[names.fills] if isinstance(m, Fill)]
    signals = [m for m in streams[names.signals] if isinstance(m, Signal)]

    assert intents and fills and any(isinstance(d, OrderDenied) for d in decisions)
    assert all(intent.seq == of(intent.symbol, intent.bar_ts) for intent in intents)
    by_intent = {intent.id: intent.seq for intent in intents}
    assert all(decision.seq == by_intent[decision.intent_id] for decision in decisions)
    assert all(s.seq == of(s.bar_symbol, s.bar_ts) for s in snapshots if s.bar_symbol and s.bar_ts)
    assert len(snapshots) == len(bars)
    assert all(fill.seq == of(fill.symbol, fill.ts) for fill in fills)  # filled at the next open: that bar's number
    assert all(signal.seq == of(signal.symbol, signal.bar_ts) for signal in signals)


async def _streams(bus: Bus) -> dict[str, list[Message]]:
    names = bus.names
    wanted = [*names.all_bars(), *names.all_intents(), names.orders, names.account, names.fills, names.signals]
    return {stream: await _all(bus, stream) for stream in wanted}
