"""Dry runs: `logos trade --broker ccxt|alpaca --dry-run` builds every venue request, sends none, leaks no secret."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from logos.bus import Bus
from logos.data.fixtures import fixture_path
from logos.data.loading import load_bars
from logos.settings import LogosSettings
from services.cli import app
from services.executor.config import ExecutorSettings
from services.executor.worker import ExecutorWorker
from services.feed.replay import replay_bars
from services.ml.config import MLSettings
from services.ml.worker import MLWorker
from services.risk.config import RiskSettings
from services.risk.worker import RiskWorker
from services.runtime.app import build_status
from services.runtime.errors import StartupRefused
from services.runtime.worker import ServiceWorker
from tests.support.recorded_brokers import (
    FAKE_ALPACA_KEY,
    FAKE_ALPACA_SECRET,
    FAKE_BINANCE_KEY,
    FAKE_BINANCE_SECRET,
    RecordingServer,
    alpaca_server,
    binance_trading_server,
)
from tests.support.recorded_http import Answer, Reply

runner = CliRunner()
PLANTED_TOKEN = "tokFAKE9d8c7b6a5f4e3d2c1b0"
PLANTED = [FAKE_BINANCE_KEY, FAKE_BINANCE_SECRET, FAKE_ALPACA_KEY, FAKE_ALPACA_SECRET, PLANTED_TOKEN]


def _bars(tmp_path: Path, fixture: str, symbol: str, rows: int) -> Path:
    frame = pd.read_csv(fixture_path(fixture))
    path = tmp_path / f"{symbol}.csv"
    frame[frame["symbol"] == symbol].head(rows).to_csv(path, index=False)
    return path


def _serve(monkeypatch: pytest.MonkeyPatch, server: RecordingServer) -> None:
    """Answer every HTTP request of any requests session (ccxt's, alpaca-py's) from ``server``."""
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: server)


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECUTOR_CCXT_API_KEY", FAKE_BINANCE_KEY)
    monkeypatch.setenv("EXECUTOR_CCXT_SECRET", FAKE_BINANCE_SECRET)
    monkeypatch.setenv("APCA_API_KEY_ID", FAKE_ALPACA_KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", FAKE_ALPACA_SECRET)
    monkeypatch.setenv("RISK_CONTROL_TOKEN", PLANTED_TOKEN)
    monkeypatch.setenv("RISK_LIMITS__MAX_ORDER_NOTIONAL", "50000")


def _trade(data: Path, session: str, *extra: str) -> list[str]:
    return ["trade", "--paper", "--feed", "replay", "--data", str(data), "--strategy", "sma_cross", "--param",
            "fast=5", "--param", "slow=20", "--sizing", "notional:2000", "--session-id", session, *extra]  # fmt: skip


def _orders(directory: Path) -> list[dict[str, str]]:
    with (directory / "orders.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_trade_when_ccxt_dry_run_then_binance_requests_recorded_none_sent_and_paper_fills_unchanged(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: None
) -> None:
    server = binance_trading_server()
    _serve(monkeypatch, server)
    data = _bars(tmp_path, "crypto_1m", "BTC-USD", 300)
    paper = runner.invoke(app, _trade(data, "paper"))
    assert paper.exit_code == 0, paper.output
    dry = runner.invoke(app, _trade(data, "dry", "--broker", "ccxt", "--exchange", "binance", "--dry-run",
                                    "--venue-symbol", "BTC-USD=BTC/USDT"))  # fmt: skip
    assert dry.exit_code == 0, dry.output
    sessions = isolated_home / "runs" / "live" / "sessions"
    assert (sessions / "dry" / "trades.csv").read_text() == (sessions / "paper" / "trades.csv").read_text()
    rows = _orders(sessions / "dry")
    paper_rows = [row for row in rows if row["status"] != "dry_run"]
    venue_rows = [row for row in rows if row["status"] == "dry_run"]
    assert paper_rows and len(venue_rows) == len(paper_rows)
    assert all(row["id"].startswith("lg-") and row["id"].endswith(f"-{paper['id']}")
               for row, paper in zip(venue_rows, paper_rows, strict=True))  # fmt: skip
    events = [json.loads(line) for line in (sessions / "dry" / "state.jsonl").read_text().splitlines()]
    requests_built = [event["request"] for event in events if event["event"] == "dry_run"]
    assert requests_built[0]["symbol"] == "BTCUSDT" and requests_built[0]["type"] == "MARKET"
    assert requests_built[0]["newClientOrderId"] == venue_rows[0]["id"]
    assert not [sent for sent in server.sent if "/api/v3/order" in sent.url]  # nothing was sent
    assert server.calls_to("/api/v3/exchangeInfo")  # the markets were read
    built = f"dry run: {len(venue_rows):,} venue requests built, none sent"
    assert built in dry.output and built in (sessions / "dry" / "session.md").read_text()
    run_log = (sessions / "dry" / "logs" / "run.log").read_text()
    assert f"INFO dry run {venue_rows[0]['id']} buy " in run_log and "dry run: built, not sent" in run_log


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("Failed to resolve 'api.binance.com'"), Reply(503, "Service Unavailable")],
    ids=["network-unreachable", "venue-unavailable"],
)
def test_trade_when_venue_metadata_cannot_load_then_one_line_exit_2_before_the_first_bar(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: None, failure: Answer
) -> None:
    server = binance_trading_server()
    server.route("/api/v3/exchangeInfo", failure)
    _serve(monkeypatch, server)
    data = _bars(tmp_path, "crypto_1m", "BTC-USD", 300)

    started = time.perf_counter()
    venue = ["--broker", "ccxt", "--exchange", "binance", "--dry-run", "--venue-symbol", "BTC-USD=BTC/USDT"]
    result = runner.invoke(app, _trade(data, "offline", *venue))
    elapsed = time.perf_counter() - started

    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: binance market metadata could not be loaded (network unreachable?): binance ")
    assert elapsed < 5  # one failed load, not one per order
    assert len(server.calls_to("/api/v3/exchangeInfo")) == 1
    assert not [sent for sent in server.sent if "/api/v3/order" in sent.url]
    assert not (isolated_home / "runs" / "live" / "sessions" / "offline").exists()  # refused before any file
    assert not any(secret in result.output for secret in PLANTED)


def test_executor_service_when_venue_metadata_cannot_load_then_refuses_to_start_with_the_reason(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, planted: None
) -> None:
    server = binance_trading_server()
    server.route("/api/v3/exchangeInfo", requests.ConnectionError("Failed to resolve 'api.binance.com'"))
    _serve(monkeypatch, server)
    logos = LogosSettings()
    settings = ExecutorSettings(logos=logos, session_id="stack").model_copy(
        update={"broker": "ccxt", "exchange": "binance", "dry_run": True}
    )

    with pytest.raises(StartupRefused) as refused:
        ExecutorWorker(settings, Bus.memory(logos.streams))

    assert refused.value.lines[0].startswith("binance market metadata could not be loaded (network unreachable?)")
    assert not logos.paths.latest_session.exists() and not logos.paths.live_session("stack").exists()


def test_trade_when_alpaca_dry_run_then_asset_read_and_requests_recorded(
    isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: None
) -> None:
    server = alpaca_server()
    _serve(monkeypatch, server)
    data = _bars(tmp_path, "equities_1m", "AAPL", 200)
    result = runner.invoke(app, _trade(data, "alpaca", "--broker", "alpaca", "--dry-run"))
    assert result.exit_code == 0, result.output
    rows = _orders(isolated_home / "runs" / "live" / "sessions" / "alpaca")
    assert [row for row in rows if row["status"] == "dry_run"]
    assert server.calls_to("paper-api.alpaca.markets/v2/assets/AAPL")
    assert not [sent for sent in server.sent if sent.method == "POST"]


def test_trade_when_venue_without_dry_run_then_refused_with_one_line(
    isolated_home: Path, tmp_path: Path, planted: None
) -> None:
    data = _bars(tmp_path, "crypto_1m", "BTC-USD", 50)
    result = runner.invoke(app, _trade(data, "x", "--broker", "ccxt", "--exchange", "binance"))
    assert result.exit_code == 2
    assert "would send orders to the live binance without EXECUTOR_LIVE" in result.output
    live = runner.invoke(app, [*_trade(data, "y", "--broker", "alpaca"), "--live"])
    assert live.exit_code == 2
    assert "EXECUTOR_ACKNOWLEDGE_RISK" in live.output and "paper keys" in live.output


async def _session_over_memory_bus(tmp_path: Path, data: Path) -> tuple[list[str], list[str], Path]:
    """Run a ccxt dry-run session in-process; return every stream entry, each /status JSON and the session dir."""
    logos = LogosSettings()
    bus = Bus.memory(logos.streams)
    executor = ExecutorWorker(
        ExecutorSettings(logos=logos, session_id="scan").model_copy(
            update={"broker": "ccxt", "exchange": "binance", "dry_run": True, "symbol_map": {"BTC-USD": "BTC/USDT"}}
        ),
        bus,
    )
    ml = MLSettings(logos=logos, strategy="sma_cross", params={"fast": 5, "slow": 20}, sizing="notional:2000")
    risk = RiskSettings(logos=logos, clock="data", state_file=tmp_path / "risk_state.json")
    workers: list[ServiceWorker] = [MLWorker(ml, bus), RiskWorker(risk, bus), executor]
    for worker in workers:
        await worker.start()
    for _ in range(2000):  # every group exists before the first bar
        if all(worker.connected() for worker in workers):
            break
        await asyncio.sleep(0.005)
    consumed = sorted({stream for w in workers for s in w.subscriptions() for stream in s.streams})
    for bar in replay_bars(load_bars(data), logos.symbol_specs()):
        await bus.publish(logos.streams.bars_for(bar.symbol), bar)
        assert await bus.wait_until_quiet(consumed, timeout_seconds=30)
    statuses = [(await build_status(worker)).model_dump_json() for worker in workers]
    for worker in reversed(workers):
        await worker.stop()
    streams = list(bus.backend._streams)  # type: ignore[attr-defined]
    raw = await bus.backend.read(dict.fromkeys(streams, "0-0"), count=1_000_000, block_seconds=0)
    return [json.dumps(entry.fields) for entry in raw], statuses, executor.recorder.directory


def test_dry_run_session_when_secrets_planted_then_none_appears_in_files_logs_status_or_streams(
    isolated_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    planted: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    server = binance_trading_server()
    _serve(monkeypatch, server)
    data = _bars(tmp_path, "crypto_1m", "BTC-USD", 200)
    entries, statuses, directory = asyncio.run(_session_over_memory_bus(tmp_path, data))
    cli = runner.invoke(app, _trade(data, "cli", "--broker", "ccxt", "--exchange", "binance", "--dry-run",
                                    "--venue-symbol", "BTC-USD=BTC/USDT"))  # fmt: skip
    assert cli.exit_code == 0, cli.output
    checked = runner.invoke(app, ["validate-config"])
    captured = capfd.readouterr()
    assert any('"dry_run"' in line for line in (directory / "state.jsonl").read_text().splitlines())
    assert entries and statuses
    files = [path for path in (isolated_home / "runs").rglob("*") if path.is_file()]
    assert len(files) > 10
    haystacks = {str(path): path.read_bytes().decode("latin-1") for path in files}
    haystacks |= {f"stream entry {n}": entry for n, entry in enumerate(entries)}
    haystacks |= {f"/status {n}": status for n, status in enumerate(statuses)}
    haystacks |= {"log records": caplog.text, "cli output": cli.output + checked.output,
                  "stdout": captured.out, "stderr": captured.err}  # fmt: skip
    for where, text in haystacks.items():
        for secret in PLANTED:
            assert secret not in text, f"{secret[:6]}... found in {where}"
    assert any("dry run against ccxt" in status for status in statuses)
    # the keys did reach the venue's signed requests, so the scan would have seen them had they leaked
    assert server.sent and all(FAKE_BINANCE_SECRET not in sent.url + sent.body for sent in server.sent)
