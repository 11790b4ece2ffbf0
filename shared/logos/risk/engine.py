"""The risk engine: one small check per rule, breakers that move the trading state, a kill switch.

Trading state: ACTIVE (every check applies) → REDUCING (only orders that shrink a position pass)
→ HALTED (nothing passes). Breakers that clear may return REDUCING to ACTIVE by policy; HALTED —
from a drawdown breaker, an operator or the kill switch — waits for an operator's resume. Every
refusal carries a reason code and a sentence with the numbers that broke the rule.

A reduction is never blocked by a notional limit: an intent whose target is closer to zero on the
same side passes the per-order, per-position and exposure checks in ACTIVE and REDUCING (HALTED
still stops everything: that is what a halt is for). One worth more than the per-order limit is
sliced: risk approves a first slice (the position less at most the limit's worth of lots) and,
each time the account shows the position has reached the last slice, the next one
(:meth:`RiskEngine.next_slices`), until the intent's target is held, a newer intent for the symbol
replaces it, or trading halts. A position over the per-position limit, or gross exposure over its
limit, that risk did not approve (a position larger than the last target it approved within the
limits: not mere price drift) trips the ``limit_breach`` breaker: REDUCING until it is back within.

A cash account cannot buy with money it does not hold: a buy that opens or grows a position is
denied when it costs more than the last account snapshot's cash by over ``buying_power_tolerance``
(the fill cuts what the cash cannot pay for, so the tolerance only has to cover fees and the gap).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from logos.contracts import AccountSnapshot, DenialReason, Fill, OrderIntent, Side, TradingState
from logos.risk.limits import RiskLimits
from logos.symbols import quantize_quantity

ZERO = Decimal(0)
RATE_WINDOW = timedelta(minutes=1)
Verdict = tuple[DenialReason, str] | None
"""A denial (reason and explanation), or None when the rule lets the intent through."""


@dataclass(frozen=True)
class RiskDecision:
    """The verdict on one intent: approved with the checks it passed, or denied with the reason."""

    approved: bool
    reason: DenialReason | None
    detail: str
    checks_passed: tuple[str, ...]
    order_quantity: Decimal  # signed difference between the target and risk's view of the position
    target_quantity: Decimal | None = None  # what the order carries: the intent's target, or its first slice's
    slice_number: int | None = None  # 1 for the first slice of a sliced reduction


@dataclass
class Reduction:
    """A reduction sliced to the per-order limit: the intent, the slices approved so far, the last one's target."""

    intent: OrderIntent
    slices: int
    slice_target: Decimal


@dataclass(frozen=True)
class Slice:
    """The next slice of a reduction, approved: its number, its target and the price it was sized at."""

    intent: OrderIntent
    number: int
    target_quantity: Decimal
    reference_price: Decimal
    checks_passed: tuple[str, ...]


@dataclass(frozen=True)
class RiskEvent:
    """A change of trading state or of the kill switch, for logs, the status stream and session.md."""

    ts: datetime
    state: TradingState
    cause: str
    detail: str


class RiskState(BaseModel):
    """What must survive a restart of the risk service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: TradingState = TradingState.ACTIVE
    killed: bool = False
    peak_equity: Decimal | None = None
    day: date | None = None
    day_start_equity: Decimal | None = None


@dataclass
class RiskEngine:
    """Pre-trade checks and breakers over risk's view of the account (positions, marks, equity)."""

    limits: RiskLimits
    state: TradingState = TradingState.ACTIVE
    killed: bool = False
    positions: dict[str, Decimal] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    open_orders: dict[str, Decimal] = field(default_factory=dict)  # working orders' signed quantity left, by symbol
    last_bar_at: dict[str, datetime] = field(default_factory=dict)
    bar_time: datetime | None = None  # the newest bar time seen, and the last symbol seen at it
    bar_symbol: str = ""
    previous_bar_time: datetime | None = None  # the bar time before it
    equity: Decimal | None = None
    cash: Decimal | None = None  # the last account snapshot's; None before the first
    peak_equity: Decimal | None = None
    day: date | None = None
    day_start_equity: Decimal | None = None
    reducing_causes: set[str] = field(default_factory=set)
    reducing_details: dict[str, str] = field(default_factory=dict)  # each reducing cause: its sentence
    events: list[RiskEvent] = field(default_factory=list)
    lot_sizes: dict[str, Decimal] = field(default_factory=dict)  # slices are whole lots of the symbol
    reductions: dict[str, Reduction] = field(default_factory=dict)  # sliced reductions under way, by symbol
    approved: dict[str, Decimal] = field(default_factory=dict)  # the last target approved within the limits
    _approvals: deque[datetime] = field(default_factory=deque)
    _outcomes: deque[bool] = field(default_factory=deque)

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> RiskState:
        return RiskState(
            state=self.state,
            killed=self.killed,
            peak_equity=self.peak_equity,
            day=self.day,
            day_start_equity=self.day_start_equity,
        )

    @classmethod
    def restore(cls, limits: RiskLimits, saved: RiskState) -> RiskEngine:
        return cls(
            limits=limits,
            state=saved.state,
            killed=saved.killed,
            peak_equity=saved.peak_equity,
            day=saved.day,
            day_start_equity=saved.day_start_equity,
        )

    # -- inputs --------------------------------------------------------------------------------

    def on_bar(self, symbol: str, ts: datetime, close: Decimal) -> None:
        """Record a bar: the symbol's mark and the freshness of its data."""
        self.marks[symbol] = close
        previous = self.last_bar_at.get(symbol)
        if previous is None or ts > previous:
            self.last_bar_at[symbol] = ts
        if self.bar_time is None or ts > self.bar_time:
            self.previous_bar_time, self.bar_time, self.bar_symbol = self.bar_time, ts, symbol
        elif ts == self.bar_time and symbol > self.bar_symbol:
            self.bar_symbol = symbol

    def on_fill(self, fill: Fill) -> None:
        """Move risk's view of the position and the working orders by a fill (a later account snapshot replaces it)."""
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        self.positions[fill.symbol] = self.positions.get(fill.symbol, ZERO) + signed
        working = self.open_orders.get(fill.symbol)
        if working is not None:
            left = working - signed
            if left == 0 or (left > 0) != (working > 0):
                del self.open_orders[fill.symbol]
            else:
                self.open_orders[fill.symbol] = left

    def on_account(self, snapshot: AccountSnapshot) -> None:
        """Take the executor's authoritative positions and equity; track the peak and the day's start."""
        self.positions = {position.symbol: position.quantity for position in snapshot.positions}
        self.open_orders = {order.symbol: order.quantity for order in snapshot.open_orders}
        for position in snapshot.positions:
            if position.market_price > 0:
                self.marks.setdefault(position.symbol, position.market_price)
        self.equity, self.cash = snapshot.equity, snapshot.cash
        if self.peak_equity is None or snapshot.equity > self.peak_equity:
            self.peak_equity = snapshot.equity
        today = snapshot.ts.date()
        if self.day != today:
            self.day, self.day_start_equity = today, snapshot.equity

    def on_order_outcome(self, rejected: bool) -> None:
        """Count a venue's answer to an order, for the reject-rate breaker."""
        self._outcomes.append(rejected)
        while len(self._outcomes) > self.limits.reject_window:
            self._outcomes.popleft()

    # -- operator control ----------------------------------------------------------------------

    def kill(self, now: datetime, reason: str) -> RiskEvent:
        """Engage the kill switch: HALTED until an operator resumes."""
        self.killed = True
        return self._move(now, TradingState.HALTED, "kill_switch", reason)

    def halt(self, now: datetime, reason: str, cause: str = "operator") -> RiskEvent:
        """Stop trading until an operator resumes; ``cause`` names why (an operator, or e.g. ``stream_gap``)."""
        return self._move(now, TradingState.HALTED, cause, reason)

    def resume(self, now: datetime, reason: str) -> RiskEvent:
        """Release the kill switch and any halt; drawdowns are measured afresh from here."""
        self.killed = False
        self.reducing_causes.clear()
        if self.equity is not None:
            self.peak_equity = self.day_start_equity = self.equity
        return self._move(now, TradingState.ACTIVE, "operator", reason)

    # -- breakers ------------------------------------------------------------------------------

    def evaluate(self, now: datetime) -> list[RiskEvent]:
        """Run every breaker; return the state changes they caused."""
        before = len(self.events)
        if self.state is not TradingState.HALTED:
            for breaker in (self._breaker_intraday_drawdown, self._breaker_drawdown):
                tripped = breaker()
                if tripped:
                    self._move(now, TradingState.HALTED, *tripped)
                    break
        causes: dict[str, str] = {}
        for reducer in (self._breaker_limit_breach, self._breaker_reject_rate, self._breaker_stale_data):
            found = reducer(now)
            if found:
                causes[found[0]] = found[1]
        breached = "limit_breach" in causes and "limit_breach" not in self.reducing_causes
        self.reducing_causes, self.reducing_details = set(causes), causes
        if self.state is TradingState.ACTIVE and causes:
            cause, detail = next(iter(causes.items()))
            self._move(now, TradingState.REDUCING, cause, detail)
        elif self.state is TradingState.REDUCING and breached:  # already reducing: the breach is still raised
            self._move(now, TradingState.REDUCING, "limit_breach", causes["limit_breach"])
        elif self.state is TradingState.REDUCING and not causes and self.limits.recover_automatically:
            self._move(now, TradingState.ACTIVE, "recovered", "every breaker that reduced trading has cleared")
        return self.events[before:]

    def _breaker_intraday_drawdown(self) -> tuple[str, str] | None:
        return _fall(
            "intraday_drawdown",
            "the day's start",
            self.day_start_equity,
            self.equity,
            self.limits.max_intraday_drawdown,
        )

    def _breaker_drawdown(self) -> tuple[str, str] | None:
        return _fall("drawdown", "its peak", self.peak_equity, self.equity, self.limits.max_drawdown)

    def _breaker_limit_breach(self, now: datetime) -> tuple[str, str] | None:
        """A position over its limit, or gross exposure over its limit, that risk never approved."""
        unapproved = sorted(
            symbol
            for symbol, quantity in self.positions.items()
            if quantity != 0 and not self._reduces(self.approved.get(symbol, ZERO), quantity)
        )
        if not unapproved:
            return None
        found = []
        limit = self.limits.max_position_notional
        for symbol in unapproved:
            quantity, mark = self.positions[symbol], self.marks.get(symbol, ZERO)
            if limit is not None and abs(quantity) * mark > limit:
                found.append(
                    f"position {quantity} of {symbol} is worth {abs(quantity) * mark} at {mark}, above "
                    f"max_position_notional {limit}"
                )
        gross = sum((abs(quantity) * self.marks.get(symbol, ZERO) for symbol, quantity in self.positions.items()), ZERO)
        if self.limits.max_gross_exposure is not None and gross > self.limits.max_gross_exposure:
            found.append(f"gross exposure {gross} is above max_gross_exposure {self.limits.max_gross_exposure}")
        if not found:
            return None
        return "limit_breach", "; ".join(found) + f" (not approved by risk: {', '.join(unapproved)})"

    def _breaker_reject_rate(self, now: datetime) -> tuple[str, str] | None:
        limit = self.limits.max_reject_rate
        if limit is None or len(self._outcomes) < self.limits.reject_window:
            return None
        rate = Decimal(sum(self._outcomes)) / len(self._outcomes)
        return (
            ("reject_rate", f"{rate:.0%} of the last {len(self._outcomes)} orders were rejected (limit {limit:.0%})")
            if rate >= limit
            else None
        )

    def _breaker_stale_data(self, now: datetime) -> tuple[str, str] | None:
        stale = self.stale_symbols(now)
        return ("stale_data", f"no fresh bar for {', '.join(sorted(stale))}") if stale else None

    def stale_symbols(self, now: datetime) -> set[str]:
        """Symbols whose last bar is older than ``stale_after_seconds``.

        On the data's clock (``now`` is the newest bar's time) bars come in the canonical order, time
        then symbol: a symbol after the newest bar's has not had its turn at that time yet, so it is
        measured against the bar time before. At the first bar after a gap every symbol shares (a
        night, a weekend) the others' gap is the market's, not theirs.
        """
        after = self.limits.stale_after_seconds
        if after is None:
            return set()
        limit = timedelta(seconds=after)
        if self.bar_time is None or self.previous_bar_time is None or now > self.bar_time:
            return {symbol for symbol, seen in self.last_bar_at.items() if now - seen > limit}
        current, previous, turn = self.bar_time, self.previous_bar_time, self.bar_symbol
        return {
            symbol
            for symbol, seen in self.last_bar_at.items()
            if (current if symbol <= turn else previous) - seen > limit
        }

    def _move(self, now: datetime, state: TradingState, cause: str, detail: str) -> RiskEvent:
        self.state = state
        if state is TradingState.HALTED:
            self.reductions.clear()  # a halt stops a sliced reduction too; after a resume a new intent restarts it
        event = RiskEvent(now, state, cause, detail)
        self.events.append(event)
        return event

    # -- pre-trade checks ----------------------------------------------------------------------

    def check(self, intent: OrderIntent, now: datetime) -> RiskDecision:
        """Decide on one intent; an approval is counted against the order rate.

        A newer intent replaces a sliced reduction of its symbol under way; a reduction worth more than
        the per-order limit is approved as its first slice.
        """
        self.reductions.pop(intent.symbol, None)
        position = self.positions.get(intent.symbol, ZERO)
        order = intent.target_quantity - position
        passed: list[str] = []
        checks: tuple[tuple[str, Callable[[OrderIntent, Decimal, Decimal, datetime], Verdict]], ...] = (
            ("kill_switch", self._check_kill_switch),
            ("trading_state", self._check_trading_state),
            ("symbol_allowed", self._check_symbol),
            ("fresh_data", self._check_stale_data),
            ("max_order_notional", self._check_order_notional),
            ("max_position", self._check_position),
            ("max_gross_exposure", self._check_gross_exposure),
            ("max_net_exposure", self._check_net_exposure),
            ("buying_power", self._check_buying_power),
            ("order_rate", self._check_order_rate),
        )
        for name, rule in checks:
            denied = rule(intent, position, order, now)
            if denied is not None:
                return RiskDecision(False, denied[0], denied[1], tuple(passed), order)
            passed.append(name)
        self._approvals.append(now)
        target, number = intent.target_quantity, None
        limit = self.limits.max_order_notional
        if limit is not None and abs(order) * intent.reference_price > limit:  # only a reduction gets here
            target = self._slice(intent.symbol, position, intent.target_quantity, intent.reference_price)
            self.reductions[intent.symbol] = Reduction(intent, 1, target)
            number = 1
        self._note_approved(intent.symbol, target, intent.reference_price)
        return RiskDecision(True, None, "", tuple(passed), target - position, target, number)

    def next_slices(self, now: datetime) -> list[Slice]:
        """Approve the next slice of every sliced reduction whose last slice the account now shows as held.

        A reduction ends when its target is held or the position moved away from it (it no longer
        reduces); one that would break the order rate waits for a later account.
        """
        found = []
        for symbol in sorted(self.reductions):
            reduction = self.reductions[symbol]
            position = self.positions.get(symbol, ZERO)
            goal = reduction.intent.target_quantity
            if position == goal or not self._reduces(position, goal):
                del self.reductions[symbol]
                continue
            if not self._reduces(reduction.slice_target, position):
                continue  # the last slice is still working (or partly filled)
            if self.state is TradingState.HALTED or self.killed:
                continue
            rate = self._check_order_rate(reduction.intent, position, goal - position, now)
            if rate is not None:
                continue
            price = self.marks.get(symbol) or reduction.intent.reference_price
            target = self._slice(symbol, position, goal, price)
            reduction.slices, reduction.slice_target = reduction.slices + 1, target
            self._approvals.append(now)
            self._note_approved(symbol, target, price)
            checks = ("kill_switch", "trading_state", "max_order_notional", "order_rate")
            found.append(Slice(reduction.intent, reduction.slices, target, price, checks))
        return found

    def _slice(self, symbol: str, position: Decimal, goal: Decimal, price: Decimal) -> Decimal:
        """The target one slice closer to ``goal``: at most the per-order limit's worth of lots, one lot at least."""
        limit = self.limits.max_order_notional
        remaining = abs(position - goal)
        if limit is None:
            return goal
        lot = self.lot_sizes.get(symbol, Decimal(1))  # a symbol the catalog does not list trades whole lots
        step = max(quantize_quantity(limit / price, lot), lot)
        if step >= remaining:
            return goal
        return position - step if position > 0 else position + step

    def _note_approved(self, symbol: str, target: Decimal, price: Decimal) -> None:
        """Remember a target approved within the per-position limit: a position up to it is not a breach."""
        limit = self.limits.max_position_notional
        if limit is None or abs(target) * price <= limit:
            self.approved[symbol] = target

    @staticmethod
    def _reduces(position: Decimal, target: Decimal) -> bool:
        return abs(target) <= abs(position) and (target == 0 or (target > 0) == (position > 0))

    def _check_kill_switch(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        return (
            (DenialReason.KILL_SWITCH, "the kill switch is engaged; an operator must resume") if self.killed else None
        )

    def _check_trading_state(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        if self.state is TradingState.HALTED:
            last = self.events[-1].detail if self.events else "halted"
            return DenialReason.TRADING_HALTED, f"trading is halted ({last})"
        if self.state is TradingState.REDUCING and not self._reduces(position, intent.target_quantity):
            causes = ", ".join(sorted(self.reducing_causes)) or "policy"
            return DenialReason.REDUCING_ONLY, (
                f"trading is reducing ({causes}); target {intent.target_quantity} would not shrink position {position}"
            )
        return None

    def _check_symbol(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        allowed = self.limits.allowed_symbols
        if allowed is not None and intent.symbol not in allowed:
            return DenialReason.SYMBOL_NOT_ALLOWED, f"{intent.symbol} is not among the allowed symbols"
        return None

    def _check_stale_data(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        if intent.symbol in self.stale_symbols(now) and not self._reduces(position, intent.target_quantity):
            seen, after = self.last_bar_at[intent.symbol].isoformat(), self.limits.stale_after_seconds
            return DenialReason.STALE_DATA, f"last bar of {intent.symbol} is from {seen}, older than {after:g}s"
        return None

    def _check_order_notional(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        limit = self.limits.max_order_notional
        notional = abs(order) * intent.reference_price
        if limit is not None and notional > limit and not self._reduces(position, intent.target_quantity):
            return DenialReason.MAX_ORDER_NOTIONAL, f"order notional {notional} exceeds {limit}"
        return None

    def _check_position(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        limit = self.limits.max_position_notional
        notional = abs(intent.target_quantity) * intent.reference_price
        if limit is not None and notional > limit and not self._reduces(position, intent.target_quantity):
            return DenialReason.MAX_POSITION, f"position notional {notional} of {intent.symbol} would exceed {limit}"
        return None

    def _exposures(self, intent: OrderIntent) -> tuple[Decimal, Decimal]:
        """Gross and net exposure once ``intent`` holds its target, counting what other symbols' working orders add.

        An order approved for one symbol still works until its next bar fills it: an intent for another
        symbol decided in between must see it, or two entries on one bar together pass a limit each
        passes alone. Gross takes the larger of each symbol's position now and once its orders fill; the
        intent's own symbol is at its target (its working orders are replaced).
        """
        gross = net = ZERO
        for symbol in sorted({*self.positions, *self.open_orders, intent.symbol}):
            if symbol == intent.symbol:
                price, held = intent.reference_price, intent.target_quantity
                after = held
            else:
                price, held = self.marks.get(symbol, ZERO), self.positions.get(symbol, ZERO)
                after = held + self.open_orders.get(symbol, ZERO)
            gross += max(abs(held), abs(after)) * price
            net += after * price
        return gross, net

    def _check_gross_exposure(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        limit = self.limits.max_gross_exposure
        if limit is None or self._reduces(position, intent.target_quantity):
            return None
        gross, _ = self._exposures(intent)
        return (
            (DenialReason.MAX_GROSS_EXPOSURE, f"gross exposure {gross} would exceed {limit}") if gross > limit else None
        )

    def _check_net_exposure(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        limit = self.limits.max_net_exposure
        if limit is None or self._reduces(position, intent.target_quantity):
            return None
        _, net = self._exposures(intent)
        return (DenialReason.MAX_NET_EXPOSURE, f"net exposure {net} would exceed {limit}") if abs(net) > limit else None

    def _check_buying_power(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        tolerance, cash = self.limits.buying_power_tolerance, self.cash
        # before the first account snapshot risk does not know the cash: the fill's own cash rule still holds
        if tolerance is None or cash is None or order <= 0 or self._reduces(position, intent.target_quantity):
            return None
        cost = order * intent.reference_price
        # cash that other symbols' working buys will take when they fill is not there to spend again
        committed = sum(
            (quantity * self.marks.get(symbol, ZERO) for symbol, quantity in sorted(self.open_orders.items())
             if quantity > 0 and symbol != intent.symbol),
            ZERO,
        )  # fmt: skip
        cash -= committed
        allowed = cash * (1 + tolerance)
        if cost <= allowed:
            return None
        held = f"the cash {cash} left after working buys of {committed}" if committed else f"the cash {cash}"
        return DenialReason.INSUFFICIENT_CASH, (
            f"buying {order} {intent.symbol} at {intent.reference_price} costs {cost}, more than {held} "
            f"with the buying_power_tolerance of {tolerance:%} allows ({allowed})"
        )

    def _check_order_rate(self, intent: OrderIntent, position: Decimal, order: Decimal, now: datetime) -> Verdict:
        limit = self.limits.max_orders_per_minute
        while self._approvals and now - self._approvals[0] >= RATE_WINDOW:
            self._approvals.popleft()
        if limit is not None and len(self._approvals) >= limit:
            return DenialReason.ORDER_RATE, f"{len(self._approvals)} orders approved in the last minute (limit {limit})"
        return None


def _fall(
    cause: str, reference_name: str, reference: Decimal | None, equity: Decimal | None, limit: Decimal | None
) -> tuple[str, str] | None:
    """Trip when equity has fallen ``limit`` (a fraction) or more below ``reference``."""
    if limit is None or reference is None or equity is None or reference <= 0:
        return None
    fall = 1 - equity / reference
    if fall < limit:
        return None
    return cause, f"equity {equity} is {fall:.2%} below {reference_name} {reference} (limit {limit:.2%})"
