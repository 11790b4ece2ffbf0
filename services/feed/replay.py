"""The replay provider: bars from the backtest loader, in time order across symbols, as wire bars; and how far
a replay may run ahead of the executor (:class:`CreditWindow`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pandas as pd

from logos.bus import Bus
from logos.bus.codec import InvalidEntry, decode
from logos.contracts import Bar, Watermark
from logos.symbols import SpecCatalog

REPLAY_WINDOW = 256  # bars a replay runs ahead of the executor by default


class CreditWindow:
    """A replay publishes bar ``k`` only once the executor is done with bar ``k - window``.

    The executor's stage-0 watermarks on the fills stream say how far it is; the window follows them
    as they are appended (a blocking read), so a replay never polls for quiet and never floods the
    services: at most ``window`` bars wait in them at any time. Every service handles its inputs in
    the canonical order whatever the window (services/runtime/causal.py): it sets speed and memory,
    never results.
    """

    def __init__(self, bus: Bus, window: int = REPLAY_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"a replay window holds at least one bar, not {window}")
        self.bus, self.window = bus, window
        self.done = 0  # the executor is done with bars through this one
        self._advanced = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read how far the executor already is (a resumed session), then follow its watermarks."""
        stream = self.bus.names.fills
        newest = await self.bus.backend.read_backwards(stream, "+", 500)
        for entry in newest:
            self._note(entry.fields or {})
        start = newest[0].entry_id if newest else "0-0"
        self._task = asyncio.create_task(self._follow(stream, start), name="replay-credit-window")

    async def _follow(self, stream: str, start: str) -> None:
        async for tailed in self.bus.tail([stream], self._stop, start=start):
            message = tailed.message
            if isinstance(message, Watermark) and message.service == "executor" and message.seq > self.done:
                self.done = message.seq
                self._advanced.set()

    def _note(self, fields: dict[str, str]) -> None:
        if fields.get("type") != "watermark":
            return
        with contextlib.suppress(InvalidEntry):
            message = decode(fields, frozenset({"watermark"}))
            if isinstance(message, Watermark) and message.service == "executor":
                self.done = max(self.done, message.seq)

    async def admit(self, seq: int, timeout_seconds: float = 60.0) -> bool:
        """Wait until bar ``seq`` fits in the window; False if the executor did not move for ``timeout_seconds``."""
        return await self.reached(seq - self.window, timeout_seconds)

    async def reached(self, seq: int, timeout_seconds: float = 60.0) -> bool:
        """Wait until the executor is done with bar ``seq``; False if it did not move for ``timeout_seconds``."""
        while self.done < seq:
            self._advanced.clear()
            if self.done >= seq:
                break
            try:
                await asyncio.wait_for(self._advanced.wait(), timeout_seconds)
            except TimeoutError:
                return False
        return True

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def replay_bars(frames: dict[str, pd.DataFrame], specs: SpecCatalog, source: str = "replay") -> Iterator[Bar]:
    """Yield every bar of ``frames`` ordered by time, then symbol; ids follow from symbol and time."""
    merged = pd.concat([frame.assign(symbol=symbol) for symbol, frame in frames.items()], axis=0).reset_index()
    order = np.lexsort((merged["symbol"].to_numpy(), merged["timestamp"].to_numpy()))
    for ts, open_, high, low, close, volume, symbol in merged.iloc[order][
        ["timestamp", "open", "high", "low", "close", "volume", "symbol"]
    ].itertuples(index=False):
        spec = specs[symbol]
        when = ts.to_pydatetime()
        yield Bar(
            id=f"{symbol}@{when.isoformat()}",
            ts=when,
            symbol=symbol,
            open=spec.quantize_price(Decimal(repr(float(open_)))),
            high=spec.quantize_price(Decimal(repr(float(high)))),
            low=spec.quantize_price(Decimal(repr(float(low)))),
            close=spec.quantize_price(Decimal(repr(float(close)))),
            volume=Decimal(repr(float(volume))),
            source=source,
        )
