"""Dashboard speed: a 50,000-row backtest loaded and its Backtests page rendered; a Live Monitor refresh.

Goals: the run's fills and equity curve load through ``data_access`` in at most 150 ms, the Backtests
page renders (AppTest, data caches cold) in at most 500 ms, and refreshing the log tail of a 100 MB
log reads only the bytes appended since the previous refresh.

    python bench/dashboard_load.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from logos.paths import Paths  # noqa: E402
from services.dashboard import data_access  # noqa: E402

ROWS = 50_000
RUN_ID = "20240101_000000_sma_cross_BENCH"
LOG_BYTES = 100 * 1024 * 1024
LOAD_GOAL_MS, PAGE_GOAL_MS = 150.0, 500.0


def write_run(paths: Paths) -> None:
    """A backtest of 50,000 fills and 50,000 equity points, in the files a real run writes."""
    directory = paths.backtest(RUN_ID)
    (directory / "logs").mkdir(parents=True)
    fixture = ROOT / "tests" / "fixtures" / "runs" / "20240101_000000_sma_cross_sma_demo_1m"
    for name in ("metrics.json", "config.yaml", "round_trips.csv", "equity.png"):
        shutil.copyfile(fixture / name, directory / name)
    (directory / "logs" / "run.log").write_text("")
    random = np.random.default_rng(0)
    stamps = pd.date_range("2024-01-01", periods=ROWS, freq="min", tz="UTC")
    equity = 100_000 * np.exp(np.cumsum(random.normal(0, 1e-4, ROWS)))
    peak = np.maximum.accumulate(equity)
    pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "target": 1.0, "position": 100.0,
         "cash": np.round(equity * 0.1, 8), "equity": np.round(equity, 8), "drawdown": np.round(equity / peak - 1, 10)}
    ).to_csv(directory / "equity.csv", index=False)  # fmt: skip
    sides = np.where(np.arange(ROWS) % 2 == 0, "buy", "sell")
    pd.DataFrame(
        {"ts": stamps.map(lambda stamp: stamp.isoformat()), "symbol": "BENCH", "side": sides, "quantity": 100,
         "price": np.round(100 + random.normal(0, 1, ROWS), 2), "fee": 0.1, "realized_pnl": 0,
         "position_after": np.where(sides == "buy", 100, 0), "cash_after": 1000.0,
         "order_id": [f"o{number}" for number in range(ROWS)]}
    ).to_csv(directory / "trades.csv", index=False)  # fmt: skip


def best_ms(action: object, repeat: int = 5) -> float:
    timings = []
    for _ in range(repeat):
        data_access.reset_caches()
        started = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


def page_ms() -> float:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "services" / "dashboard" / "app.py"), default_timeout=60)
    app.run()
    app.switch_page("pages/backtests.py").run()
    assert not app.exception, [item.value for item in app.exception]
    assert len(app.dataframe[0].value) == 50  # one page of fills
    timings = []
    for _ in range(5):
        data_access.reset_caches()
        started = time.perf_counter()
        app.run()
        timings.append((time.perf_counter() - started) * 1000)
        assert not app.exception
    return min(timings)


def log_refresh(root: Path) -> tuple[int, int, int, float]:
    """Bytes read by the first tail of a 100 MB log, by a refresh after an append, and that append."""
    log = root / "logs" / "live.log"
    log.parent.mkdir(parents=True)
    line = b"2024-01-01 09:00:00,000 INFO    services.executor: filled o1 buy 197 sma_demo_1m @ 101.06\n"
    block = line * (1024 * 1024 // len(line) + 1)
    with log.open("wb") as handle:
        while handle.tell() < LOG_BYTES:
            handle.write(block)
    data_access.reset_caches()
    data_access.tail_log(log, 200)
    first = data_access.bytes_read()["logs"]
    appended = b"".join(line.replace(b"o1", f"n{number}".encode()) for number in range(20))
    with log.open("ab") as handle:
        handle.write(appended)
    started = time.perf_counter()
    view = data_access.tail_log(log, 200)
    refresh_ms = (time.perf_counter() - started) * 1000
    assert "n19" in view.lines[-1]
    return first, data_access.bytes_read()["logs"] - first, len(appended), refresh_ms


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="logos-dashboard-bench-"))
    try:
        os.environ["LOGOS_HOME"] = str(home)
        paths = Paths(home)
        write_run(paths)
        load = best_ms(lambda: data_access.load_backtest(paths, RUN_ID))
        run = data_access.load_backtest(paths, RUN_ID)
        assert (len(run.trades), len(run.equity)) == (ROWS, ROWS)
        page = page_ms()
        log_size = LOG_BYTES
        first, refresh, appended, refresh_ms = log_refresh(home)
        results = {
            "rows": {"fills": ROWS, "equity": ROWS},
            "load_ms": round(load, 1),
            "backtests_page_ms": round(page, 1),
            "log_bytes": log_size,
            "log_first_tail_bytes_read": first,
            "log_refresh_bytes_read": refresh,
            "log_bytes_appended": appended,
            "log_refresh_ms": round(refresh_ms, 2),
        }
        print(json.dumps(results, indent=2))
        ok = load <= LOAD_GOAL_MS and page <= PAGE_GOAL_MS and refresh == appended
        print(
            f"load {load:.0f} ms (goal ≤ {LOAD_GOAL_MS:.0f}), page {page:.0f} ms (goal ≤ {PAGE_GOAL_MS:.0f}), "
            f"refresh read {refresh:,} bytes of {appended:,} appended to a {log_size / 2**20:.0f} MB log: "
            + ("goals met" if ok else "GOAL MISSED")
        )
        return 0 if ok else 1
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
