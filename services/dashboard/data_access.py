"""Read-only loaders of everything the dashboard shows: backtests, live sessions, logs, ML runs, lessons.

Every location comes from :class:`logos.paths.Paths`. Nothing here writes a file. A missing file is an
empty result; a file that cannot be parsed (being written, truncated) is retried, then reported in
``problems`` and treated as empty, never raised. Parsed files are cached by their stamp (inode, size,
modification time), and logs and event logs are followed by offset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from logos.paths import Paths
from services.dashboard.masking import mask_text, mask_value, mask_yaml
from services.dashboard.reading import (
    EventFollower,
    LogTail,
    StampCache,
    Unreadable,
    csv_parser,
    parquet_parser,
    parse_json,
    parse_text,
)

# runs/<name>/ directories that are not backtests
RESERVED_RUN_DIRS = frozenset({"live", "ml", "brain", "portfolio", "monitoring", "lessons", "promotions"})
METRICS_FILES = ("metrics.json",)
LEGACY_METRICS_FILES = ("summary.json", "stats.json")
TRADES_FILES = ("trades.csv",)
LEGACY_TRADES_FILES = ("fills.csv", "executions.csv")
EQUITY_FILES = ("equity.parquet", "equity.csv")  # runs before equity.parquet wrote the CSV
LEGACY_EQUITY_FILES = ("equity_curve.csv",)
TIME_COLUMNS = ("timestamp", "ts", "date", "time", "datetime")
METRIC_ALIASES = {"sharpe_ratio": "sharpe", "max_dd": "max_drawdown", "maxdd": "max_drawdown",
                  "winrate": "win_rate", "win_pct": "win_rate", "exposure_time": "exposure"}  # fmt: skip
TRADE_NUMBERS = ("quantity", "price", "fee", "realized_pnl", "position_after", "cash_after")
ACCOUNT_NUMBERS = ("cash", "equity", "realized_pnl", "unrealized_pnl", "fees_paid", "gross_exposure", "net_exposure")
ORDER_FIELDS = ("id", "symbol", "side", "quantity", "status", "decided_at", "order_type", "rejection")
STATE_FIELDS = ("ts", "trading_state", "kill_switch", "cause", "detail")
POSITION_NUMBERS = ("quantity", "average_price", "market_price", "unrealized_pnl")

_cache = StampCache()
_tails = LogTail()
_events = EventFollower()


def reset_caches() -> None:
    """Forget every cached parse and followed file (tests and benchmarks)."""
    global _tails, _events
    _cache.clear()
    _tails = LogTail()
    _events = EventFollower()


def bytes_read() -> dict[str, int]:
    """Bytes read so far by the log tails and the event-log follower."""
    return {"logs": _tails.bytes_read, "events": _events.bytes_read}


def _modified(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return datetime.fromtimestamp(0, tz=UTC)


def _load(path: Path, kind: str, parse: Any, problems: list[str]) -> Any:
    try:
        return _cache.get(path, kind, parse)
    except Unreadable as exc:
        problems.append(str(exc))
        return None
    except OSError as exc:
        problems.append(f"{path.name} could not be opened: {exc.strerror or exc}")
        return None


def _first(directory: Path, standard: tuple[str, ...], legacy: tuple[str, ...]) -> tuple[Path | None, bool]:
    for name in standard:
        if (directory / name).is_file():
            return directory / name, False
    for name in legacy:
        if (directory / name).is_file():
            return directory / name, True
    return None, False


def _float_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    for column in columns:
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def _times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")


# --- backtests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestSummary:
    """One backtest directory as the run list shows it."""

    run_id: str
    directory: Path
    modified: datetime
    symbol: str = ""
    strategy: str = ""
    start: str = ""
    end: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    legacy_files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    risk: Mapping[str, Any] = field(default_factory=dict)  # a run through the risk gate: its limits and denials

    @property
    def has_results(self) -> bool:
        return bool(self.metrics)


@dataclass(frozen=True)
class BacktestRun:
    """Everything of one backtest: metrics, fills, equity curve, plots, configuration and log."""

    summary: BacktestSummary
    trades: pd.DataFrame
    equity: pd.DataFrame
    round_trips: pd.DataFrame
    config_text: str
    image: Path | None
    log: Path | None
    legacy_files: tuple[str, ...]
    problems: tuple[str, ...]
    # a shared-account run (several symbols, or the risk gate): each symbol's share, risk's denials and state changes
    breakdown: pd.DataFrame = field(default_factory=pd.DataFrame)
    denials: pd.DataFrame = field(default_factory=pd.DataFrame)
    risk_events: pd.DataFrame = field(default_factory=pd.DataFrame)


def _metrics_document(document: Any) -> dict[str, Any]:
    """Normalize metrics.json (nested under "metrics") and legacy flat documents to one shape."""
    if not isinstance(document, dict):
        return {}
    nested = document.get("metrics")
    raw = nested if isinstance(nested, dict) else document
    metrics = {METRIC_ALIASES.get(str(key).lower(), str(key)): value for key, value in raw.items()}
    metrics = {key: value for key, value in metrics.items() if isinstance(value, int | float | str | type(None))}
    for key in ("symbol", "strategy", "start", "end"):
        metrics.pop(key, None)
    return {
        "symbol": str(document.get("symbol", "")),
        "strategy": str(document.get("strategy", "")),
        "start": str(document.get("start", "")),
        "end": str(document.get("end", "")),
        "params": document.get("params") if isinstance(document.get("params"), dict) else {},
        "metrics": metrics,
        "risk": document.get("risk") if isinstance(document.get("risk"), dict) else {},
    }


def _is_backtest_dir(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".") and path.name not in RESERVED_RUN_DIRS


def backtest_summary(paths: Paths, run_id: str) -> BacktestSummary:
    """Read one run's metrics (standard or legacy file name) into its summary."""
    directory = paths.backtest(run_id)
    problems: list[str] = []
    legacy: list[str] = []
    metrics_path, is_legacy = _first(directory, METRICS_FILES, LEGACY_METRICS_FILES)
    document: dict[str, Any] = {}
    if metrics_path is None:
        problems.append("no metrics.json yet")
    else:
        if is_legacy:
            legacy.append(metrics_path.name)
        document = _metrics_document(_load(metrics_path, "json", parse_json, problems))
    return BacktestSummary(
        run_id=run_id,
        directory=directory,
        modified=_modified(directory),
        symbol=document.get("symbol", ""),
        strategy=document.get("strategy", ""),
        start=document.get("start", ""),
        end=document.get("end", ""),
        metrics=document.get("metrics", {}),
        params=mask_value(document.get("params", {})),
        legacy_files=tuple(legacy),
        problems=tuple(problems),
        risk=document.get("risk", {}),
    )


def list_backtests(paths: Paths) -> list[BacktestSummary]:
    """Every backtest under runs/, newest first (empty when runs/ does not exist)."""
    try:
        candidates = [path for path in paths.runs.iterdir() if _is_backtest_dir(path)]
    except OSError:
        return []
    summaries = [backtest_summary(paths, path.name) for path in candidates]
    return sorted(summaries, key=lambda item: (item.modified, item.run_id), reverse=True)


def _parse_equity(path: Path) -> pd.DataFrame:
    frame = (parquet_parser if path.suffix == ".parquet" else csv_parser)(("equity",))(path)
    time_column = next((name for name in TIME_COLUMNS if name in frame.columns), None)
    if time_column is None:
        raise ValueError(f"no time column (one of {', '.join(TIME_COLUMNS)})")
    frame = frame.rename(columns={time_column: "timestamp"})
    frame["timestamp"] = _times(frame["timestamp"])
    frame = _float_columns(frame, ("equity", "drawdown", "cash", "position", "target"))
    frame = frame.dropna(subset=["timestamp", "equity"]).reset_index(drop=True)
    if "drawdown" not in frame.columns:
        equity = frame["equity"].to_numpy(dtype=np.float64)
        peak = np.maximum.accumulate(equity) if equity.size else equity
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["drawdown"] = np.where(peak > 0, equity / peak - 1.0, 0.0)
    return frame


def _parse_trades(path: Path) -> pd.DataFrame:
    frame = csv_parser(("side",))(path)
    if "ts" in frame.columns:
        frame["ts"] = _times(frame["ts"])
    return _float_columns(frame, TRADE_NUMBERS)


def _parse_round_trips(path: Path) -> pd.DataFrame:
    frame = csv_parser()(path)
    for column in ("opened_at", "closed_at"):
        if column in frame.columns:
            frame[column] = _times(frame[column])
    return _float_columns(frame, ("quantity", "entry_price", "exit_price", "pnl", "fees", "net_pnl"))


def load_backtest_metrics(paths: Paths, run_id: str) -> dict[str, Any]:
    """The run's metrics (CAGR, Sharpe, …) as fractions; empty when absent or unreadable."""
    return dict(backtest_summary(paths, run_id).metrics)


def load_backtest_equity(paths: Paths, run_id: str) -> pd.DataFrame:
    """The run's equity curve (timestamp, equity, drawdown, …); empty when absent or unreadable."""
    path, _ = _first(paths.backtest(run_id), EQUITY_FILES, LEGACY_EQUITY_FILES)
    frame = _load(path, "equity", _parse_equity, []) if path else None
    return frame if frame is not None else pd.DataFrame(columns=["timestamp", "equity", "drawdown"])


def load_backtest_trades(paths: Paths, run_id: str) -> pd.DataFrame:
    """The run's fills (trades.csv columns); empty when absent or unreadable."""
    path, _ = _first(paths.backtest(run_id), TRADES_FILES, LEGACY_TRADES_FILES)
    frame = _load(path, "trades", _parse_trades, []) if path else None
    return frame if frame is not None else pd.DataFrame(columns=["ts", "symbol", "side", "quantity", "price"])


def legacy_plots(paths: Paths) -> list[Path]:
    """Equity images of the old layout, ``runs/equity_{SYMBOL}_{STRATEGY}.png``."""
    try:
        return sorted(path for path in paths.runs.glob("equity_*.png") if path.is_file())
    except OSError:
        return []


def _image(paths: Paths, summary: BacktestSummary) -> tuple[Path | None, bool]:
    if (summary.directory / "equity.png").is_file():
        return summary.directory / "equity.png", False
    if summary.symbol and summary.strategy:
        for name in (f"equity_{summary.symbol}_{summary.strategy}.png",):
            for where in (summary.directory, paths.runs):
                if (where / name).is_file():
                    return where / name, True
    return None, False


def load_backtest(paths: Paths, run_id: str) -> BacktestRun:
    """Load one run for display; every part is empty when its file is absent or unreadable."""
    summary = backtest_summary(paths, run_id)
    problems = list(summary.problems)
    legacy = list(summary.legacy_files)
    frames: dict[str, pd.DataFrame] = {}
    for name, standard, old, parse in (
        ("trades", TRADES_FILES, LEGACY_TRADES_FILES, _parse_trades),
        ("equity", EQUITY_FILES, LEGACY_EQUITY_FILES, _parse_equity),
        ("round_trips", ("round_trips.csv",), (), _parse_round_trips),
        ("breakdown", ("breakdown.csv",), (), csv_parser(("symbol",))),
        ("denials", ("denials.csv",), (), csv_parser()),
        ("risk_events", ("risk_events.csv",), (), csv_parser()),
    ):
        path, is_legacy = _first(summary.directory, standard, old)
        if path is not None and is_legacy:
            legacy.append(path.name)
        loaded = _load(path, name, parse, problems) if path else None
        frames[name] = loaded if loaded is not None else pd.DataFrame()
    config = _load(summary.directory / "config.yaml", "text", parse_text, problems)
    image, image_is_legacy = _image(paths, summary)
    if image is not None and image_is_legacy:
        legacy.append(image.name)
    log = summary.directory / "logs" / "run.log"
    return BacktestRun(
        summary=summary,
        trades=frames["trades"],
        equity=frames["equity"],
        round_trips=frames["round_trips"],
        config_text=mask_yaml(config) if config else "",
        image=image,
        log=log if log.is_file() else None,
        legacy_files=tuple(dict.fromkeys(legacy)),
        problems=tuple(dict.fromkeys(problems)),
        breakdown=frames["breakdown"],
        denials=frames["denials"],
        risk_events=frames["risk_events"],
    )


# --- live sessions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionSummary:
    """One paper or live session directory."""

    session_id: str
    directory: Path
    modified: datetime
    finished: bool
    is_latest: bool


@dataclass(frozen=True)
class LiveSnapshot:
    """A session as the Live Monitor shows it: from its CSVs when finished, its event log while running."""

    session_id: str
    directory: Path
    finished: bool
    account: pd.DataFrame
    latest: Mapping[str, Any]
    positions: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame
    denials: pd.DataFrame
    state_changes: pd.DataFrame
    plots: tuple[Path, ...]
    summary_markdown: str
    log: Path | None
    problems: tuple[str, ...]

    @property
    def trading_state(self) -> str:
        if not self.state_changes.empty:
            return str(self.state_changes.iloc[-1]["trading_state"])
        if not self.denials.empty and "trading_state" in self.denials.columns:
            return str(self.denials.iloc[-1]["trading_state"])
        return "active"


def latest_session_id(paths: Paths) -> str | None:
    """The session ``runs/live/latest_session`` points at (a symlink, or a file holding its path)."""
    pointer = paths.latest_session
    try:
        if pointer.is_symlink():
            target = os.readlink(pointer)
        elif pointer.is_file():
            target = pointer.read_text(encoding="utf-8").strip()
        else:
            return None
    except OSError:
        return None
    name = Path(target).name
    return name or None


def list_live_sessions(paths: Paths) -> list[SessionSummary]:
    """Every session under runs/live/sessions/: the one latest_session points at first, then the newest by time.

    A session's time is its last write (its event log grows while it runs), never its name: a running
    session named ``demo`` comes before a finished ``20250101_120000``.
    """
    try:
        directories = [path for path in paths.live_sessions.iterdir() if path.is_dir() and path.name[:1] != "."]
    except OSError:
        return []
    latest = latest_session_id(paths)
    sessions = []
    for directory in directories:
        events = directory / "state.jsonl"
        sessions.append(
            SessionSummary(
                session_id=directory.name,
                directory=directory,
                modified=max(_modified(directory), _modified(events)),
                finished=(directory / "session.md").is_file(),
                is_latest=directory.name == latest,
            )
        )
    return sorted(sessions, key=lambda item: (item.is_latest, item.modified, item.session_id), reverse=True)


def _events_frames(records: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Turn a session's event records into the tables a running session does not have yet."""
    accounts, fills, orders, denials, changes = [], [], [], [], []
    for record in records:
        kind = record.get("event")
        if kind == "bar":
            account = record.get("account") or {}
            accounts.append({"ts": account.get("ts"), **{name: account.get(name) for name in ACCOUNT_NUMBERS}})
            symbol = (record.get("bar") or {}).get("symbol", "")
            fills += [{"symbol": symbol, **fill} for fill in record.get("fills", [])]
        elif kind == "order":
            orders.append({name: record.get(name) for name in ORDER_FIELDS})
            fills += [{"symbol": record.get("symbol", ""), **fill} for fill in record.get("fills", [])]
        elif kind == "denied":
            denial = record.get("denial") or {}
            denials.append({name: denial.get(name) for name in ("ts", "symbol", "reason", "detail", "trading_state")})
        elif kind == "trading_state":
            change = record.get("change") or {}
            changes.append({name: change.get(name) for name in STATE_FIELDS})
    frames = {
        "account": pd.DataFrame(accounts, columns=["ts", *ACCOUNT_NUMBERS]),
        "fills": pd.DataFrame(fills, columns=["ts", "symbol", "side", "quantity", "price", "fee", "order_id"]),
        "orders": pd.DataFrame(orders),
        "denials": pd.DataFrame(denials, columns=["ts", "symbol", "reason", "detail", "trading_state"]),
        "state_changes": pd.DataFrame(changes, columns=list(STATE_FIELDS)),
    }
    for name in ("account", "fills", "denials", "state_changes"):
        frames[name]["ts"] = _times(frames[name]["ts"])
    _float_columns(frames["account"], ACCOUNT_NUMBERS)
    _float_columns(frames["fills"], TRADE_NUMBERS)
    frames["denials"]["detail"] = frames["denials"]["detail"].map(lambda text: mask_text(str(text)))
    return frames


def _parse_account(path: Path) -> pd.DataFrame:
    frame = csv_parser(("ts", "equity"))(path)
    frame["ts"] = _times(frame["ts"])
    return _float_columns(frame, ACCOUNT_NUMBERS)


def _parse_positions(path: Path) -> pd.DataFrame:
    return _float_columns(csv_parser(("symbol", "quantity"))(path), POSITION_NUMBERS)


def load_live_snapshot(paths: Paths, session_id: str) -> LiveSnapshot:
    """Load one session for display; parts that are absent or unreadable are empty."""
    directory = paths.live_session(session_id)
    problems: list[str] = []
    records, skipped = _events.records(directory / "state.jsonl")
    if skipped:
        problems.append(f"state.jsonl: {skipped} unreadable line(s) skipped")
    events = _events_frames(records)
    finished = (directory / "account.csv").is_file()
    if finished:
        account = _load(directory / "account.csv", "account", _parse_account, problems)
        positions = _load(directory / "positions.csv", "positions", _parse_positions, problems)
        orders = _load(directory / "orders.csv", "orders", csv_parser(), problems)
        fills = _load(directory / "trades.csv", "trades", _parse_trades, problems)
    else:
        account, orders, fills = events["account"], events["orders"], events["fills"]
        last = records_last_account(records)
        positions = _float_columns(pd.DataFrame(last.get("positions", []) if last else []), POSITION_NUMBERS)
    state = _load(directory / "state.json", "json", parse_json, problems)
    latest: dict[str, Any] = state if isinstance(state, dict) else (records_last_account(records) or {})
    summary = _load(directory / "session.md", "text", parse_text, problems) or ""
    log = directory / "logs" / "run.log"
    try:
        plots = tuple(sorted((directory / "plots").glob("*.png")))
    except OSError:
        plots = ()
    return LiveSnapshot(
        session_id=session_id,
        directory=directory,
        finished=finished,
        account=account if account is not None else events["account"].iloc[0:0],
        latest=mask_value({key: value for key, value in latest.items() if key != "positions"}),
        positions=positions if positions is not None else pd.DataFrame(),
        orders=orders if orders is not None else pd.DataFrame(),
        fills=fills if fills is not None else events["fills"].iloc[0:0],
        denials=events["denials"],
        state_changes=events["state_changes"],
        plots=plots,
        summary_markdown=mask_text(summary),
        log=log if log.is_file() else (paths.live_log if paths.live_log.is_file() else None),
        problems=tuple(problems),
    )


def records_last_account(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The account snapshot of the last handled bar in a session's events."""
    for record in reversed(records):
        if record.get("event") == "bar" and isinstance(record.get("account"), dict):
            return record["account"]  # type: ignore[no-any-return]
    return None


# --- logs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogView:
    """The last lines of a log (masked), after an optional regex filter."""

    path: Path
    lines: tuple[str, ...]
    exists: bool
    problem: str = ""


def log_files(paths: Paths) -> dict[str, Path]:
    """The deployment's logs that exist: live.log, app.log, ml_train.log."""
    return {path.name: path for path in (paths.live_log, paths.app_log, paths.ml_train_log) if path.is_file()}


def tail_log(path: Path, lines: int = 200, pattern: str = "") -> LogView:
    """Return the last ``lines`` lines of ``path`` matching ``pattern``; reads only bytes new since last time."""
    lines = max(1, min(lines, _tails.keep))
    everything = _tails.lines(path)
    if not everything and not path.is_file():
        return LogView(path=path, lines=(), exists=False)
    problem = ""
    if pattern:
        try:
            matcher = re.compile(pattern)
        except re.error as exc:
            problem = f"not a valid regular expression ({exc}); showing every line"
        else:
            everything = [line for line in everything if matcher.search(line)]
    shown = tuple(mask_text(line) for line in everything[-lines:])
    return LogView(path=path, lines=shown, exists=True, problem=problem)


# --- ML runs and lessons -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRun:
    """One training run under runs/ml/ and its role (champion, candidate or none)."""

    stamp: str
    directory: Path
    metadata: Mapping[str, Any]
    metrics: Mapping[str, Any]
    role: str
    problems: tuple[str, ...]


def list_ml_runs(paths: Paths) -> list[ModelRun]:
    """Every training run, newest first, with what ``current`` and ``staging`` point at."""
    try:
        directories = [path for path in paths.ml_runs.iterdir() if path.is_dir() and path.name[:1].isdigit()]
    except OSError:
        return []
    roles = {}
    for role, link in (("champion", paths.current_model), ("candidate", paths.staging_model)):
        if link.exists():
            roles[os.path.realpath(link)] = role
    runs = []
    for directory in sorted(directories, reverse=True):
        problems: list[str] = []
        metadata = _load(directory / "metadata.json", "json", parse_json, problems)
        metrics = _load(directory / "metrics.json", "json", parse_json, problems)
        runs.append(
            ModelRun(
                stamp=directory.name,
                directory=directory,
                metadata=mask_value(metadata) if isinstance(metadata, dict) else {},
                metrics=metrics if isinstance(metrics, dict) else {},
                role=roles.get(os.path.realpath(directory), ""),
                problems=tuple(problems),
            )
        )
    return runs


@dataclass(frozen=True)
class Lesson:
    """One tutor lesson run: runs/lessons/<lesson>/<timestamp>/ with its transcript, glossary and plots."""

    lesson: str
    stamp: str
    directory: Path
    transcript: str
    transcript_is_markdown: bool
    glossary: Mapping[str, Any]
    plots: tuple[Path, ...]
    problems: tuple[str, ...]


def list_lessons(paths: Paths) -> list[Lesson]:
    """Every lesson run, newest first within each lesson (empty when runs/lessons/ is absent)."""
    try:
        directories = [run for lesson in paths.lessons.iterdir() if lesson.is_dir() for run in lesson.iterdir()]
    except OSError:
        return []
    lessons = []
    for directory in sorted((path for path in directories if path.is_dir()), reverse=True):
        problems: list[str] = []
        transcript, markdown = "", False
        for name, is_markdown in (("transcript.md", True), ("transcript.txt", False)):
            if (directory / name).is_file():
                transcript = _load(directory / name, "text", parse_text, problems) or ""
                markdown = is_markdown
                break
        glossary = _load(directory / "glossary.json", "json", parse_json, problems)
        try:
            plots = tuple(sorted((directory / "plots").glob("*.png")))
        except OSError:
            plots = ()
        lessons.append(
            Lesson(
                lesson=directory.parent.name,
                stamp=directory.name,
                directory=directory,
                transcript=mask_text(transcript),
                transcript_is_markdown=markdown,
                glossary=mask_value(glossary) if isinstance(glossary, dict) else {},
                plots=plots,
                problems=tuple(problems),
            )
        )
    return lessons
