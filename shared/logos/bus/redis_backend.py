"""Stream primitives on a real Redis server (redis-py asyncio)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from logos.bus.backend import BackendUnavailable, Claimed, GroupInfo, GroupMissing, RawEntry, Trimmed, id_key

_UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
# KEYS: marker, target stream, source stream; ARGV: marker ttl (ms), maxlen, group, entry id, field/value pairs.
# A script runs alone, so two groups that give up on one entry at once still append it once. The append
# comes before the marker: if it fails (out of memory), no marker hides the failure from the next group.
_ADD_ONCE_AND_ACK = """
local added = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 5))
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  added = 1
end
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
return added
"""

# Helpers of the two scripts below: ids compared as Redis orders them, flat replies read as maps.
_ID_FUNCTIONS = """
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function older(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  return am < bm or (am == bm and as < bs)
end
local function after(id)
  local ms, seq = parts(id)
  return string.format('%d-%d', ms, seq + 1)
end
local function map(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
"""
# KEYS: the stream; ARGV: maxlen, most entries one call may remove. Returns {removed, held back, more}.
# It runs alone, so no group reads or acknowledges between reading the horizon and cutting below it.
# A group's horizon is its oldest pending entry, else the entry after its last delivered one; the cut
# stops below the lowest horizon (a stream no group reads has none) and keeps at least maxlen entries.
_TRIM = (
    _ID_FUNCTIONS
    + """
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if excess <= 0 then return {0, 0, 0} end
local horizon = nil
for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local group = map(row)
  local edge
  if group['pending'] > 0 then
    edge = redis.call('XPENDING', KEYS[1], group['name'])[2]
  else
    edge = after(group['last-delivered-id'])
  end
  if horizon == nil or older(edge, horizon) then horizon = edge end
end
local probe = math.min(excess, tonumber(ARGV[2]))
local below
if horizon == nil then
  below = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', probe)
else
  below = redis.call('XRANGE', KEYS[1], '-', '(' .. horizon, 'COUNT', probe)
end
local held = 0
if #below < probe then held = 1 end
if #below == 0 then return {0, held, 0} end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', '~', after(below[#below][1]))
local more = 0
if held == 0 and probe < excess and removed > 0 then more = 1 end
return {removed, held, more}
"""
)
# KEYS: the stream; ARGV: the prefix of the lag-correction keys ('' for none). Returns false when the
# stream does not exist, else {length, first id or false, last id, {{group, pending, last delivered id,
# lag or -1, oldest pending id or false}, ...}}, read at one instant.
#
# Redis 7.0 does not keep a group's count of entries read across a restart from its AOF: it comes back
# unknown, or counts again from 0 with the next read, and the lag (entries added minus entries read)
# then counts every entry of the stream's history as unread, which reads as entries trimmed unread. A
# true count can never be below the entries still there up to the group's last delivered one (it read
# each of them), and it never goes down: either break shows the count was reset. The lag is then taken
# as what is really left after the last delivered entry (nothing lost across the restart can be told
# apart), and the difference is kept under <prefix>:<stream>:<group> with the count it applies to, so
# the lag stays right until the next reset. A user that may not write the key just gets the raw lag.
_STATE = (
    _ID_FUNCTIONS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local stream = map(redis.call('XINFO', 'STREAM', KEYS[1]))
local first = false
if stream['first-entry'] then first = stream['first-entry'][1] end
local length = stream['length']
local function after_count(id)
  local count, start = 0, '(' .. id
  while true do
    local rows = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 1000)
    count = count + #rows
    if #rows < 1000 then return count end
    start = '(' .. rows[#rows][1]
  end
end
local groups = {}
for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local group = map(row)
  local oldest = false
  if group['pending'] > 0 then oldest = redis.call('XPENDING', KEYS[1], group['name'])[2] end
  local lag = group['lag'] or -1
  local read = group['entries-read']
  if ARGV[1] ~= '' and read then
    local key = ARGV[1] .. ':' .. KEYS[1] .. ':' .. group['name']
    local saved = redis.call('GET', key)
    local at, fix = 0, 0
    if saved then
      local a, f = string.match(saved, '^(%d+) (%-?%d+)$')
      at, fix = tonumber(a), tonumber(f)
    end
    local delivered = group['last-delivered-id']
    local reset = read < at
    if not reset and read + fix < length and delivered ~= '0-0' then
      reset = read + fix < length - after_count(delivered)
    end
    if reset then
      fix = lag - after_count(delivered)
      redis.pcall('SET', key, read .. ' ' .. fix)
    end
    if lag >= 0 then lag = lag - fix end
  end
  table.insert(groups, {group['name'], group['pending'], group['last-delivered-id'], lag, oldest})
end
return {length, first, stream['last-generated-id'], groups}
"""
)
# KEYS: the stream; ARGV: the group. Makes the group at id 0 unless it exists. Redis leaves a new group's
# count of entries read unknown until its first read, and then counts from the oldest entry still there,
# so entries trimmed before that read would never show in its lag: the count starts known here instead
# (what the stream no longer holds counts as read, as it does for a group made later).
_ENSURE_GROUP = (
    _ID_FUNCTIONS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM', 'ENTRIESREAD', 0)
  return 1
end
for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  if map(row)['name'] == ARGV[1] then return 0 end
end
local stream = map(redis.call('XINFO', 'STREAM', KEYS[1]))
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'ENTRIESREAD', stream['entries-added'] - stream['length'])
return 1
"""
)
TRIM_STEP = 10_000
"""Most entries one trim call removes: the script runs alone on the server, so it stays short."""


def _text(value: bytes | str) -> str:
    # surrogateescape keeps undecodable bytes, so the codec can tell the entry is not UTF-8
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _entries(stream: str, items: list[Any]) -> list[RawEntry]:
    entries = []
    for entry_id, fields in items:
        decoded = {_text(key): _text(value) for key, value in fields.items()} if fields else None
        entries.append(RawEntry(stream, _text(entry_id), decoded))
    return entries


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, _UNAVAILABLE):
        return BackendUnavailable(f"redis unreachable: {exc}")
    if isinstance(exc, redis_errors.ResponseError) and str(exc).startswith("NOGROUP"):
        return GroupMissing(str(exc))
    if isinstance(exc, redis_errors.ResponseError) and str(exc).startswith("LOADING"):
        return BackendUnavailable(f"redis is loading its data: {exc}")
    return exc


class RedisBackend:
    """Each method is one Redis command (or one transaction); errors become backend errors."""

    def __init__(self, client: Redis, correction_prefix: str = "") -> None:
        self._client = client
        self._correction_prefix = correction_prefix  # where lag corrections after a Redis restart are kept
        self._add_once_and_ack = client.register_script(_ADD_ONCE_AND_ACK)
        self._trim = client.register_script(_TRIM)
        self._state = client.register_script(_STATE)
        self._ensure_group = client.register_script(_ENSURE_GROUP)

    @classmethod
    def from_url(cls, url: str, *, block_seconds: float = 1.0, correction_prefix: str = "") -> RedisBackend:
        client = Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=2.0,
            # a blocking read must be allowed to wait its full block time
            socket_timeout=block_seconds + 5.0,
            health_check_interval=15,
        )
        return cls(client, correction_prefix)

    async def _call(self, coroutine: Any) -> Any:
        try:
            return await coroutine
        except Exception as exc:
            translated = _translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def add(self, stream: str, fields: dict[str, str], maxlen: int) -> str:
        entry_id = await self._call(self._client.xadd(stream, fields, maxlen=maxlen, approximate=True))  # type: ignore[arg-type]
        return _text(entry_id)

    async def ensure_group(self, stream: str, group: str) -> None:
        await self._call(self._ensure_group(keys=[stream], args=[group]))

    async def read_group(
        self, group: str, consumer: str, positions: dict[str, str], count: int, block_seconds: float
    ) -> list[RawEntry]:
        block = int(block_seconds * 1000) if block_seconds > 0 else None
        response = await self._call(self._client.xreadgroup(group, consumer, positions, count=count, block=block))  # type: ignore[arg-type]
        return [entry for stream, items in response or [] for entry in _entries(_text(stream), items)]

    async def autoclaim(
        self,
        stream: str,
        group: str,
        consumer: str,
        min_idle_seconds: float,
        start: str,
        count: int,
        keep: frozenset[str] = frozenset(),
    ) -> Claimed:
        idle = int(min_idle_seconds * 1000)
        if not keep:
            next_start, items, trimmed = await self._call(
                self._client.xautoclaim(stream, group, consumer, idle, start_id=start, count=count)
            )
            return Claimed(_text(next_start), _entries(stream, items), [_text(entry_id) for entry_id in trimmed])
        # the idle entries first (XPENDING counts no delivery), then only those not kept are claimed
        lowest = start if start != "0-0" else "-"
        rows = await self._call(self._client.xpending_range(stream, group, lowest, "+", count, idle=idle))
        idle_ids = (_text(row["message_id"]) for row in rows)
        wanted: list[Any] = [entry_id for entry_id in idle_ids if entry_id not in keep]
        items = await self._call(self._client.xclaim(stream, group, consumer, idle, wanted)) if wanted else []
        entries = _entries(stream, items)
        returned = {entry.entry_id for entry in entries}
        next_start = f"({_text(rows[-1]['message_id'])}" if len(rows) >= count else "0-0"
        return Claimed(next_start, entries, [entry_id for entry_id in wanted if entry_id not in returned])

    async def delivery_counts(self, stream: str, group: str, entry_ids: list[str]) -> dict[str, int]:
        if not entry_ids:
            return {}
        ordered = sorted(entry_ids, key=id_key)
        rows = await self._call(
            self._client.xpending_range(stream, group, min=ordered[0], max=ordered[-1], count=len(ordered) * 4 + 100)
        )
        wanted = set(entry_ids)
        counts = {_text(row["message_id"]): int(row["times_delivered"]) for row in rows}
        return {entry_id: count for entry_id, count in counts.items() if entry_id in wanted}

    async def ack(self, stream: str, group: str, entry_id: str) -> None:
        await self._call(self._client.xack(stream, group, entry_id))

    async def add_many_and_ack(
        self, entries: Sequence[tuple[str, dict[str, str]]], maxlen: int, group: str, acks: Sequence[tuple[str, str]]
    ) -> None:
        by_stream: dict[str, list[str]] = {}
        for stream, entry_id in acks:
            by_stream.setdefault(stream, []).append(entry_id)
        async with self._client.pipeline(transaction=True) as pipe:
            for target, fields in entries:
                pipe.xadd(target, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            for stream, ids in by_stream.items():
                pipe.xack(stream, group, *ids)
            await self._call(pipe.execute())

    async def add_once_and_ack(
        self,
        target: str,
        fields: dict[str, str],
        maxlen: int,
        marker: str,
        marker_ttl_seconds: float,
        stream: str,
        group: str,
        entry_id: str,
    ) -> bool:
        pairs = [item for name, value in fields.items() for item in (name, value)]
        arguments: list[str | int] = [max(1, int(marker_ttl_seconds * 1000)), maxlen, group, entry_id, *pairs]
        added = await self._call(self._add_once_and_ack(keys=[marker, target, stream], args=arguments))
        return bool(added)

    async def read(self, positions: dict[str, str], count: int, block_seconds: float) -> list[RawEntry]:
        block = int(block_seconds * 1000) if block_seconds > 0 else None
        response = await self._call(self._client.xread(positions, count=count, block=block))  # type: ignore[arg-type]
        return [entry for stream, items in response or [] for entry in _entries(_text(stream), items)]

    async def trim(self, stream: str, maxlen: int) -> Trimmed:
        removed, held_back = 0, False
        while True:
            cut, held, more = await self._call(self._trim(keys=[stream], args=[maxlen, TRIM_STEP]))
            removed, held_back = removed + int(cut), bool(held)
            if not more:
                return Trimmed(removed, held_back)

    async def groups(self, stream: str) -> list[GroupInfo]:
        try:
            state = await self._call(self._state(keys=[stream], args=[self._correction_prefix]))
        except redis_errors.ResponseError:
            return []  # not a stream
        return _state_infos(stream, state)

    async def groups_of(self, streams: Sequence[str]) -> list[GroupInfo]:
        # the same script as groups(), pipelined: lags stay right after a Redis restart here too
        pipeline = self._client.pipeline(transaction=False)
        for stream in streams:
            await self._state(keys=[stream], args=[self._correction_prefix], client=pipeline)
        replies = await self._call(pipeline.execute(raise_on_error=False))
        infos: list[GroupInfo] = []
        for stream, reply in zip(streams, replies, strict=True):
            if isinstance(reply, Exception):
                translated = _translate(reply)
                if translated is not reply or not isinstance(reply, redis_errors.ResponseError):
                    raise translated
                continue  # not a stream: no groups
            infos += _state_infos(stream, reply)
        return infos

    async def read_backwards(self, stream: str, end: str, count: int) -> list[RawEntry]:
        items = await self._call(self._client.xrevrange(stream, max=end, min="-", count=count))
        return _entries(stream, items)

    async def length(self, stream: str) -> int:
        return int(await self._call(self._client.xlen(stream)))

    async def ping(self, timeout_seconds: float) -> bool:
        try:
            return bool(await asyncio.wait_for(self._client.ping(), timeout_seconds))
        except (TimeoutError, *_UNAVAILABLE, redis_errors.ResponseError):
            return False

    async def wait_for_activity(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # Redis tells no one about acknowledgements: poll

    async def close(self) -> None:
        await self._client.aclose()


def _state_infos(stream: str, state: Any) -> list[GroupInfo]:
    if not state:
        return []  # no such stream yet: no groups
    length, first, last, groups = state
    return [
        GroupInfo(
            stream,
            int(pending),
            None if int(lag) < 0 else int(lag),
            _text(name),
            _text(delivered),
            length=int(length),
            first_id=_text(first) if first else None,
            last_id=_text(last),
            oldest_pending=_text(oldest) if oldest else None,
        )
        for name, pending, delivered, lag, oldest in groups
    ]
