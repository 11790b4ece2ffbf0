"""Pipeline latency and replay throughput: the services over Redis, the in-process runner, raw redis-py.

    python bench/pipeline_latency.py [--samples 500] [--symbols 10] [--days 21] [--skip stack,inprocess]

One run, one throwaway redis-server (no persistence) on a free port, loopback only:

  raw hop      redis-py XADD → XREADGROUP → XACK between two clients: the floor any hop pays.
  latency      ml, risk and executor run as their own processes (``logos serve``); the benchmark
               publishes bars on the bar stream exactly as the feed does, one at a time, and waits
               for the fill each one causes. The bars zig-zag so that sma_cross 1/2 changes its
               target on every bar, and the executor fills at the bar's close, so every bar travels
               bar → executor (account snapshot) → ml (intent) → risk (order) → executor (fill) and
               the fill reaches an observer reading the fill stream (a one-tick zig-zag and 1,000 of
               notional per order keep the account far from every risk limit). p50 and p99 of bar published →
               fill seen.
  stack        feed, ml, risk and executor as processes replay --symbols x --days sessions of
               390 minute bars (the default is a month of 10 equities: 81,900 bars) in the causal
               order, the feed at most LOGOS_REPLAY_WINDOW bars ahead of the executor, sma_cross
               10/30; bars/s from the feed's first to its last bar.
  in-process   ``logos trade --paper --feed replay``'s session runner on the same bars.

These are measurements, not tests: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from bus_throughput import client, percentile, raw_latency, start_redis

from logos.bus import Bus, encode
from logos.bus.redis_backend import RedisBackend
from logos.contracts import Bar
from logos.secrets import CONTROL_KEY, ORDERS_KEY
from logos.settings import LogosSettings
from logos.streams import StreamNames

GOALS = {"p50_ms": 3.0, "p99_ms": 10.0, "stack_bars_per_second": 5_000, "inprocess_bars_per_second": 50_000}
SESSION_MINUTES = 390
LATENCY_SYMBOL = "AAPL"
TOKEN = uuid.uuid4().hex


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- services as processes -------------------------------------------------------------------------------------------


def service_environment(redis_url: str, prefix: str, home: Path, extra: dict[str, str]) -> dict[str, str]:
    prefixes = ("LOGOS_", "FEED_", "ML_", "RISK_", "EXECUTOR_")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    environment.update(
        LOGOS_REDIS_URL=redis_url,
        LOGOS_STREAM_PREFIX=prefix,
        LOGOS_HOME=str(home / prefix),  # each run is a session of its own: its own files and risk state
        LOGOS_SECRETS_DIR=str(home / ".logos" / "secrets"),  # one set of keys for all
        LOGOS_READ_BLOCK_SECONDS="0.05",
        LOGOS_LOG_LEVEL="WARNING",
        RISK_CONTROL_TOKEN=TOKEN,
        RISK_CLOCK="data",
        EXECUTOR_SESSION_ID=f"bench-{prefix}",
    )
    environment.update(extra)
    return environment


@contextmanager
def services(names: list[str], environment: dict[str, str]) -> Iterator[dict[str, str]]:
    """Start ``logos serve NAME`` for each name on free ports; yield their base URLs; stop them with SIGINT."""
    logos = shutil.which("logos") or str(Path(sys.executable).with_name("logos"))
    processes, urls = [], {}
    try:
        for name in names:
            port = free_port()
            urls[name] = f"http://127.0.0.1:{port}"
            processes.append(
                subprocess.Popen(
                    [logos, "serve", name, "--host", "127.0.0.1", "--port", str(port)],
                    env=environment,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 60
        for name, url in urls.items():
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError(f"{name} did not become ready within 60 s")
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


# --- latency ---------------------------------------------------------------------------------------------------------


def zigzag_bar(index: int, start: datetime) -> Bar:
    close = Decimal("100.01") if index % 2 else Decimal("100.00")
    return Bar(
        id=f"{LATENCY_SYMBOL}@{index}",
        ts=start + timedelta(minutes=index),
        symbol=LATENCY_SYMBOL,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=Decimal(1000),
        source="bench",
    )


async def pipeline_latency(redis_url: str, prefix: str, samples: int, warmup: int) -> list[float]:
    names = StreamNames(prefix=prefix)
    bus = Bus(RedisBackend(client(redis_url)), names)
    observer = client(redis_url)
    start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    last_seen = "$"
    results = []
    try:
        for index in range(warmup + samples):
            sent = time.perf_counter()
            await bus.publish(names.bars_for(LATENCY_SYMBOL), zigzag_bar(index, start))
            if index < 2:  # sma_cross 1/2 needs two bars before its first target
                await asyncio.sleep(0.05)
                continue
            response = await observer.xread({names.fills: last_seen}, count=1, block=5000)
            if not response:
                raise RuntimeError(f"no fill within 5 s of bar {index}: is the pipeline trading?")
            arrived = time.perf_counter()
            last_seen = response[0][1][-1][0].decode()
            if index >= warmup:
                results.append((arrived - sent) * 1e3)
    finally:
        await bus.close()
        await observer.aclose()
    return results


# --- throughput ------------------------------------------------------------------------------------------------------


def month_of_bars(symbols: int, days: int, seed: int = 7) -> pd.DataFrame:
    """``symbols`` random-walk equities over ``days`` sessions of 390 minute bars, in the loader's long format."""
    rng = np.random.default_rng(seed)
    session = pd.date_range("2024-01-02 14:30", periods=SESSION_MINUTES, freq="1min", tz="UTC")
    index = session.append([session + pd.Timedelta(days=day) for day in range(1, days)])
    frames = []
    for number in range(symbols):
        count = len(index)
        close = np.round(50.0 * (1 + number) * np.exp(np.cumsum(rng.normal(0, 0.001, count))), 2)
        opened = np.round(np.concatenate([[close[0]], close[:-1]]), 2)
        high = np.maximum(opened, close) + 0.01
        low = np.minimum(opened, close) - 0.01
        volume = np.round(rng.lognormal(8, 1, count))
        frames.append(pd.DataFrame({"timestamp": index, "symbol": f"SYM{number:02d}", "open": opened, "high": high,
                                    "low": low, "close": close, "volume": volume}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def stack_throughput(redis_url: str, prefix: str, home: Path, data: Path, bars: int) -> float:
    extra = {
        "FEED_PROVIDER": "replay",
        "FEED_REPLAY_DATA": str(data),
        "ML_STRATEGY": "sma_cross",
        "ML_PARAMS": json.dumps({"fast": 10, "slow": 30}),
        "ML_SIZING": "notional:5000",
    }
    environment = service_environment(redis_url, prefix, home, extra)
    with services(["ml", "risk", "executor", "feed"], environment) as urls:
        first: float | None = None
        while True:
            details = httpx.get(f"{urls['feed']}/status", timeout=5.0).json()["details"]
            now = time.perf_counter()
            if first is None and details["replayed"]:
                first = now  # the first poll that sees a bar; polls are 20 ms apart
            if details["replay_finished"]:
                assert first is not None
                return details["replayed"] / (now - first) if details["replayed"] == bars else float("nan")
            time.sleep(0.02)


def inprocess_throughput(home: Path, data: Path) -> tuple[float, int]:
    os.environ["LOGOS_HOME"] = str(home)
    from logos.data.loading import load_bars
    from logos.settings import LogosSettings
    from services.cli.trade import run_session
    from services.executor.config import ExecutorSettings
    from services.ml.config import MLSettings
    from services.risk.config import RiskSettings

    frames = load_bars(data)
    logos = LogosSettings(home=home)
    ml = MLSettings(logos=logos, strategy="sma_cross", params={"fast": 10, "slow": 30}, sizing="notional:5000")
    risk = RiskSettings(logos=logos, clock="data", state_file=home / "inprocess_risk.json")
    executor = ExecutorSettings(logos=logos, session_id="bench-inprocess")
    started = time.perf_counter()
    count = asyncio.run(run_session(frames, logos, ml, risk, executor)).bars
    return count / (time.perf_counter() - started), count


# --- report ----------------------------------------------------------------------------------------------------------


def verdict(value: float, goal: float, lower_is_better: bool) -> str:
    if value != value:  # NaN: not measured
        return "n/a"
    met = value <= goal if lower_is_better else value >= goal
    return "meets" if met else "misses"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500, help="latency samples (after 50 warm-up bars)")
    parser.add_argument("--symbols", type=int, default=10, help="symbols of the replay (default 10)")
    parser.add_argument("--days", type=int, default=21, help="sessions of 390 minute bars (default 21: a month)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: latency, stack, inprocess")
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    process, redis_url, directory = start_redis()
    home = Path(tempfile.mkdtemp(prefix="logos-bench-home-"))
    LogosSettings(home=home).secrets.ensure([ORDERS_KEY, CONTROL_KEY])  # risk signs orders, the executor checks them
    try:
        fields = [encode(zigzag_bar(0, datetime(2024, 1, 2, tzinfo=UTC)))] * 1000
        raw = asyncio.run(raw_latency(redis_url, f"bench-raw-{uuid.uuid4().hex[:6]}", fields, 1000))
        raw_p50, raw_p99 = percentile(raw, 0.5) / 1e3, percentile(raw, 0.99) / 1e3
        print(f"raw redis-py one hop: p50 {raw_p50:.3f} ms, p99 {raw_p99:.3f} ms")
        p50 = p99 = float("nan")
        if "latency" not in skip:
            prefix = f"bench-latency-{uuid.uuid4().hex[:6]}"
            extra = {"ML_STRATEGY": "sma_cross", "ML_PARAMS": json.dumps({"fast": 1, "slow": 2}),
                     "ML_SIZING": "notional:1000", "EXECUTOR_FILLS__TIMING": "close"}  # fmt: skip
            with services(["ml", "risk", "executor"], service_environment(redis_url, prefix, home, extra)):
                samples = asyncio.run(pipeline_latency(redis_url, prefix, args.samples, warmup=50))
            p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
            print(f"bar published → fill seen, through executor → ml → risk → executor over Redis ({len(samples)} "
                  f"bars): p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(samples):.2f} ms")  # fmt: skip
        bars_frame = month_of_bars(args.symbols, args.days)
        data = home / "replay.csv"
        bars_frame.to_csv(data, index=False)
        bars = len(bars_frame)
        stack = inprocess = float("nan")
        if "stack" not in skip:
            stack = stack_throughput(redis_url, f"bench-stack-{uuid.uuid4().hex[:6]}", home, data, bars)
            print(f"Redis stack replay: {bars:,} bars ({args.symbols} symbols x {args.days} days) "
                  f"at {stack:,.0f} bars/s")  # fmt: skip
        if "inprocess" not in skip:
            inprocess, count = inprocess_throughput(home, data)
            print(f"logos trade --feed replay (in-process): {count:,} bars at {inprocess:,.0f} bars/s")
        stack_goal, inprocess_goal = GOALS["stack_bars_per_second"], GOALS["inprocess_bars_per_second"]
        print(
            f"goals: p50 <= {GOALS['p50_ms']} ms {verdict(p50, GOALS['p50_ms'], True)}; "
            f"p99 <= {GOALS['p99_ms']} ms {verdict(p99, GOALS['p99_ms'], True)}; "
            f"stack >= {stack_goal:,} bars/s {verdict(stack, stack_goal, False)}; "
            f"in-process >= {inprocess_goal:,} bars/s {verdict(inprocess, inprocess_goal, False)}"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
