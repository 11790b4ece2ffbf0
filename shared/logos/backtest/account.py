"""One account across symbols, through the stack's own cores and in the stack's order.

Every bar of every symbol, in canonical order (time, then symbol), goes through what the paper stack
runs on it: the risk engine sees the bar; the paper broker fills what was working for the symbol and
marks it; the risk engine sees those fills and the account after them, runs its breakers and approves
the next slice of any sliced reduction; then, where the strategy's target changes, the intent is sized
from that account (``size_intent``, the ml service's own function), risk decides on it
(``RiskEngine.check``, ``decision_message``) and the broker accepts the approved target. The targets
come from the strategy vectorized over each symbol's whole history, which equals the live window's
value. So a backtest with the stack's limits denies what the stack denies, and its fills are a paper
session's, fill for fill, whatever the sizing rule and however many symbols share the cash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from logos.backtest.engine import BacktestConfig
from logos.backtest.metrics import Metrics, compute_metrics, infer_calendar
from logos.contracts import AccountSnapshot, Bar, Fill, Order, OrderDenied, OrderIntent, TradingStateChanged
from logos.execution.ledger import ClosedLot, Execution, OpenLot
from logos.live.paper_broker import PaperBroker
from logos.live.strategy_runner import size_intent
from logos.orders.sizing import EquityFraction, FixedNotional, VolatilityTarget
from logos.risk.decisions import DECISION_NAMESPACE, decision_message, slice_message, state_change_message
from logos.risk.engine import RiskEngine, RiskEvent
from logos.risk.limits import RiskLimits
from logos.strategies import Strategy
from logos.symbols import SymbolSpec

ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PROGRESS_EVERY = 5_000  # bars between progress reports
REPLAY_SOURCE = "replay"  # the feed's name for replayed bars: a backtest's bars are the replay's, byte for byte


@dataclass(frozen=True)
class SymbolBreakdown:
    """What one symbol contributed to the shared account."""

    symbol: str
    bars: int
    fills: int
    round_trips: int
    open_trips: int
    traded_notional: Decimal
    fees: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    final_position: Decimal
    final_price: Decimal
    exposure: float  # share of the account's bars with a position in this symbol
    denials: int
    refusals: int

    def as_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "bars": self.bars,
            "fills": self.fills,
            "round_trips": self.round_trips,
            "open_trips": self.open_trips,
            "traded_notional": str(self.traded_notional),
            "fees": str(self.fees),
            "realized_pnl": str(self.realized_pnl),
            "unrealized_pnl": str(self.unrealized_pnl),
            "net_pnl": str(self.realized_pnl + self.unrealized_pnl),
            "final_position": str(self.final_position),
            "final_price": str(self.final_price),
            "exposure": round(self.exposure, 6),
            "denials": self.denials,
            "refusals": self.refusals,
        }


@dataclass
class AccountResult:
    """What a shared-account backtest produced: fills, risk's verdicts, curves on every bar time, metrics."""

    symbols: list[str]
    index: pd.DatetimeIndex  # every bar time of any symbol, once
    cash: np.ndarray  # after every bar of that time
    equity: np.ndarray
    gross_exposure: np.ndarray
    positions: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]  # on each symbol's own bars
    executions: list[Execution]
    round_trips: list[ClosedLot]
    open_trips: list[OpenLot]
    refusals: dict[str, int]  # the translator's, by reason
    denials: list[OrderDenied]
    rejections: list[tuple[Order, str]]  # approved, then refused as the venue would (e.g. above its maximum)
    risk_events: list[TradingStateChanged]
    metrics: Metrics
    breakdown: list[SymbolBreakdown]
    limits: RiskLimits | None
    orders: int = 0

    def denials_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for denial in self.denials:
            counts[denial.reason.value] = counts.get(denial.reason.value, 0) + 1
        return dict(sorted(counts.items()))


@dataclass
class _Bars:
    """Every symbol's bars merged in canonical order, as plain columns."""

    codes: np.ndarray  # index into the sorted symbols
    rows: np.ndarray  # the bar's row in its symbol's frame
    nanoseconds: np.ndarray
    prices: np.ndarray  # open, high, low, close, volume per bar


def _merge(frames: dict[str, pd.DataFrame], symbols: list[str]) -> _Bars:
    codes, rows, nanoseconds, prices = [], [], [], []
    for code, symbol in enumerate(symbols):
        frame = frames[symbol]
        count = len(frame)
        codes.append(np.full(count, code, dtype=np.int64))
        rows.append(np.arange(count, dtype=np.int64))
        nanoseconds.append(pd.DatetimeIndex(frame.index).as_unit("ns").asi8)
        prices.append(frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64))
    code_column, ns_column = np.concatenate(codes), np.concatenate(nanoseconds)
    order = np.lexsort((code_column, ns_column))  # time, then symbol (symbols sorted: their codes sort alike)
    return _Bars(code_column[order], np.concatenate(rows)[order], ns_column[order], np.concatenate(prices)[order])


@dataclass
class _Account:
    """The paper broker and the risk engine, fed as the executor and the risk service are fed."""

    broker: PaperBroker
    risk: RiskEngine | None
    account: str
    denials: list[OrderDenied] = field(default_factory=list)
    rejections: list[tuple[Order, str]] = field(default_factory=list)
    events: list[TradingStateChanged] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)

    def bar(self, bar: Bar, deciding: bool) -> AccountSnapshot | None:
        """Mark the bar (risk, then the broker's fills and mark); the account after it, if anyone reads it."""
        risk = self.risk
        if risk is not None:
            risk.on_bar(bar.symbol, bar.ts, bar.close)
        executions = self.broker.on_bar(bar)
        if risk is None:
            return self.broker.snapshot(bar, self.account) if deciding else None
        snapshot = self.broker.snapshot(bar, self.account)
        if risk is not None:
            self._filled(executions)
            risk.on_account(snapshot)
            self._changed(risk.evaluate(bar.ts))
            for step in risk.next_slices(bar.ts):
                self.accept(slice_message(step, bar.ts))
        return snapshot

    def decide(self, intent: OrderIntent, now: datetime) -> None:
        """Risk's verdict on ``intent`` (approve the whole target without a risk engine), then the broker's."""
        if self.risk is None:
            decision: Order | OrderDenied = _unchecked(intent, now)
        else:
            decision = decision_message(intent, self.risk.check(intent, now), now, self.risk.state)
        if isinstance(decision, OrderDenied):
            self.denials.append(decision)
            return
        self.accept(decision)

    def accept(self, order: Order) -> None:
        accepted = self.broker.on_order(order, order.ts)
        if accepted is None:
            return
        if accepted.order is not None and accepted.rejection is not None:
            self.rejections.append((order, accepted.rejection))
            if self.risk is not None and self._first_answer(order.intent_id):
                self.risk.on_order_outcome(True)
                self._changed(self.risk.evaluate(order.ts))
        if self.risk is not None:
            self._filled(accepted.executions)

    def _filled(self, executions: list[Execution]) -> None:
        assert self.risk is not None
        for execution in executions:
            paper = self.broker.orders[execution.order_id]
            fill = Fill.model_construct(order_id=paper.id, intent_id=paper.intent_id, symbol=execution.symbol,
                                        side=execution.side, quantity=execution.quantity, price=execution.price,
                                        fee=execution.fee, ts=execution.ts)  # fmt: skip
            self.risk.on_fill(fill)
            if self._first_answer(paper.intent_id or paper.id):
                self.risk.on_order_outcome(False)

    def _first_answer(self, key: str) -> bool:
        if key in self.answered:
            return False
        self.answered.add(key)
        return True

    def _changed(self, events: list[RiskEvent]) -> None:
        assert self.risk is not None
        first = len(self.risk.events) - len(events)
        self.events += [
            state_change_message(number, event, self.risk.killed) for number, event in enumerate(events, start=first)
        ]


def _unchecked(intent: OrderIntent, now: datetime) -> Order:
    # without risk limits every target passes as it is, with the id risk would have given it
    import uuid

    from logos.risk.decisions import order_message

    decision_id = uuid.uuid5(DECISION_NAMESPACE, intent.id).hex
    return order_message(intent, decision_id, now, intent.target_quantity, intent.reference_price, ())


def run_account_backtest(
    frames: dict[str, pd.DataFrame],
    specs: dict[str, SymbolSpec],
    strategy: Strategy,  # type: ignore[type-arg]
    config: BacktestConfig,
    limits: RiskLimits | None = None,
    progress: Callable[[int], None] | None = None,
    account: str = "paper",
) -> AccountResult:
    """Trade ``strategy`` on every symbol of ``frames`` against one cash account, through risk when ``limits``."""
    symbols = sorted(frames)
    if not symbols:
        raise ValueError("a backtest needs at least one symbol")
    for symbol in symbols:
        if len(frames[symbol]) < 2:
            raise ValueError(f"{symbol}: a backtest needs at least 2 bars, got {len(frames[symbol])}")
    sizing = config.sizing
    if isinstance(sizing, VolatilityTarget):
        raise ValueError("volatility sizing is not available in a shared-account backtest yet; use equity:F or "
                         "notional:N")  # fmt: skip
    assert isinstance(sizing, FixedNotional | EquityFraction)
    params = strategy.params(config.params)
    targets = {symbol: np.asarray(strategy.targets(frames[symbol], params), dtype=np.float64) for symbol in symbols}
    changed = {symbol: np.concatenate([[values[0] != 0.0], values[1:] != values[:-1]]) for symbol, values in
               targets.items()}  # fmt: skip
    books = {symbol: specs[symbol] for symbol in symbols}
    broker = PaperBroker(config.cash, books, config.fills)
    risk = None
    if limits is not None:
        risk = RiskEngine(limits)
        risk.lot_sizes = {symbol: spec.lot_size for symbol, spec in books.items()}
    state = _Account(broker, risk, account)
    bars = _merge(frames, symbols)
    refusals: dict[str, int] = {}
    refused: dict[str, int] = {}  # by symbol
    decision_rows = [changed[symbol] for symbol in symbols]
    target_rows = [targets[symbol] for symbol in symbols]
    for count, (code, row, nanoseconds, prices) in enumerate(
        zip(bars.codes.tolist(), bars.rows.tolist(), bars.nanoseconds.tolist(), bars.prices.tolist(), strict=True)
    ):
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
        symbol = symbols[code]
        spec = books[symbol]
        bar = _bar(symbol, spec, nanoseconds, prices, count + 1)
        deciding = bool(decision_rows[code][row])
        snapshot = state.bar(bar, deciding)
        if snapshot is None or not deciding:
            continue
        exposure = float(target_rows[code][row])
        intent, refusal = size_intent(config.strategy, spec, bar.ts, bar.close, exposure, snapshot, sizing,
                                      config.caps)  # fmt: skip
        if refusal is not None:
            refusals[refusal.value] = refusals.get(refusal.value, 0) + 1
            refused[symbol] = refused.get(symbol, 0) + 1
        if intent is not None:
            state.decide(intent, bar.ts)
    if progress is not None:
        progress(len(bars.codes))
    return _result(frames, symbols, books, config, limits, targets, bars, state, refusals, refused)


def _bar(symbol: str, spec: SymbolSpec, nanoseconds: int, prices: list[float], seq: int) -> Bar:
    """The bar as the replay publishes it (services' feed): prices on the tick, the same id and number."""
    when = EPOCH + timedelta(microseconds=nanoseconds // 1000)
    open_, high, low, close, volume = prices
    # built without validation: the loader checked the bars, and quantizing to the tick keeps low <= open, close <= high
    return Bar.model_construct(
        id=f"{symbol}@{when.isoformat()}",
        ts=when,
        symbol=symbol,
        open=spec.quantize_price(Decimal(repr(open_))),
        high=spec.quantize_price(Decimal(repr(high))),
        low=spec.quantize_price(Decimal(repr(low))),
        close=spec.quantize_price(Decimal(repr(close))),
        volume=Decimal(repr(volume)),
        source=REPLAY_SOURCE,
        seq=seq,
    )


def _result(
    frames: dict[str, pd.DataFrame],
    symbols: list[str],
    specs: dict[str, SymbolSpec],
    config: BacktestConfig,
    limits: RiskLimits | None,
    targets: dict[str, np.ndarray],
    bars: _Bars,
    state: _Account,
    refusals: dict[str, int],
    refused: dict[str, int],
) -> AccountResult:
    broker = state.broker
    ledger = broker.ledger
    executions = ledger.executions
    index_ns = np.unique(bars.nanoseconds)
    index = pd.DatetimeIndex(pd.to_datetime(index_ns, utc=True), name="timestamp")
    # the state after the last fill at or before each time: fills are in time order
    fill_ns = np.array([_nanoseconds(e.ts) for e in executions], dtype=np.int64)
    after = np.searchsorted(fill_ns, index_ns, side="right") - 1  # the last fill by each time, -1 for none
    cash_after = np.array([float(config.cash)] + [float(e.cash_after) for e in executions])
    cash = cash_after[after + 1]
    equity = cash.copy()
    gross = np.zeros(index_ns.size)
    positions: dict[str, np.ndarray] = {}
    marks: dict[str, Decimal] = {}
    for symbol in symbols:
        mine = [i for i, e in enumerate(executions) if e.symbol == symbol]
        own_ns = fill_ns[mine] if mine else np.zeros(0, dtype=np.int64)
        held = np.concatenate([[0.0], [float(executions[i].position_after) for i in mine]])
        position = held[np.searchsorted(own_ns, index_ns, side="right")]
        frame = frames[symbol]
        closes = frame["close"].to_numpy(dtype=np.float64)
        bar_ns = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
        last = np.searchsorted(bar_ns, index_ns, side="right") - 1
        mark = np.where(last >= 0, closes[np.maximum(last, 0)], 0.0)
        equity += position * mark
        gross += np.abs(position) * mark
        positions[symbol] = position
        marks[symbol] = specs[symbol].quantize_price(Decimal(repr(float(closes[-1]))))
    closed = list(ledger.closed)
    open_trips = ledger.open_lots(marks)
    traded = sum((e.quantity * e.price for e in executions), ZERO)
    calendar = infer_calendar(index)
    metrics = compute_metrics(
        equity,
        index,
        gross,
        [*closed, *open_trips],
        float(traded),
        len(executions),
        float(ledger.fees_paid),
        calendar.periods_per_year,
        calendar,
    )
    breakdown = [
        _breakdown(
            symbol,
            len(frames[symbol]),
            executions,
            closed,
            open_trips,
            positions[symbol],
            marks[symbol],
            state,
            ledger.position(symbol),
            refused.get(symbol, 0),
        )
        for symbol in symbols
    ]
    return AccountResult(
        symbols=symbols,
        index=index,
        cash=cash,
        equity=equity,
        gross_exposure=gross,
        positions=positions,
        targets=targets,
        executions=executions,
        round_trips=closed,
        open_trips=open_trips,
        refusals=dict(sorted(refusals.items())),
        denials=state.denials,
        rejections=state.rejections,
        risk_events=state.events,
        metrics=metrics,
        breakdown=breakdown,
        limits=limits,
        orders=broker.order_count,
    )


def _breakdown(
    symbol: str,
    bars: int,
    executions: list[Execution],
    closed: list[ClosedLot],
    open_trips: list[OpenLot],
    position: np.ndarray,
    mark: Decimal,
    state: _Account,
    final: Decimal,
    refusals: int,
) -> SymbolBreakdown:
    mine = [e for e in executions if e.symbol == symbol]
    trips = [trip for trip in closed if trip.symbol == symbol]
    still_open = [trip for trip in open_trips if trip.symbol == symbol]
    return SymbolBreakdown(
        symbol=symbol,
        bars=bars,
        fills=len(mine),
        round_trips=len(trips),
        open_trips=len(still_open),
        traded_notional=sum((e.quantity * e.price for e in mine), ZERO),
        fees=sum((e.fee for e in mine), ZERO),
        realized_pnl=sum((e.realized_pnl for e in mine), ZERO),
        unrealized_pnl=sum((trip.pnl for trip in still_open), ZERO),
        final_position=final,
        final_price=mark,
        exposure=float(np.count_nonzero(position) / position.size) if position.size else 0.0,
        denials=sum(1 for denial in state.denials if denial.symbol == symbol),
        refusals=refusals,
    )


def _nanoseconds(ts: datetime) -> int:
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
