"""The backtest: strategy targets → translator → fill model → FIFO ledger → equity curve and metrics.

Signals are vectorized over the whole history. The exact part — sizing, quantization, fills, the
ledger — runs only on the bars where something happens: the target exposure changes, or an order
split by the participation cap is still working. Between those bars the position and the cash are
constant, so the equity curve is assembled with numpy from the fills.

Orders that fill whole run through :mod:`logos.backtest.integer_core` (the same rules in ints, the
same results to the last digit) whenever it can represent the configuration; the Decimal loop here
is the reference, and runs everything else.
"""

from __future__ import annotations

import gc
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from logos.backtest.integer_core import CUT_TO_CASH, PROGRESS_EVERY, IntegerRun, Unrepresentable, integer_core
from logos.backtest.metrics import Metrics, TripResults, compute_metrics, infer_calendar
from logos.contracts import OrderType, Side
from logos.execution.fill_model import (
    INSUFFICIENT_CASH,
    BarPrices,
    FillModel,
    FillModelConfig,
    FillTiming,
    Match,
    cut_by_cash,
)
from logos.execution.ledger import ClosedLot, Execution, FifoLedger, OpenLot
from logos.orders.sizing import EquityFraction, SizingRule, VolatilityTarget
from logos.orders.translator import Caps, Refusal, translate
from logos.strategies import Strategy
from logos.symbols import SymbolSpec

ZERO = Decimal(0)
VOLATILITY_LOOKBACK = 60


class BacktestConfig(BaseModel):
    """Everything that decides a backtest's outcome besides the bars; saved as config.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)
    cash: Decimal = Field(default=Decimal(100_000), gt=0)
    fills: FillModelConfig = Field(default_factory=FillModelConfig)
    sizing: SizingRule = Field(default_factory=EquityFraction)
    caps: Caps = Field(default_factory=Caps)


@dataclass
class BacktestResult:
    """What a backtest produced: fills, round trips (open ones marked at the last close), curves and metrics.

    The ledger, and with it the executions and the closed round trips, is read through ``read_ledger``
    the first time it is asked for: after the integer core that is when its Decimal records are built.
    """

    symbol: str
    index: pd.DatetimeIndex
    targets: np.ndarray
    positions: np.ndarray
    cash: np.ndarray
    equity: np.ndarray
    open_trips: list[OpenLot]
    refusals: dict[str, int]
    metrics: Metrics
    read_ledger: Callable[[], FifoLedger] = field(repr=False)

    @cached_property
    def ledger(self) -> FifoLedger:
        return self.read_ledger()

    @property
    def executions(self) -> list[Execution]:
        return self.ledger.executions

    @property
    def round_trips(self) -> list[ClosedLot]:
        return self.ledger.closed


@dataclass(slots=True)
class _Working:
    """An order the participation cap split: what is left to fill, and from which bar."""

    side: Side
    remaining: Decimal
    order_id: str
    next_bar: int


def _ticks(prices: np.ndarray, spec: SymbolSpec) -> np.ndarray:
    # bar prices arrive as floats; whole ticks make them exact again (and cheap to turn into Decimals)
    ticks = prices / float(spec.tick_size)
    return np.rint(ticks, out=ticks).astype(np.int64)


class _Simulation:
    def __init__(self, frame: pd.DataFrame, spec: SymbolSpec, config: BacktestConfig) -> None:
        self.spec, self.config = spec, config
        self.index = pd.DatetimeIndex(frame.index)
        self.open = frame["open"].to_numpy(dtype=np.float64)
        self.high = frame["high"].to_numpy(dtype=np.float64)
        self.low = frame["low"].to_numpy(dtype=np.float64)
        self.close = frame["close"].to_numpy(dtype=np.float64)
        self.volume = frame["volume"].to_numpy(dtype=np.float64)
        self._ledger: FifoLedger | None = FifoLedger(cash=config.cash)
        self._integer: IntegerRun | None = None  # what the integer core produced, when it ran
        self.model = FillModel(config.fills)
        self.fill_bars: list[int] = []
        self.refusals: dict[str, int] = {}
        self.orders = itertools.count(1)
        self.calendar = infer_calendar(self.index)
        self.ppy = self.calendar.periods_per_year
        self.nanoseconds = self.index.as_unit("ns").asi8
        self.tick = spec.tick_size
        # the price fills are matched at: the bar's open (next-open fills) or its close
        self.reference = self.open if config.fills.timing is FillTiming.NEXT_OPEN else self.close
        self.needs_volatility = isinstance(config.sizing, VolatilityTarget)
        self.log_returns = np.diff(np.log(self.close), prepend=np.nan) if self.needs_volatility else self.close
        self.exact_path = "decimal"  # which loop ran: "integer" (integer_core) or "decimal" (this module's)

    @property
    def ledger(self) -> FifoLedger:
        """The ledger of every fill (after the integer core, built from its records when first read)."""
        if self._ledger is None:
            assert self._integer is not None
            self._ledger = self._integer.ledger()
        return self._ledger

    # every bar's prices in ticks, for the Decimal loop; the integer core converts only the bars it reads
    @cached_property
    def open_ticks(self) -> np.ndarray:
        return _ticks(self.open, self.spec)

    @cached_property
    def close_ticks(self) -> np.ndarray:
        return _ticks(self.close, self.spec)

    @cached_property
    def reference_ticks(self) -> np.ndarray:
        return self.open_ticks if self.reference is self.open else self.close_ticks

    def timestamp(self, index: int) -> datetime:
        return datetime.fromtimestamp(int(self.nanoseconds[index]) / 1e9, UTC)

    def price(self, ticks: np.ndarray, index: int) -> Decimal:
        return Decimal(int(ticks[index])) * self.tick

    def bar(self, index: int) -> BarPrices:
        spec = self.spec
        return BarPrices(
            self.timestamp(index),
            self.price(self.open_ticks, index),
            spec.quantize_price(Decimal(repr(float(self.high[index])))),
            spec.quantize_price(Decimal(repr(float(self.low[index])))),
            self.price(self.close_ticks, index),
            Decimal(repr(float(self.volume[index]))),
        )

    def volatility(self, index: int) -> float | None:
        if not self.needs_volatility:
            return None
        window = self.log_returns[max(1, index - VOLATILITY_LOOKBACK + 1) : index + 1]
        if window.size < VOLATILITY_LOOKBACK // 2:
            return None
        return float(np.std(window, ddof=1)) * math.sqrt(self.ppy)

    def fill(self, working: _Working, bar_index: int) -> _Working | None:
        """Match a working order on one bar; return what is still working afterwards."""
        match: Match | None
        cash = self.ledger.cash
        if self.config.fills.participation_cap is None:  # the common case needs only one price
            reference = self.price(self.reference_ticks, bar_index)
            wanted = working.remaining
            match = self.model.fill_market(self.spec, working.side, working.remaining, reference, cash)
        else:
            prices = self.bar(bar_index)
            wanted = self.model.fillable(self.spec, working.side, working.remaining, prices, OrderType.MARKET)
            match = self.model.match(self.spec, working.side, working.remaining, prices, OrderType.MARKET, None, cash)
        if cut_by_cash(wanted, match):
            # what the cash could not pay for is canceled, as the paper broker cancels it
            reason = INSUFFICIENT_CASH if match is None else CUT_TO_CASH
            self.refusals[reason] = self.refusals.get(reason, 0) + 1
            working.remaining = match.quantity if match is not None else ZERO
        if match is not None:
            self.ledger.apply(
                self.timestamp(bar_index),
                self.spec.symbol,
                working.side,
                match.quantity,
                match.price,
                match.fee,
                working.order_id,
            )
            self.fill_bars.append(bar_index)
            working.remaining -= match.quantity
        working.next_bar = bar_index + 1
        return working if working.remaining > 0 else None

    def decide(self, decision_bar: int, exposure: float) -> _Working | None:
        """Size and quantize the new target at the close of ``decision_bar``; return the order, if any."""
        position = self.ledger.position(self.spec.symbol)
        if exposure == 0 and position == 0:
            return None  # nothing to close: the entry it ends was never filled
        price = self.price(self.close_ticks, decision_bar)
        equity = self.ledger.cash + position * price
        translation = translate(
            exposure,
            price,
            equity,
            position,
            self.spec,
            self.config.sizing,
            self.config.caps,
            self.volatility(decision_bar),
        )
        if translation.refusal is not None:
            if translation.refusal is not Refusal.NO_CHANGE:
                self.refusals[translation.refusal.value] = self.refusals.get(translation.refusal.value, 0) + 1
            return None
        side = Side.BUY if translation.order_quantity > 0 else Side.SELL
        return _Working(side, abs(translation.order_quantity), f"o{next(self.orders)}", decision_bar)

    def run(self, targets: np.ndarray, progress: Callable[[int], None] | None = None, integer: bool = True) -> None:
        """Fill every decision of ``targets``; ``integer=False`` keeps to the Decimal loop (the reference)."""
        bars = targets.shape[0]
        delay = 1 if self.config.fills.timing is FillTiming.NEXT_OPEN else 0
        previous = np.concatenate([[0.0], targets[:-1]])
        decisions = np.flatnonzero(targets != previous)
        decisions = decisions[decisions + delay < bars]  # a decision on the last bar has no bar to fill on
        # the loop makes a few records per fill and no reference cycles: the cyclic collector would only
        # walk the growing lists of fills again and again (about a tenth of the time), so it waits
        collecting = gc.isenabled()
        gc.disable()
        try:
            if self.config.fills.participation_cap is None:
                if not (integer and self._run_integer(decisions, targets, delay, progress)):
                    self._run_unsplit(decisions, targets, delay, progress)
            else:
                self._run_split(decisions, targets, delay, progress)
        finally:
            if collecting:
                gc.enable()
        if progress is not None:
            progress(bars)

    def _run_integer(
        self, decisions: np.ndarray, targets: np.ndarray, delay: int, progress: Callable[[int], None] | None
    ) -> bool:
        """Run the unsplit loop in ints; False (nothing changed) when the integer core cannot reproduce it exactly."""
        config = self.config
        core = integer_core(self.spec, config.cash, config.fills, config.sizing, config.caps)
        if core is None:
            return False
        fill_bars = decisions + delay
        close_ticks = _ticks(self.close[decisions], self.spec).tolist()
        try:
            executions, closed, lots, refusals = core.run(
                decisions.tolist(),
                targets[decisions].tolist(),
                close_ticks,
                fill_bars.tolist(),
                _ticks(self.reference[fill_bars], self.spec).tolist(),
                progress,
            )
            outcome = core.finish(executions, closed, lots, refusals, self.nanoseconds, max(close_ticks, default=0))
        except Unrepresentable:
            return False
        self._integer, self._ledger = outcome, None
        self.refusals, self.fill_bars = outcome.refusals, outcome.fill_bars
        self.orders = itertools.count(len(outcome.fill_bars) + 1)
        self.exact_path = "integer"
        return True

    def _run_unsplit(
        self, decisions: np.ndarray, targets: np.ndarray, delay: int, progress: Callable[[int], None] | None
    ) -> None:
        """Every order fills whole on its first bar: nothing works across decisions, so only decision bars count."""
        fill_bars = decisions + delay
        for start in range(0, decisions.size, PROGRESS_EVERY):
            if progress is not None:
                progress(int(decisions[start]))
            chunk = slice(start, start + PROGRESS_EVERY)
            self._fill_decisions(decisions[chunk], targets, fill_bars[chunk])

    def _fill_decisions(self, decisions: np.ndarray, targets: np.ndarray, fill_bars: np.ndarray) -> None:
        """Translate, fill and book each decision in turn (the hot loop: everything it reads is a local)."""
        # gathered once as Python ints: indexing numpy scalars one at a time costs more than the arithmetic
        columns = zip(
            decisions.tolist(),
            targets[decisions].tolist(),
            self.close_ticks[decisions].tolist(),
            fill_bars.tolist(),
            self.reference_ticks[fill_bars].tolist(),
            self.nanoseconds[fill_bars].tolist(),
            strict=True,
        )
        ledger, spec, tick, orders = self.ledger, self.spec, self.tick, self.orders
        symbol, sizing, caps = spec.symbol, self.config.sizing, self.config.caps
        positions, refusals, filled = ledger.positions, self.refusals, self.fill_bars
        apply, fill_market, fromtimestamp = ledger.apply, self.model.fill_market, datetime.fromtimestamp
        volatility_at = self.volatility if self.needs_volatility else None
        buy, sell, no_change = Side.BUY, Side.SELL, Refusal.NO_CHANGE
        for decision_bar, exposure, close_ticks, fill_bar, reference_ticks, nanoseconds in columns:
            position = positions.get(symbol, ZERO)
            if exposure == 0 and position == 0:
                continue  # nothing to close: the entry it ends was never filled
            price = Decimal(close_ticks) * tick
            volatility = None if volatility_at is None else volatility_at(decision_bar)
            equity = ledger.cash + position * price
            _, quantity, refusal, _ = translate(exposure, price, equity, position, spec, sizing, caps, volatility)
            if refusal is not None:
                if refusal is not no_change:
                    refusals[refusal.value] = refusals.get(refusal.value, 0) + 1
                continue
            side = buy if quantity > 0 else sell
            size = abs(quantity)
            # a buy never spends more than the cash: cut to the lots it pays for, or refused (the paper broker's rule)
            match = fill_market(spec, side, size, Decimal(reference_ticks) * tick, ledger.cash)
            if match is None:
                refusals[INSUFFICIENT_CASH] = refusals.get(INSUFFICIENT_CASH, 0) + 1
                continue
            filled_quantity, fill_price, fee, _ = match
            if filled_quantity < size:
                refusals[CUT_TO_CASH] = refusals.get(CUT_TO_CASH, 0) + 1
            ts = fromtimestamp(nanoseconds / 1e9, UTC)
            apply(ts, symbol, side, filled_quantity, fill_price, fee, f"o{next(orders)}")
            filled.append(fill_bar)

    def _run_split(
        self, decisions: np.ndarray, targets: np.ndarray, delay: int, progress: Callable[[int], None] | None
    ) -> None:
        """Orders the participation cap splits keep working bar by bar until filled or replaced."""
        bars = targets.shape[0]
        working: _Working | None = None
        for count, decision_bar in enumerate(decisions.tolist()):
            first_fill_bar = decision_bar + delay
            # an order still working from the last decision gets the bars before this one acts
            while working is not None and working.next_bar < first_fill_bar:
                working = self.fill(working, working.next_bar)
            working = self.decide(decision_bar, float(targets[decision_bar]))  # replaces what was left
            if working is not None:
                working.next_bar = first_fill_bar
                working = self.fill(working, first_fill_bar)
            if progress is not None and count % 1000 == 0:
                progress(decision_bar)
        while working is not None and working.next_bar < bars:
            working = self.fill(working, working.next_bar)

    def curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-bar position, cash and equity (at the close), from the fills."""
        bars = self.close.shape[0]
        start = float(self.config.cash)
        if not self.fill_bars:
            position, cash = np.zeros(bars), np.full(bars, start)
        else:
            at = np.array(self.fill_bars)
            # the last fill of a bar sets the state from that bar on, until the next bar with a fill
            last_of_bar = np.concatenate([at[1:] != at[:-1], [True]])
            change_bars = at[last_of_bar]
            # each curve in one allocation: the start until the first fill, then each state for its bars
            lengths = np.diff(np.concatenate([[0], change_bars, [bars]]))
            if self._integer is not None:
                positions, cashes = self._integer.positions[last_of_bar], self._integer.cash[last_of_bar]
            else:
                executions = self.ledger.executions
                positions = np.array([float(e.position_after) for e in executions])[last_of_bar]
                cashes = np.array([float(e.cash_after) for e in executions])[last_of_bar]
            position = np.repeat(np.concatenate([[0.0], positions]), lengths)
            cash = np.repeat(np.concatenate([[start], cashes]), lengths)
        equity = position * self.close
        equity += cash
        return position, cash, equity

    def traded_notional(self) -> float:
        """The sum of every fill's quantity x price, as a float of the exact sum."""
        if self._integer is not None:
            return self._integer.traded_notional
        return float(sum((e.quantity * e.price for e in self.ledger.executions), ZERO))

    def round_trips(self, open_trips: list[OpenLot]) -> list[ClosedLot | OpenLot] | TripResults:
        """What the metrics read of the round trips: closed, then ``open_trips``; the integer core's as numbers."""
        if self._integer is None:
            return [*self.ledger.closed, *open_trips]
        net = np.concatenate([self._integer.net_pnl, np.array([float(trip.net_pnl) for trip in open_trips])])
        return TripResults(net, len(open_trips))

    def ledger_reader(self) -> Callable[[], FifoLedger]:
        """What gives the ledger later, holding the integer core's records but not this simulation's bars."""
        if self._integer is not None:
            return self._integer.ledger
        ledger = self.ledger
        return lambda: ledger

    def fees_paid(self) -> Decimal:
        return self.ledger.fees_paid if self._integer is None else self._integer.fees_paid

    def open_trips(self) -> list[OpenLot]:
        """The lots open after the last bar, marked at its close."""
        mark = self.price(_ticks(self.close[-1:], self.spec), 0)
        if self._integer is None:
            return self.ledger.open_lots({self.spec.symbol: mark})
        return self._integer.open_trips(mark)


def run_backtest(
    frame: pd.DataFrame,
    spec: SymbolSpec,
    strategy: Strategy,  # type: ignore[type-arg]
    config: BacktestConfig,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``frame`` (one symbol's bars) and return fills, curves and metrics."""
    if len(frame) < 2:
        raise ValueError(f"{spec.symbol}: a backtest needs at least 2 bars, got {len(frame)}")
    params = strategy.params(config.params)
    targets = strategy.targets(frame, params)
    simulation = _Simulation(frame, spec, config)
    simulation.run(targets, progress)
    positions, cash, equity = simulation.curves()
    open_trips = simulation.open_trips()
    metrics = compute_metrics(
        equity,
        simulation.index,
        positions,
        simulation.round_trips(open_trips),
        simulation.traded_notional(),
        len(simulation.fill_bars),
        float(simulation.fees_paid()),
        simulation.ppy,
        simulation.calendar,
    )
    return BacktestResult(
        symbol=spec.symbol,
        index=simulation.index,
        targets=targets,
        positions=positions,
        cash=cash,
        equity=equity,
        open_trips=open_trips,
        refusals=simulation.refusals,
        metrics=metrics,
        read_ledger=simulation.ledger_reader(),
    )
