"""The replay provider: bars from the backtest loader, in time order across symbols, as wire bars."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pandas as pd

from logos.contracts import Bar
from logos.symbols import SpecCatalog


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
