"""The dashboard's loaders on recorded artifacts: standard and legacy names, half-written files, empty stores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from logos.backtest.artifacts import write_backtest
from logos.backtest.engine import BacktestConfig, run_backtest
from logos.data.fixtures import fixture_catalog, fixture_path
from logos.data.loading import load_bars
from logos.paths import Paths
from logos.redact import MASK
from logos.strategies import get_strategy
from services.dashboard import data_access, reading
from tests.ui.conftest import tree_digest

STANDARD = "20240101_000000_sma_cross_sma_demo_1m"
MOMENTUM = "20240101_010000_momentum_sma_demo_1m"
LEGACY = "legacy_sma_cross_DEMO"
PARTIAL = "20240102_000000_sma_cross_partial"
EMPTY = "20240103_000000_sma_cross_empty"
FINISHED = "20240101T090000Z"
DENIED = "20240101T060000Z"
RUNNING = "20240101T120000Z"


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "RETRY_DELAY_SECONDS", 0.0)


@pytest.fixture
def paths(fixture_home: Path) -> Paths:
    return Paths(fixture_home)


def test_list_backtests_when_fixtures_then_every_run_directory_and_nothing_else(paths: Paths) -> None:
    runs = {item.run_id: item for item in data_access.list_backtests(paths)}

    assert set(runs) == {STANDARD, MOMENTUM, LEGACY, PARTIAL, EMPTY}
    assert runs[STANDARD].strategy == "sma_cross" and runs[STANDARD].symbol == "sma_demo_1m"
    assert runs[STANDARD].params == {"allow_short": False, "fast": 3, "slow": 12}
    assert runs[STANDARD].legacy_files == () and runs[STANDARD].problems == ()


def test_load_backtest_when_standard_names_then_metrics_fills_equity_plot_config_and_log(paths: Paths) -> None:
    run = data_access.load_backtest(paths, STANDARD)
    trades_on_disk = (paths.backtest(STANDARD) / "trades.csv").read_text().splitlines()
    metrics_on_disk = json.loads((paths.backtest(STANDARD) / "metrics.json").read_text())["metrics"]

    assert run.problems == () and run.legacy_files == ()
    assert run.summary.metrics["sharpe"] == metrics_on_disk["sharpe"]
    assert len(run.trades) == len(trades_on_disk) - 1
    assert set(run.trades["side"]) <= {"buy", "sell"} and str(run.trades["ts"].dtype).startswith("datetime64")
    assert len(run.equity) == 120 and {"timestamp", "equity", "drawdown"} <= set(run.equity.columns)
    assert float(run.equity["drawdown"].max()) <= 0.0
    assert len(run.round_trips) > 0
    assert run.image is not None and run.image.name == "equity.png"
    assert run.log is not None and "strategy: sma_cross" in run.config_text


def test_load_backtest_when_legacy_names_then_loaded_and_each_legacy_file_named(paths: Paths) -> None:
    run = data_access.load_backtest(paths, LEGACY)

    legacy = {"summary.json", "fills.csv", "equity_curve.csv", "equity_sma_demo_1m_sma_cross.png"}
    assert set(run.legacy_files) == legacy
    assert run.summary.metrics["sharpe"] == pytest.approx(16.4800576053)  # from sharpe_ratio
    assert "max_drawdown" in run.summary.metrics and "win_rate" in run.summary.metrics
    assert len(run.equity) == 120 and float(run.equity["drawdown"].min()) < 0  # computed: the file has none
    assert not run.trades.empty
    assert run.image == paths.runs / "equity_sma_demo_1m_sma_cross.png"
    assert data_access.legacy_plots(paths) == [paths.runs / "equity_sma_demo_1m_sma_cross.png"]


def test_load_backtest_when_written_today_then_equity_parquet_and_open_round_trip_read(paths: Paths) -> None:
    frame = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    spec = fixture_catalog()["sma_demo_1m"]
    config = BacktestConfig(strategy="buy_and_hold")
    result = run_backtest(frame, spec, get_strategy("buy_and_hold"), config)
    write_backtest(result, config, spec, "fixture:sma_demo_1m", paths.backtest("today"))

    run = data_access.load_backtest(paths, "today")
    assert run.problems == () and run.legacy_files == ()
    assert len(run.equity) == len(frame) and str(run.equity["timestamp"].dtype).startswith("datetime64")
    assert run.equity["equity"].iloc[-1] == pytest.approx(result.metrics.end_equity)
    assert run.round_trips["status"].tolist() == ["open"] and run.round_trips["closed_at"].isna().all()
    assert data_access.load_backtest_equity(paths, "today")["drawdown"].max() <= 0.0


def test_load_backtest_when_half_written_then_problems_reported_and_whole_lines_kept(paths: Paths) -> None:
    run = data_access.load_backtest(paths, PARTIAL)

    assert any("metrics.json" in problem for problem in run.problems)
    assert any("equity.csv" in problem for problem in run.problems)
    assert run.summary.metrics == {} and run.equity.empty
    assert len(run.trades) == 3  # the torn fourth line is not a fill


def test_load_backtest_when_directory_empty_then_empty_parts(paths: Paths) -> None:
    run = data_access.load_backtest(paths, EMPTY)

    assert run.summary.problems == ("no metrics.json yet",)
    assert run.trades.empty and run.equity.empty and run.round_trips.empty
    assert run.image is None and run.log is None and run.config_text == ""


def test_loaders_when_runs_empty_or_home_missing_then_empty_results(empty_home: Path, tmp_path: Path) -> None:
    for root in (empty_home, tmp_path / "no_such_home"):
        paths = Paths(root)
        assert data_access.list_backtests(paths) == []
        assert data_access.list_live_sessions(paths) == []
        assert data_access.latest_session_id(paths) is None
        assert data_access.list_ml_runs(paths) == [] and data_access.list_lessons(paths) == []
        assert data_access.legacy_plots(paths) == [] and data_access.log_files(paths) == {}
        assert data_access.load_backtest_metrics(paths, "nope") == {}
        assert data_access.load_backtest_equity(paths, "nope").empty
        assert data_access.load_backtest_trades(paths, "nope").empty
        assert not data_access.tail_log(paths.live_log).exists


def test_metrics_when_file_unchanged_then_parsed_once_and_again_after_a_rewrite(paths: Paths) -> None:
    metrics = paths.backtest(STANDARD) / "metrics.json"
    data_access.load_backtest_metrics(paths, STANDARD)
    parses = data_access._cache.parses

    data_access.load_backtest_metrics(paths, STANDARD)
    assert data_access._cache.parses == parses

    document = json.loads(metrics.read_text())
    document["metrics"]["sharpe"] = 1.5
    metrics.write_text(json.dumps(document))
    os.utime(metrics, ns=(metrics.stat().st_atime_ns, metrics.stat().st_mtime_ns + 1_000_000))
    assert data_access.load_backtest_metrics(paths, STANDARD)["sharpe"] == 1.5
    assert data_access._cache.parses == parses + 1


def test_metrics_when_half_written_then_empty_and_complete_once_the_writer_finishes(paths: Paths) -> None:
    metrics = paths.backtest(STANDARD) / "metrics.json"
    complete = metrics.read_text()
    metrics.write_text(complete[: len(complete) // 2])

    assert data_access.load_backtest_metrics(paths, STANDARD) == {}
    assert data_access.load_backtest_metrics(paths, STANDARD) == {}  # an unchanged broken file is not re-parsed

    metrics.write_text(complete)
    os.utime(metrics, ns=(metrics.stat().st_atime_ns, metrics.stat().st_mtime_ns + 1_000_000))
    assert data_access.load_backtest_metrics(paths, STANDARD)["trades"] > 0


def test_read_with_retry_when_parse_fails_then_succeeds_then_value_returned(tmp_path: Path) -> None:
    attempts = []

    def flaky(path: Path) -> str:
        attempts.append(path)
        if len(attempts) < 3:
            raise ValueError("torn")
        return "ok"

    assert reading.read_with_retry(tmp_path, flaky) == "ok" and len(attempts) == 3
    with pytest.raises(reading.Unreadable, match="after 3 attempts"):
        reading.read_with_retry(tmp_path, lambda path: json.loads("{"))


def _touch_session(paths: Paths, session_id: str, when: float) -> None:
    """Give a session directory and its event log one modification time (seconds since the epoch)."""
    directory = paths.live_session(session_id)
    for path in (directory / "state.jsonl", directory):
        if path.exists():
            os.utime(path, (when, when))


def test_list_live_sessions_when_pointer_set_then_its_session_first_then_newest_by_time(paths: Paths) -> None:
    for age, session_id in enumerate((RUNNING, DENIED, FINISHED)):
        _touch_session(paths, session_id, 1_700_000_000 - 3600 * age)

    sessions = data_access.list_live_sessions(paths)

    assert [item.session_id for item in sessions] == [FINISHED, RUNNING, DENIED]
    assert [item.is_latest for item in sessions] == [True, False, False]
    assert [item.finished for item in sessions] == [True, False, True]
    assert data_access.latest_session_id(paths) == FINISHED


def test_list_live_sessions_when_no_pointer_then_newest_by_time_not_by_name(paths: Paths) -> None:
    paths.latest_session.unlink()
    running = paths.live_session("a_demo")  # sorts before every dated name, and is the newest
    running.mkdir()
    (running / "state.jsonl").write_text("")
    for age, session_id in enumerate(("a_demo", FINISHED, RUNNING, DENIED)):
        _touch_session(paths, session_id, 1_700_000_000 - 3600 * age)

    sessions = data_access.list_live_sessions(paths)

    assert sessions[0].session_id == "a_demo" and not sessions[0].finished
    assert not any(item.is_latest for item in sessions)


def test_live_snapshot_when_finished_then_tables_from_csvs(paths: Paths) -> None:
    snapshot = data_access.load_live_snapshot(paths, FINISHED)
    fills_on_disk = (paths.live_session(FINISHED) / "trades.csv").read_text().splitlines()

    assert snapshot.finished and snapshot.problems == ()
    assert len(snapshot.account) == 120 and len(snapshot.fills) == len(fills_on_disk) - 1
    assert float(snapshot.latest["equity"]) == pytest.approx(float(snapshot.account["equity"].iloc[-1]))
    assert snapshot.plots and snapshot.log == paths.live_session(FINISHED) / "logs" / "run.log"
    assert "Paper session" in snapshot.summary_markdown and snapshot.trading_state == "active"


def test_live_snapshot_when_intents_denied_then_denials_with_reason(paths: Paths) -> None:
    snapshot = data_access.load_live_snapshot(paths, DENIED)

    assert len(snapshot.denials) == 1
    assert snapshot.denials.iloc[0]["reason"] == "max_order_notional"
    assert "exceeds 25000" in snapshot.denials.iloc[0]["detail"]


def test_live_snapshot_when_running_then_built_from_events_without_the_torn_line(paths: Paths) -> None:
    events = paths.live_session(RUNNING) / "state.jsonl"
    whole = events.read_bytes()[: events.read_bytes().rfind(b"\n") + 1].splitlines()
    bars = sum(1 for line in whole if json.loads(line)["event"] == "bar")

    snapshot = data_access.load_live_snapshot(paths, RUNNING)

    assert not snapshot.finished and snapshot.problems == ()
    assert len(snapshot.account) == bars
    assert snapshot.latest["equity"] == json.loads(whole[-1])["account"]["equity"]
    assert snapshot.log == paths.live_log  # no run.log of its own yet: the deployment's live.log


def test_live_snapshot_when_events_appended_then_only_new_bytes_read(paths: Paths) -> None:
    events = paths.live_session(RUNNING) / "state.jsonl"
    data_access.load_live_snapshot(paths, RUNNING)
    before = data_access.bytes_read()["events"]
    last = json.loads(events.read_bytes().splitlines()[-2])
    later = []
    for minute in (58, 59):
        record = json.loads(json.dumps(last))
        record["account"]["ts"] = f"2024-01-01T00:{minute}:00Z"
        later.append(json.dumps(record))
    # the writer died mid-line (now ended), then a restarted one appended two more bars
    addition = ("\n" + "\n".join(later) + "\n").encode()
    with events.open("ab") as handle:
        handle.write(addition)

    snapshot = data_access.load_live_snapshot(paths, RUNNING)

    assert data_access.bytes_read()["events"] - before == len(addition)
    assert snapshot.account["ts"].iloc[-1].isoformat() == "2024-01-01T00:59:00+00:00"
    assert snapshot.problems == ("state.jsonl: 1 unreadable line(s) skipped",)


def test_tail_log_when_filtered_then_matching_lines_with_secrets_masked(paths: Paths) -> None:
    assert len(data_access.tail_log(paths.live_log, 3).lines) == 3
    filled = data_access.tail_log(paths.live_log, 50, r"filled o\d")
    assert len(filled.lines) == 2 and all("filled" in line for line in filled.lines)

    everything = "\n".join(data_access.tail_log(paths.live_log, 50).lines)
    assert "fixture-redis-password" not in everything and f":{MASK}@127.0.0.1" in everything

    invalid = data_access.tail_log(paths.live_log, 50, "([")
    assert invalid.problem.startswith("not a valid regular expression") and len(invalid.lines) == 8


def test_tail_log_when_appended_then_reads_only_new_bytes_and_restarts_after_rotation(tmp_path: Path) -> None:
    log = tmp_path / "live.log"
    log.write_text("".join(f"line {number}\n" for number in range(100_000)))
    first = data_access.tail_log(log, 10)
    after_first = data_access.bytes_read()["logs"]
    assert first.lines[-1] == "line 99999" and after_first <= 2 * reading.TAIL_BLOCK_BYTES + 2000 * 160

    with log.open("a") as handle:
        handle.write("appended one\nappended tw")  # the second line is still being written
    assert data_access.tail_log(log, 2).lines == ("line 99999", "appended one")
    assert data_access.bytes_read()["logs"] - after_first == len("appended one\nappended tw")
    with log.open("a") as handle:
        handle.write("o\n")
    assert data_access.tail_log(log, 1).lines == ("appended two",)

    log.write_text("rotated\n")
    assert data_access.tail_log(log, 5).lines == ("rotated",)


def test_ml_runs_and_lessons_when_fixtures_then_read_with_their_files(paths: Paths) -> None:
    (run,) = data_access.list_ml_runs(paths)
    assert run.stamp == "20240101_000000" and run.metrics["sharpe"] == 1.42 and run.role == ""

    (lesson,) = data_access.list_lessons(paths)
    assert lesson.lesson == "sma_basics" and lesson.transcript_is_markdown
    assert "moving average" in lesson.transcript and "SMA" in lesson.glossary and len(lesson.plots) == 1


def test_loaders_when_everything_read_then_nothing_under_runs_changed(paths: Paths) -> None:
    before = tree_digest(paths.root)

    for item in data_access.list_backtests(paths):
        data_access.load_backtest(paths, item.run_id)
    for session in data_access.list_live_sessions(paths):
        data_access.load_live_snapshot(paths, session.session_id)
    data_access.tail_log(paths.live_log, 100, "INFO")
    data_access.list_ml_runs(paths)
    data_access.list_lessons(paths)

    assert tree_digest(paths.root) == before
