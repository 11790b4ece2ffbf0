"""The Redis users of a stack, against a real redis-server started with the generated ACL file.

Every user is refused each write it must not make (NOPERM), and makes the reads and writes it needs,
including a consumer-group read, acknowledgement and dead letter through the bus itself.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from logos.bus import Bus, ConsumerOptions, ConsumerStats, Delivery, encode
from logos.bus.acl import render_acl_file
from logos.bus.credentials import url_with_credentials
from logos.contracts import Control, ControlCommand, Message, ServiceState, ServiceStatus
from logos.secrets import REDIS_USERS
from logos.streams import StreamNames
from tests.support.bus_helpers import bar, eventually
from tests.support.redis_process import free_port

pytestmark = [pytest.mark.integration]
WORKERS = ("feed", "ml", "risk", "executor", "brain")
# The trust model, written out by hand (not read from the policy): the users that may append to each topic.
WRITERS: dict[str, set[str]] = {
    "bars": {"feed"},
    "intents": {"ml"},
    "signals": {"ml"},
    "orders": {"risk"},
    "fills": {"executor"},
    "account": {"executor"},
    # until the feed's end-of-replay CHECKPOINT moves off the control stream, the feed still writes it
    "control": {"risk", "cli"},
    "status": set(WORKERS),  # heartbeats
    "dlq": set(WORKERS),  # dead letters, by whoever consumes
}
CONSUMED = {
    "feed": ["control"],
    "ml": ["bars", "account"],
    "risk": ["bars", "intents", "fills", "account", "control"],
    "executor": ["orders", "bars", "control"],
    "brain": ["status", "signals"],
}
GARBAGE = {"type": "bar", "v": "1", "body": "{oops"}


@dataclass
class AclServer:
    port: int
    names: StreamNames
    passwords: dict[str, str]
    process: subprocess.Popen[bytes]

    def url(self, user: str) -> str:
        return url_with_credentials(f"redis://127.0.0.1:{self.port}/0", user, self.passwords[user])

    def client(self, user: str) -> Any:  # decoded replies: redis-py's stubs type them for bytes
        return redis.Redis.from_url(self.url(user), decode_responses=True)

    def streams(self, topic: str) -> list[str]:
        if topic in ("bars", "intents"):
            return [f"{self.names.prefix}:{topic}:{shard}" for shard in range(self.names.shards)]
        return [f"{self.names.prefix}:{topic}"]


@pytest.fixture
def acl_server(tmp_path: Path) -> Iterator[AclServer]:
    """A redis-server of the test's own, started with the ACL file of a two-shard deployment."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not on PATH (make install puts it there)"
    names = StreamNames(prefix=f"acl-{secrets.token_hex(4)}", shards=2)
    passwords = {user: secrets.token_hex(16) for user in [*REDIS_USERS, "admin"]}
    directory = tmp_path / "redis"
    directory.mkdir()
    acl_file = directory / "users.acl"
    acl_file.write_text(render_acl_file(names, passwords, admin_password=passwords["admin"]))
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory), "--save", ""]
    command += ["--appendonly", "no", "--aclfile", str(acl_file), "--loglevel", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = AclServer(port, names, passwords, process)
    admin = server.client("admin")
    deadline = time.monotonic() + 10
    while True:
        try:
            admin.ping()
            break
        except redis.exceptions.ConnectionError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                why = process.stderr.read() if process.stderr and process.poll() is not None else b""
                raise AssertionError(f"redis-server did not start: {why!r}") from exc
            time.sleep(0.05)
    for stream in names.all():  # every stream exists, as in a running stack
        admin.xadd(stream, GARBAGE)
    yield server
    process.terminate()
    process.wait(timeout=10)


def permission_error(exc: redis.exceptions.ResponseError) -> bool:
    # a command a script runs is refused with the script's error, not NOPERM
    return isinstance(exc, redis.exceptions.NoPermissionError) or "The user executing the script can't" in str(exc)


def refused(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except redis.exceptions.ResponseError as exc:
        if permission_error(exc):
            return True
        raise
    return False


async def trim_refused(bus: Bus, stream: str) -> bool:
    try:
        await bus.backend.trim(stream, 1)
    except redis.exceptions.ResponseError as exc:
        if permission_error(exc):
            return True
        raise
    return False


@pytest.mark.parametrize("user", REDIS_USERS)
def test_acl_when_a_user_appends_then_only_the_streams_it_produces_accept(acl_server: AclServer, user: str) -> None:
    client = acl_server.client(user)
    outcome = {}
    for topic in WRITERS:
        for stream in acl_server.streams(topic):
            outcome[stream] = not refused(lambda stream=stream: client.xadd(stream, {"type": "x"}))
    expected = {stream: user in writers for topic, writers in WRITERS.items() for stream in acl_server.streams(topic)}
    assert outcome == expected
    # the transaction a handler publishes in cannot carry a write the user may not make alone
    pipe = client.pipeline(transaction=True)
    pipe.xadd(acl_server.names.orders, {"type": "order"})
    pipe.xack(acl_server.names.bars(0), user, "0-1")
    assert refused(pipe.execute) is (user != "risk")


@pytest.mark.parametrize("user", REDIS_USERS)
def test_acl_when_a_user_destroys_or_rewrites_then_refused(acl_server: AclServer, user: str) -> None:
    client = acl_server.client(user)
    names = acl_server.names
    attempts = {
        "XDEL": lambda: client.xdel(names.orders, "0-1"),
        "DEL": lambda: client.delete(names.control),
        "SET on a stream": lambda: client.set(names.orders, "x"),
        "XGROUP DESTROY": lambda: client.xgroup_destroy(names.bars(0), "risk"),
        "XGROUP SETID": lambda: client.xgroup_setid(names.orders, "executor", "$"),
        "XTRIM orders": lambda: client.xtrim(names.orders, maxlen=0),
        "FLUSHALL": client.flushall,
        "CONFIG SET": lambda: client.config_set("maxmemory-policy", "allkeys-lru"),
        "ACL SETUSER": lambda: client.acl_setuser("mallory", enabled=True, nopass=True, commands=["+@all"]),
        "CLIENT KILL": lambda: client.client_kill_filter(skipme=True, _type="normal"),
        "PUBLISH": lambda: client.publish("anything", "x"),
        "a script's undeclared XADD": lambda: client.eval(
            f"return redis.call('XADD', '{names.orders}', '*', 'type', 'order')", 1, names.dlq
        ),
        "a script's declared XADD": lambda: client.eval(
            "return redis.call('XADD', KEYS[1], '*', 'type', 'order')", 1, names.orders
        ),
        "a script's XTRIM": lambda: client.eval("return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)", 1, names.orders),
    }
    if user == "risk":  # the producer of orders trims them and appends them, from a script too
        for what in ("XTRIM orders", "a script's undeclared XADD", "a script's declared XADD", "a script's XTRIM"):
            attempts.pop(what)
    allowed = [what for what, call in attempts.items() if not refused(call)]
    assert allowed == []


@pytest.mark.parametrize("user", ["ml", "feed", "brain", "dashboard", "cli"])
def test_acl_when_a_user_reads_a_group_it_is_not_then_refused(acl_server: AclServer, user: str) -> None:
    client = acl_server.client(user)
    orders = acl_server.names.orders
    assert refused(lambda: client.xgroup_create(orders, user, id="0"))
    assert refused(lambda: client.xreadgroup(user, user, {orders: ">"}))
    assert refused(lambda: client.xack(orders, "executor", "0-1"))


@pytest.mark.parametrize("user", REDIS_USERS)
def test_acl_when_a_user_reads_any_stream_then_allowed(acl_server: AclServer, user: str) -> None:
    client = acl_server.client(user)
    for stream in acl_server.names.all():
        assert client.xlen(stream) == 1
        assert client.xrange(stream, count=1)[0][1] == GARBAGE
        assert client.xrevrange(stream, count=1)
        assert client.xinfo_stream(stream)["length"] == 1
        assert client.xinfo_groups(stream) == []
    assert client.xread(dict.fromkeys(acl_server.names.all(), "0"), count=1)
    session_key = f"{acl_server.names.prefix}:session"
    assert client.exists(session_key) == 0 and client.get(session_key) is None
    assert refused(lambda: client.set(session_key, "1")) is (user not in WORKERS)


@pytest.mark.anyio
@pytest.mark.parametrize("user", REDIS_USERS)
async def test_acl_when_the_bus_reads_groups_and_trims_then_each_user_reads_all_and_trims_what_it_produces(
    acl_server: AclServer, user: str
) -> None:
    names = acl_server.names
    admin = acl_server.client("admin")
    for stream in names.all():  # two entries, both read: a trim to one may cut
        admin.xadd(stream, GARBAGE)
        admin.xgroup_create(stream, "observer", id="$")
    bus = Bus.redis(acl_server.url(user), names, block_seconds=0.05)
    try:
        for stream in names.all():  # the state script: a refusal would read as "no groups"
            (info,) = await bus.backend.groups(stream)
            assert (info.group, info.lag, info.length) == ("observer", 0, 2)
        for topic, writers in WRITERS.items():
            for stream in acl_server.streams(topic):
                assert await trim_refused(bus, stream) is (user not in writers), stream
    finally:
        await bus.close()


def test_acl_when_the_default_user_connects_then_it_needs_a_password_and_has_none(acl_server: AclServer) -> None:
    anonymous = redis.Redis(port=acl_server.port)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=acl_server.port, password="anything").ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=acl_server.port, username="ml", password="not-the-password").ping()
    assert acl_server.client("ml").ping() is True


def valid_message(user: str) -> tuple[str, Message]:
    """A message each consumer's first stream carries, so its handler publishes in a transaction."""
    if user == "feed":
        return "control", Control(command=ControlCommand.HALT, reason="drill", issued_by="test")
    if user == "brain":
        status = ServiceStatus(
            service="ml", instance="ml", version="0", state=ServiceState.READY, uptime_seconds=1,
            messages_handled=0, dead_lettered=0,
        )  # fmt: skip
        return "status", status
    return "bars", bar(1)


@pytest.mark.anyio
@pytest.mark.parametrize("user", WORKERS)
async def test_acl_when_a_service_consumes_then_it_reads_acks_publishes_and_dead_letters_through_the_bus(
    acl_server: AclServer, user: str
) -> None:
    names = acl_server.names
    admin = acl_server.client("admin")
    admin.delete(names.dlq)  # its garbage entry is no one's input here
    streams = [stream for topic in CONSUMED[user] for stream in acl_server.streams(topic)]
    topic, message = valid_message(user)
    valid_stream = acl_server.streams(topic)[0]
    bus = Bus.redis(acl_server.url(user), names, block_seconds=0.05)
    published: list[str] = []
    handled_count = 2 if user == "brain" else 1  # brain consumes the status stream: its heartbeat comes back

    async def handle(handled: Message, delivery: Delivery) -> None:
        published.append(handled.id)
        if handled.id != message.id:
            return
        heartbeat = ServiceStatus(
            service=user, instance=user, version="0", state=ServiceState.READY, uptime_seconds=1,
            messages_handled=1, dead_lettered=0,
        )  # fmt: skip
        await bus.publish(names.status, heartbeat)  # appended with the acknowledgement, in one MULTI

    stop, stats = asyncio.Event(), ConsumerStats()
    options = ConsumerOptions(batch_size=10, block_seconds=0.05, max_deliveries=2, reclaim_idle_seconds=0.1)
    task = asyncio.create_task(bus.consume(user, user, streams, handle, stop, options=options, stats=stats))
    try:
        # the group starts at 0: the garbage entry already on each stream is read first, then this one
        admin.xadd(valid_stream, encode(message))

        async def settled() -> bool:
            try:
                pending = sum(admin.xpending(stream, user)["pending"] for stream in streams)
            except redis.exceptions.ResponseError:  # NOGROUP: the consumer has not created its group yet
                return False
            return stats.dead_lettered == len(streams) and len(published) == handled_count and pending == 0

        await eventually(settled, timeout=15, what=f"{user} to handle, acknowledge and dead-letter")
    finally:
        stop.set()
        await task
        await bus.close()
    assert published[0] == message.id
    assert admin.xlen(names.dlq) == len(streams)
    letters = [fields for _, fields in admin.xrange(names.dlq)]
    assert sorted(entry["type"] for entry in letters) == ["dead_letter"] * len(streams)
    heartbeats = [fields for _, fields in admin.xrange(names.status) if fields["type"] == "service_status"]
    services = sorted(json.loads(fields["body"])["service"] for fields in heartbeats)
    assert services == sorted([user, *(["ml"] if user == "brain" else [])])  # brain's input is a status too
    for stream in streams:
        assert admin.xpending(stream, user)["pending"] == 0
    assert stats.handler_failures == 0 and stats.reconnects == 0


def test_acl_when_redis_restarts_from_its_aof_then_the_services_transactions_are_all_there(tmp_path: Path) -> None:
    # Redis 7.0 replays the AOF's MULTI/EXEC blocks as the default user and checks them again at EXEC:
    # with a default user stripped of rights, every handler's output appended with its acknowledgement
    # (one MULTI) was dropped at the next start, and the streams lost those entries
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not on PATH (make install puts it there)"
    names = StreamNames(prefix="aof")
    passwords = {user: secrets.token_hex(16) for user in REDIS_USERS}
    directory = tmp_path / "redis"
    directory.mkdir()
    (directory / "users.acl").write_text(render_acl_file(names, passwords))
    port = free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory), "--save", ""]
    command += ["--appendonly", "yes", "--appendfsync", "always", "--aclfile", str(directory / "users.acl")]
    url = url_with_credentials(f"redis://127.0.0.1:{port}/0", "ml", passwords["ml"])

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([*command, "--loglevel", "warning"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                return process
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    process = start()
    try:
        ml: Any = redis.Redis.from_url(url, decode_responses=True)  # decoded replies (the stubs say bytes)
        feed: Any = redis.Redis.from_url(url_with_credentials(f"redis://127.0.0.1:{port}/0", "feed", passwords["feed"]))
        bars = names.bars()
        feed.xadd(bars, encode(bar(1)))
        ml.xgroup_create(bars, "ml", id="0")
        (entry,) = ml.xreadgroup("ml", "ml-1", {bars: ">"})[0][1]
        with ml.pipeline(transaction=True) as pipe:  # what publish_and_ack sends
            pipe.xadd(names.intents(), {"type": "order_intent", "v": "1", "body": "{}"})
            pipe.xack(bars, "ml", entry[0])
            pipe.execute()
        process.terminate()
        process.wait(timeout=10)
        process = start()
        assert ml.xlen(names.intents()) == 1
        assert ml.xpending(bars, "ml")["pending"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
