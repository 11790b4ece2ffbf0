"""The executor's memory and restart time against the session's length.

    python bench/executor_memory.py [--symbols 200] [--bars 12000,110000] [--restarts 10000,50000,100000]

Each session runs in its own process: a real ``ExecutorWorker`` on an in-memory bus (trimmed to
1,000 entries a stream, as Redis would hold them, so the bus is not what is measured) handles
minute bars of ``--symbols`` symbols in canonical order (time, then symbol) and risk-approved
``Order`` messages: every symbol goes long for two minutes in every twenty (staggered by symbol),
so about a tenth of the symbols hold a position at any time and every order fills on the next
bar. The process's resident set (VmRSS) is read every ``--every`` bars.

At each ``--restarts`` bar count the session directory is copied as it stands (the process could
have been killed there), and afterwards a fresh process restarts the executor on each copy: the
time to build the worker (which restores the session) and the process's peak RSS.

Goals (issue 13): RSS flat at or below 300 MB for a one-hour, 200-symbol session at minute bars
(12,000 bars), and a restart within 2 s at any session length. These are measurements, not
tests: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

GOALS = {"rss_mb": 300.0, "restart_seconds": 2.0}
SESSION = "bench"
T0 = datetime(2024, 1, 2, tzinfo=UTC)
CYCLE = 20  # minutes of one symbol's cycle: long for two of them


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(home: Path) -> Any:
    from logos.bus import Bus
    from logos.secrets import CONTROL_KEY, ORDERS_KEY
    from logos.settings import LogosSettings
    from services.executor.config import ExecutorSettings
    from services.executor.worker import ExecutorWorker

    logos = LogosSettings(home=home)
    logos.secrets.ensure([ORDERS_KEY, CONTROL_KEY])  # the keys a stack's executor verifies orders with
    settings = ExecutorSettings(logos=logos, session_id=SESSION)
    return ExecutorWorker(settings, Bus.memory(logos.streams, maxlen=1000))


async def run_session(home: Path, symbols: int, bars: int, every: int, restarts: list[int]) -> None:
    """Play ``bars`` bars (and the orders of the cycle) into one executor; print a JSON line every ``every`` bars."""
    from logos.bus.consumer import Delivery
    from logos.contracts import Bar, Order

    worker = _worker(home)
    names = [f"S{index:03d}" for index in range(symbols)]
    bar_delivery = Delivery(worker.names.bars_for(names[0]), "0-1", 1)
    order_delivery = Delivery(worker.names.orders, "0-1", 1)
    started = time.perf_counter()
    print(json.dumps({"bars": 0, "rss_mb": rss_mb(), "seconds": 0.0}), flush=True)
    handled = 0
    minute = 0
    while handled < bars:
        ts = T0 + timedelta(minutes=minute)
        for index, symbol in enumerate(names):
            if handled >= bars:
                break
            price = Decimal(100 + (minute + index) % 7) + Decimal(index) / 100
            bar = Bar(
                ts=ts,
                symbol=symbol,
                open=price,
                high=price + 1,
                low=price - 1,
                close=price,
                volume=Decimal(10_000),
                source="bench",
            )
            await worker.handle(bar, bar_delivery)
            phase = (minute + index) % CYCLE
            if phase in (0, 2):
                target = Decimal(10) if phase == 0 else Decimal(0)
                order = Order(
                    id=f"d|{symbol}|{minute}",
                    ts=ts,
                    intent_id=f"i|{symbol}|{minute}",
                    symbol=symbol,
                    target_quantity=target,
                    reference_price=price,
                    strategy="bench",
                )
                await worker.handle(order, order_delivery)
            handled += 1
            if handled % every == 0 or handled == bars:
                line = {"bars": handled, "rss_mb": rss_mb(), "seconds": time.perf_counter() - started}
                print(json.dumps(line), flush=True)
            if handled in restarts:
                shutil.copytree(home, home.parent / f"at_{handled}", symlinks=True)
        minute += 1
    finish = time.perf_counter()
    worker.finish()
    directory = worker.recorder.directory
    print(
        json.dumps(
            {
                "finished": True,
                "finish_seconds": time.perf_counter() - finish,
                "rss_mb": rss_mb(),
                "peak_mb": peak_mb(),
                "state_jsonl_mb": (directory / "state.jsonl").stat().st_size / 2**20,
                "fills": worker.details()["fills"],
            }
        ),
        flush=True,
    )


def restart(home: Path) -> None:
    """Build the executor on a copied session (it restores it) and print the time and the memory it took."""
    import services.executor.worker  # noqa: F401  (imported before the clock starts: a restart's work only)

    before = rss_mb()
    started = time.perf_counter()
    worker = _worker(home)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "restart_seconds": seconds,
                "events": worker.restored,
                "rss_before_mb": before,
                "rss_mb": rss_mb(),
                "peak_mb": peak_mb(),
                "bars": worker.details()["bars"],
            }
        ),
        flush=True,
    )


def _child(*arguments: str) -> list[dict[str, Any]]:
    found = []
    command = [sys.executable, __file__, *arguments]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            record = json.loads(line)
            found.append(record)
            if "bars" in record and "restart_seconds" not in record and "finished" not in record:
                print(
                    f"  {record['bars']:>8,} bars  {record['rss_mb']:8.1f} MB  {record['seconds']:7.1f} s", flush=True
                )
    if process.returncode:
        raise SystemExit(f"child {' '.join(arguments)} failed with {process.returncode}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--bars", default="12000,110000", help="session lengths to run, comma-separated")
    parser.add_argument("--restarts", default="10000,50000,100000", help="bar counts to restart at (longest run)")
    parser.add_argument("--every", type=int, default=2000, help="read RSS every this many bars")
    parser.add_argument("--child", choices=["run", "restart"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    lengths = [int(value) for value in options.bars.split(",") if value]
    restarts = [int(value) for value in options.restarts.split(",") if value]
    if options.child == "run":
        asyncio.run(run_session(options.home, options.symbols, lengths[0], options.every, restarts))
        return
    if options.child == "restart":
        restart(options.home)
        return

    results: dict[int, dict[str, Any]] = {}
    restarted: list[tuple[int, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="logos-executor-memory-") as scratch:
        for length in lengths:
            root = Path(scratch) / f"run_{length}"
            home = root / "home"
            home.mkdir(parents=True)
            here = [n for n in restarts if n <= length] if length == max(lengths) else []
            print(f"session of {length:,} bars, {options.symbols} symbols:", flush=True)
            records = _child(
                "--child",
                "run",
                "--home",
                str(home),
                "--symbols",
                str(options.symbols),
                "--bars",
                str(length),
                "--every",
                str(options.every),
                "--restarts",
                ",".join(map(str, here)),
            )
            results[length] = {"samples": [r for r in records if "seconds" in r], "end": records[-1]}
            for count in here:
                (record,) = _child("--child", "restart", "--home", str(root / f"at_{count}"))
                restarted.append((count, record))
            shutil.rmtree(root)

    print()
    print(
        f"{'bars':>9} {'RSS start MB':>13} {'RSS end MB':>11} {'RSS max MB':>11} {'peak MB':>8} "
        f"{'bars/s':>8} {'finish s':>9} {'state.jsonl MB':>15} {'fills':>7}"
    )
    met_rss = True
    for length, result in results.items():
        samples, end = result["samples"], result["end"]
        highest = max(sample["rss_mb"] for sample in samples)
        speed = samples[-1]["bars"] / samples[-1]["seconds"] if samples[-1]["seconds"] else float("nan")
        print(
            f"{length:>9,} {samples[0]['rss_mb']:>13.1f} {samples[-1]['rss_mb']:>11.1f} {highest:>11.1f} "
            f"{end['peak_mb']:>8.1f} {speed:>8.0f} {end['finish_seconds']:>9.2f} {end['state_jsonl_mb']:>15.1f} "
            f"{end['fills']:>7,}"
        )
        met_rss = met_rss and highest <= GOALS["rss_mb"]
    if restarted:
        print()
        print(
            f"{'restart at':>11} {'events':>9} {'seconds':>8} {'RSS before MB':>14} {'RSS after MB':>13} {'peak MB':>8}"
        )
        for count, record in restarted:
            print(
                f"{count:>11,} {record['events']:>9,} {record['restart_seconds']:>8.2f} "
                f"{record['rss_before_mb']:>14.1f} {record['rss_mb']:>13.1f} {record['peak_mb']:>8.1f}"
            )
    met_restart = all(record["restart_seconds"] <= GOALS["restart_seconds"] for _, record in restarted)
    print()
    print(f"goal RSS <= {GOALS['rss_mb']:.0f} MB during every session: {'met' if met_rss else 'MISSED'}")
    if restarted:
        print(f"goal restart <= {GOALS['restart_seconds']:.0f} s at every length: {'met' if met_restart else 'MISSED'}")


if __name__ == "__main__":
    main()
