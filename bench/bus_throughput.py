"""Bus throughput and one-hop latency: raw redis-py against logos.bus, in one run, on one Redis.

    python bench/bus_throughput.py [--messages 20000] [--latency-samples 2000] [--url redis://...]

Without --url it starts its own redis-server (no persistence) on a free port. Both sides use the
same redis-py asyncio client settings, the same stream entries (type, v, body) and the same
pattern: XADD with MAXLEN ~ one entry at a time; XREADGROUP up to 100 entries; XACK each entry
after it is handled. The raw side sends pre-encoded fields and never parses them; the bus side
encodes, validates against the contracts and dispatches to a handler, which is its whole cost.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import redis
from redis.asyncio import Redis

from logos.bus import Bus, ConsumerOptions, Delivery, encode
from logos.bus.redis_backend import RedisBackend
from logos.contracts import Bar, Message
from logos.streams import StreamNames

BATCH = 100


def make_bars(count: int) -> list[Bar]:
    start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    return [
        Bar(
            id=f"BTC/USDT@{index}",
            symbol="BTC/USDT",
            ts=start,
            open=Decimal("42000.10") + index,
            high=Decimal("42010.55") + index,
            low=Decimal("41990.00") + index,
            close=Decimal("42005.25") + index,
            volume=Decimal("3.1415"),
            source="bench",
        )
        for index in range(count)
    ]


def client(url: str) -> Redis:
    # the same settings RedisBackend.from_url uses
    return Redis.from_url(url, decode_responses=False, socket_connect_timeout=2.0, socket_timeout=6.0)


async def raw_publish(url: str, stream: str, fields: list[dict[str, str]]) -> float:
    connection = client(url)
    started = time.perf_counter()
    for entry in fields:
        await connection.xadd(stream, entry, maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    await connection.aclose()
    return elapsed


async def raw_consume(url: str, stream: str, count: int) -> float:
    connection = client(url)
    await connection.xgroup_create(stream, "g", id="0", mkstream=True)
    handled = 0
    started = time.perf_counter()
    while handled < count:
        response = await connection.xreadgroup("g", "c", {stream: ">"}, count=BATCH, block=1000)
        for _, entries in response:
            for entry_id, _fields in entries:
                await connection.xack(stream, "g", entry_id)
                handled += 1
    elapsed = time.perf_counter() - started
    await connection.aclose()
    return elapsed


async def bus_publish(url: str, names: StreamNames, bars: list[Bar]) -> float:
    bus = Bus(RedisBackend(client(url)), names, maxlen=1_000_000)
    started = time.perf_counter()
    for bar in bars:
        await bus.publish(names.bars(), bar)
    elapsed = time.perf_counter() - started
    await bus.close()
    return elapsed


async def bus_consume(url: str, names: StreamNames, count: int) -> float:
    bus = Bus(RedisBackend(client(url)), names, maxlen=1_000_000)
    stop = asyncio.Event()
    handled = 0

    async def handle(message: Message, delivery: Delivery) -> None:
        nonlocal handled
        handled += 1
        if handled == count:
            stop.set()

    options = ConsumerOptions(batch_size=BATCH, block_seconds=1.0, reclaim_idle_seconds=3600)
    started = time.perf_counter()
    await bus.consume("g", "c", [names.bars()], handle, stop, options=options)
    elapsed = time.perf_counter() - started
    await bus.close()
    return elapsed


async def latency(
    samples: int, publish: Callable[[int], Awaitable[None]], received: asyncio.Queue[float]
) -> list[float]:
    results = []
    for index in range(samples):
        sent = time.perf_counter()
        await publish(index)
        arrived = await asyncio.wait_for(received.get(), 5)
        results.append((arrived - sent) * 1e6)
    return results


async def raw_latency(url: str, stream: str, fields: list[dict[str, str]], samples: int) -> list[float]:
    producer, consumer = client(url), client(url)
    await consumer.xgroup_create(stream, "g", id="$", mkstream=True)
    received: asyncio.Queue[float] = asyncio.Queue()
    stop = asyncio.Event()

    async def consume() -> None:
        while not stop.is_set():
            response = await consumer.xreadgroup("g", "c", {stream: ">"}, count=BATCH, block=200)
            for _, entries in response:
                for entry_id, _fields in entries:
                    received.put_nowait(time.perf_counter())
                    await consumer.xack(stream, "g", entry_id)

    async def publish(index: int) -> None:
        await producer.xadd(stream, fields[index], maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    results = await latency(samples, publish, received)
    stop.set()
    await task
    await producer.aclose()
    await consumer.aclose()
    return results


async def bus_latency(url: str, names: StreamNames, bars: list[Bar], samples: int) -> list[float]:
    producer = Bus(RedisBackend(client(url)), names, maxlen=1_000_000)
    consumer = Bus(RedisBackend(client(url)), names, maxlen=1_000_000)
    received: asyncio.Queue[float] = asyncio.Queue()
    stop = asyncio.Event()

    async def handle(message: Message, delivery: Delivery) -> None:
        received.put_nowait(time.perf_counter())

    options = ConsumerOptions(batch_size=BATCH, block_seconds=0.2, reclaim_idle_seconds=3600)
    task = asyncio.create_task(consumer.consume("g", "c", [names.bars()], handle, stop, options=options))
    await asyncio.sleep(0.2)

    async def publish(index: int) -> None:
        await producer.publish(names.bars(), bars[index])

    results = await latency(samples, publish, received)
    stop.set()
    await task
    await producer.close()
    await consumer.close()
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def start_redis() -> tuple[subprocess.Popen[bytes], str, Path]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not on PATH; run `make install` or pass --url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = Path(tempfile.mkdtemp(prefix="logos-bench-"))
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*command, "--dir", str(directory)], stdout=subprocess.DEVNULL)
    probe = redis.Redis(port=port)
    for _ in range(100):
        try:
            probe.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0", directory


async def run(url: str, messages: int, samples: int) -> None:
    bars = make_bars(max(messages, samples))
    fields = [encode(bar) for bar in bars]
    tag = uuid.uuid4().hex[:8]
    names = StreamNames(prefix=f"bench-bus-{tag}")
    raw_stream = f"bench-raw-{tag}:bars:0"

    # warm-up: connections, imports, pydantic's first validations
    await raw_publish(url, f"warm-{tag}", fields[:500])
    await bus_publish(url, StreamNames(prefix=f"warm-{tag}"), bars[:500])

    raw_pub = await raw_publish(url, raw_stream, fields[:messages])
    raw_con = await raw_consume(url, raw_stream, messages)
    bus_pub = await bus_publish(url, names, bars[:messages])
    bus_con = await bus_consume(url, names, messages)
    raw_lat = await raw_latency(url, f"bench-rawlat-{tag}:bars:0", fields, samples)
    bus_lat = await bus_latency(url, StreamNames(prefix=f"bench-buslat-{tag}"), bars, samples)

    def per_message(seconds: float) -> float:
        return seconds / messages * 1e6

    print(f"messages: {messages}; latency samples: {samples}; batch {BATCH}; payload {len(fields[0]['body'])} B body")
    print(f"{'':28}{'raw redis-py':>16}{'logos.bus':>16}{'ratio':>10}")
    rows = [
        ("publish (msg/s)", messages / raw_pub, messages / bus_pub),
        ("consume+ack (msg/s)", messages / raw_con, messages / bus_con),
    ]
    for label, raw_value, bus_value in rows:
        print(f"{label:28}{raw_value:>16,.0f}{bus_value:>16,.0f}{raw_value / bus_value:>9.2f}x")
    costs = [
        ("publish (us/msg)", per_message(raw_pub), per_message(bus_pub)),
        ("consume+ack (us/msg)", per_message(raw_con), per_message(bus_con)),
        ("one hop p50 (us)", statistics.median(raw_lat), statistics.median(bus_lat)),
        ("one hop p99 (us)", percentile(raw_lat, 0.99), percentile(bus_lat, 0.99)),
    ]
    for label, raw_value, bus_value in costs:
        print(f"{label:28}{raw_value:>16,.1f}{bus_value:>16,.1f}{bus_value / raw_value:>9.2f}x")
    total_raw, total_bus = per_message(raw_pub + raw_con), per_message(bus_pub + bus_con)
    verdict = "within" if total_bus <= 2 * total_raw else "OVER"
    print(
        f"end to end per message: raw {total_raw:.1f} us, bus {total_bus:.1f} us -> {total_bus / total_raw:.2f}x "
        f"({verdict} the 2x goal)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--latency-samples", type=int, default=2_000)
    parser.add_argument("--url", help="an existing Redis (default: start a throwaway redis-server)")
    args = parser.parse_args()
    process = directory = None
    url = args.url
    if url is None:
        process, url, directory = start_redis()
    try:
        asyncio.run(run(url, args.messages, args.latency_samples))
    finally:
        if process is not None:
            process.terminate()
            process.wait()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
