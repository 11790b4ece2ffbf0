"""A strategy run live: a rolling window per symbol, decisions sized from the account, as intents.

Whether the target changes at bar ``t`` follows from the bars alone. When it does, the runner sizes
the order from the account snapshot the executor published after handling that bar, so it sizes
from exactly the equity and position a backtest sees at the close of ``t``: that, and the
strategies' window-local values, make paper equal backtest.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from logos.contracts import AccountSnapshot, Bar, OrderIntent, Signal, SignalRole
from logos.live.window_frame import WindowFrame
from logos.orders.sizing import EquityFraction, FixedNotional, VolatilityTarget
from logos.orders.translator import Caps, Refusal, to_intent, translate
from logos.strategies import Strategy, StrategyParams
from logos.symbols import SymbolSpec

ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INTENT_NAMESPACE = uuid.UUID("0b7e2f38-93a4-4c44-9f1a-4f4b2a6d1c55")


@dataclass
class _SymbolState:
    bars: deque[Bar]  # the last lookback + 1 bars: enough to know the target at t and at t - 1
    # the same bars as float rows (open, high, low, close, volume) and epoch nanoseconds, kept as
    # they arrive so a decision builds its frame in one step instead of converting every bar again
    rows: deque[tuple[float, float, float, float, float]]
    nanoseconds: deque[int]


@dataclass(frozen=True)
class Decision:
    """What the runner concluded on one bar: the signal, and the intent if the target changed."""

    signal: Signal
    intent: OrderIntent | None
    refusal: Refusal | None = None


@dataclass
class StrategyRunner:
    """Evaluates one strategy per symbol on its last ``lookback`` bars and translates changes."""

    strategy: Strategy  # type: ignore[type-arg]
    params: StrategyParams
    specs: dict[str, SymbolSpec]
    sizing: FixedNotional | EquityFraction | VolatilityTarget = field(default_factory=EquityFraction)
    caps: Caps = field(default_factory=Caps)
    role: SignalRole = SignalRole.CHAMPION
    _symbols: dict[str, _SymbolState] = field(default_factory=dict)
    _pending: dict[tuple[str, datetime], AccountSnapshot] = field(default_factory=dict)  # came before their bar
    # bars whose target changed, waiting for their account snapshot: the target and the signal
    _waiting: dict[tuple[str, datetime], tuple[float, Signal]] = field(default_factory=dict)
    _decided: dict[str, datetime] = field(default_factory=dict)  # the newest bar decided, by symbol

    @property
    def lookback(self) -> int:
        return self.strategy.lookback(self.params)

    def warm_up(self, bars: list[Bar]) -> None:
        """Refill the windows from bars already handled (after a restart), deciding nothing."""
        for bar in bars:
            self._append(bar)

    def _append(self, bar: Bar) -> bool:
        state = self._symbols.get(bar.symbol)
        if state is None:
            size = self.lookback + 1
            state = self._symbols[bar.symbol] = _SymbolState(deque(maxlen=size), deque(maxlen=size), deque(maxlen=size))
        if state.bars and bar.ts <= state.bars[-1].ts:
            return False  # a replayed or duplicated bar changes nothing
        state.bars.append(bar)
        state.rows.append((float(bar.open), float(bar.high), float(bar.low), float(bar.close), float(bar.volume)))
        state.nanoseconds.append(_epoch_nanoseconds(bar.ts))
        return True

    def on_bar(self, bar: Bar) -> Decision | None:
        """Add a bar to its symbol's window and decide what the bars alone decide.

        An unchanged target needs no account: the decision (its signal, no intent) comes at once. A
        changed target is sized from the account snapshot of this bar: it comes now if that snapshot
        is already here, else with :meth:`on_account` (:meth:`awaiting` tells).
        """
        if not self._append(bar):
            return None
        key = (bar.symbol, bar.ts)
        exposure, previous, signal = self._targets(bar.symbol)
        snapshot = self._pending.pop(key, None)
        if exposure == previous:
            self._decided[bar.symbol] = bar.ts
            return Decision(signal, None)
        if snapshot is None:
            self._waiting[key] = (exposure, signal)
            return None
        return self._sized(bar.symbol, exposure, signal, snapshot)

    def awaiting(self, symbol: str, ts: datetime) -> bool:
        """Tell whether the bar of ``symbol`` at ``ts`` changed the target and waits for its account snapshot."""
        return (symbol, ts) in self._waiting

    def abandon(self, symbol: str, ts: datetime) -> None:
        """Give up the decision waiting on that bar: its account snapshot will never come (the executor refused it)."""
        self._waiting.pop((symbol, ts), None)

    def on_account(self, snapshot: AccountSnapshot) -> Decision | None:
        """Decide on the bar this snapshot closes, once that bar is in the window and if its target changed."""
        if snapshot.bar_symbol is None or snapshot.bar_ts is None:
            return None
        symbol, key = snapshot.bar_symbol, (snapshot.bar_symbol, snapshot.bar_ts)
        waiting = self._waiting.pop(key, None)
        if waiting is not None:
            return self._sized(symbol, *waiting, snapshot)
        state = self._symbols.get(symbol)
        if state is None or not state.bars or state.bars[-1].ts < snapshot.bar_ts:
            self._pending[key] = snapshot
            return None
        if state.bars[-1].ts != snapshot.bar_ts or self._decided.get(symbol) == snapshot.bar_ts:
            return None  # a snapshot of a bar the window has moved past, or one decided without it
        # the window's newest bar, not decided in this process (restored after a restart): decide it now
        exposure, previous, signal = self._targets(symbol)
        self._decided[symbol] = snapshot.bar_ts
        if exposure == previous:
            return Decision(signal, None)
        return self._sized(symbol, exposure, signal, snapshot)

    def _targets(self, symbol: str) -> tuple[float, float, Signal]:
        """The target at the window's newest bar and at the one before, and the signal of the newest."""
        state = self._symbols[symbol]
        bar = state.bars[-1]
        frame = WindowFrame(np.array(state.rows), np.array(state.nanoseconds, dtype=np.int64))
        # the target at t and at t - 1, both from this window: whether the target changed follows from
        # the bars alone, so a restarted runner decides exactly as an uninterrupted one
        targets = self.strategy.targets(frame, self.params)  # type: ignore[arg-type]  # reads like a DataFrame
        exposure = float(targets[-1])
        previous = float(targets[-2]) if len(targets) > 1 else 0.0
        signal = Signal(
            id=uuid.uuid5(
                INTENT_NAMESPACE, f"signal|{self.role}|{self.strategy.name}|{symbol}|{bar.ts.isoformat()}"
            ).hex,
            ts=bar.ts,
            symbol=symbol,
            bar_ts=bar.ts,
            strategy=self.strategy.name,
            role=self.role,
            value=exposure,
            seq=bar.seq,
        )
        return exposure, previous, signal

    def _sized(self, symbol: str, exposure: float, signal: Signal, snapshot: AccountSnapshot) -> Decision:
        bar = self._symbols[symbol].bars[-1]
        self._decided[symbol] = bar.ts
        intent, refusal = size_intent(
            self.strategy.name,
            self.specs[symbol],
            bar.ts,
            bar.close,
            exposure,
            snapshot,
            self.sizing,
            self.caps,
            bar.seq,
        )
        return Decision(signal, intent, refusal)


def size_intent(
    strategy: str,
    spec: SymbolSpec,
    bar_ts: datetime,
    close: Decimal,
    exposure: float,
    snapshot: AccountSnapshot,
    sizing: FixedNotional | EquityFraction | VolatilityTarget,
    caps: Caps,
    seq: int | None = None,
) -> tuple[OrderIntent | None, Refusal | None]:
    """The intent for a new target ``exposure`` of ``spec``'s symbol at the close of its bar, sized from the account.

    The ml service and the backtest's shared account both decide here, so they size the same order from
    the same account. None (and the translator's refusal, if it refused) when there is nothing to order.
    """
    symbol = spec.symbol
    position = ZERO
    for held in snapshot.positions:
        if held.symbol == symbol:
            position = held.quantity
            break
    if exposure == 0 and position == 0:
        return None, None
    price = spec.quantize_price(close)
    translation = translate(exposure, price, snapshot.cash + _marked(snapshot, symbol, price), position, spec,
                            sizing, caps)  # fmt: skip
    if translation.refusal is not None:
        return None, translation.refusal
    intent_id = uuid.uuid5(INTENT_NAMESPACE, f"intent|{strategy}|{symbol}|{bar_ts.isoformat()}").hex
    intent = to_intent(translation, spec, price, bar_ts, strategy, intent_id)
    return intent.model_copy(update={"ts": bar_ts, "seq": seq}), None


def _epoch_nanoseconds(ts: datetime) -> int:
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _marked(snapshot: AccountSnapshot, symbol: str, price: Decimal) -> Decimal:
    """Value of every position, the deciding symbol's at the decision price (as the backtest does)."""
    total = ZERO
    for position in snapshot.positions:
        total += position.quantity * (price if position.symbol == symbol else position.market_price)
    return total
