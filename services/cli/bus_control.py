"""The command line's control path over the bus: operator commands signed with the control key.

Risk and the executor act on a ``Control`` only when it carries a valid signature by
``control-key`` (logos.auth); this is the one producer of such commands besides risk. It connects
to Redis as the ``cli`` user, appends the signed command to the control stream and, for a command
that changes the trading state, waits for risk's answer on the orders stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from logos.auth import Authenticator
from logos.bus import Bus
from logos.contracts import Control, ControlCommand, TradingStateChanged
from logos.secrets import CONTROL_KEY
from logos.settings import LogosSettings

ISSUER = "cli"
CONFIRM_SECONDS = 10.0


@dataclass(frozen=True)
class Sent:
    """A command appended to the control stream, and risk's trading-state change for it (None: none came)."""

    entry_id: str
    command: Control
    change: TradingStateChanged | None = None


async def send_control(
    settings: LogosSettings,
    command: ControlCommand,
    reason: str,
    *,
    issued_by: str = ISSUER,
    confirm_seconds: float = CONFIRM_SECONDS,
) -> Sent:
    """Sign ``command`` with the control key, append it to the control stream, and wait for risk's answer.

    A checkpoint changes no trading state: nothing is waited for. A missing key raises SecretMissing.
    """
    key = settings.secrets.require(CONTROL_KEY, "the command line's control path")
    names = settings.streams
    bus = Bus.redis(settings.redis_url_for(ISSUER), names, block_seconds=0.2)
    signing = bus.with_authenticator(Authenticator(names, signing={CONTROL_KEY: key.encode("utf-8")}))
    try:
        message = Control(command=command, reason=reason, issued_by=issued_by)
        entry_id = await signing.publish(names.control, message)
        if command is ControlCommand.CHECKPOINT:
            return Sent(entry_id, message)
        change = await _answer(bus, message, entry_id, confirm_seconds)
        return Sent(entry_id, message, change)
    finally:
        await bus.close()


async def _answer(bus: Bus, sent: Control, entry_id: str, seconds: float) -> TradingStateChanged | None:
    """Risk's trading-state change for ``sent``: the first one after it on the orders stream that names it."""
    stop = asyncio.Event()
    # stream ids start with the appending server's milliseconds: risk's answer comes after the command's id
    start = entry_id.partition("-")[0] + "-0"
    try:
        async with asyncio.timeout(seconds):
            async for tailed in bus.tail([bus.names.orders], stop, start=start):
                message = tailed.message
                if isinstance(message, TradingStateChanged) and message.detail.startswith(
                    f"{sent.reason} (by {sent.issued_by}"
                ):
                    return message
    except TimeoutError:
        return None
    return None
