"""A consumer process whose handler applies an idempotent effect in Redis; it can kill itself mid-batch.

Usage: python -m tests.support.effect_consumer REDIS_URL PREFIX CONSUMER DIE_AFTER
The effect of a bar is ``INCR effect:<id>`` guarded by ``SADD applied <id>``, in one transaction,
so a redelivered bar changes nothing. With DIE_AFTER > 0 the process SIGKILLs itself right after
applying its DIE_AFTER-th effect, before acknowledging that entry.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import redis.asyncio as aioredis

from logos.bus import Bus, ConsumerOptions, Delivery
from logos.contracts import Message
from logos.streams import StreamNames

APPLY = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('INCR', KEYS[2])
  redis.call('INCR', KEYS[3])
end
return redis.call('INCR', KEYS[4])
"""


async def main(url: str, prefix: str, consumer: str, die_after: int) -> None:
    names = StreamNames(prefix=prefix)
    bus = Bus.redis(url, names, block_seconds=0.05)
    client = aioredis.Redis.from_url(url)
    apply = client.register_script(APPLY)
    handled = 0

    async def handle(message: Message, delivery: Delivery) -> None:
        nonlocal handled
        keys = [f"{prefix}:applied", f"{prefix}:effect:{message.id}", f"{prefix}:effects", f"{prefix}:calls:{consumer}"]
        await apply(keys=keys, args=[message.id])
        handled += 1
        if handled == die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(0.005)  # some work per entry, so a batch takes a while

    options = ConsumerOptions(batch_size=20, block_seconds=0.05, max_deliveries=5, reclaim_idle_seconds=0.3)
    await bus.consume("ml", consumer, [names.bars()], handle, asyncio.Event(), options=options)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
