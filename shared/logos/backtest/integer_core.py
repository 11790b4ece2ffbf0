"""The backtest's exact integer core: the decision loop of an unsplit backtest in ticks, lots and quanta.

It reproduces, decision by decision, what the Decimal loop of :mod:`logos.backtest.engine` computes
through the translator, the fill model and the FIFO ledger, with Python ints only: prices are whole
ticks, quantities whole lots, cash a whole number of one money quantum (the finest exponent the
ledger's cash ever takes: the starting cash's, a lot times a tick's, or the fee's 1e-8), fees whole
1e-8s rounded up as charged, FIFO lots small lists. The objects the rest of the code reads
(executions, round trips, the ledger) are built once at the end, with the exact Decimal values and
exponents the Decimal loop gives them.

Two things the Decimal loop computes are not exact, and the core reproduces them:

- the translator divides a budget by a price at the context's precision before flooring the order
  to the lot; the core computes the exact quotient and gives up (:class:`Unrepresentable`) when it
  lies so close to a lot boundary that the rounded quotient could floor differently;
- the ledger splits a lot's fee pro rata on a partial close; the core does that division with the
  context's rounding, digit for digit (:func:`divide`, :func:`add`).

Whatever the core cannot represent exactly (volatility sizing, slippage jitter, a lot that is not
one power of ten, a non-default Decimal context, values beyond the context's precision) makes
:func:`integer_core` return None, or :meth:`IntegerCore.run` raise :class:`Unrepresentable`; the
engine then runs the Decimal loop, which stays the reference.
"""

from __future__ import annotations

import decimal
import math
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice, repeat
from operator import mul, truediv
from typing import Any

import numpy as np

from logos.contracts import Side
from logos.execution.fill_model import BPS, INSUFFICIENT_CASH, FillModelConfig
from logos.execution.ledger import ClosedLot, Execution, FifoLedger, Lot, OpenLot
from logos.orders.sizing import EquityFraction, FixedNotional, SizingRule
from logos.orders.translator import Caps, Refusal
from logos.symbols import SymbolSpec

CUT_TO_CASH = "cut_to_cash"  # a buy the cash paid for only part of: the rest was canceled
PROGRESS_EVERY = 1000  # decisions between progress reports
FEE_EXPONENT = -8  # fees are charged in whole 1e-8s of the quote (FEE_QUANTUM)
BELOW_MIN_QUANTITY: str = Refusal.BELOW_MIN_QUANTITY.value
BELOW_MIN_NOTIONAL: str = Refusal.BELOW_MIN_NOTIONAL.value
ZERO = Decimal(0)
_new = tuple.__new__
_FLOAT_EXACT = 2**53  # ints below this convert to float exactly

Coefficient = tuple[int, int]  # a Decimal value as (signed coefficient, exponent)
# how one target exposure sizes: budget multiplier, price scale, the bound below which the budget is exact, and
# the position and order caps, all on one scale
Weight = tuple[int, int, int, int | None, int | None]

# an execution in the integer loop's flat record list
EXECUTION_FIELDS = ("buying", "size", "price", "fee", "realized", "position", "cash", "fill_bar")

__all__ = [
    "CUT_TO_CASH",
    "IntegerCore",
    "IntegerRun",
    "Unrepresentable",
    "add",
    "divide",
    "integer_core",
    "multiply",
    "share",
]


class Unrepresentable(Exception):
    """The run left what the integer core reproduces exactly; the Decimal loop must run it instead."""


# --- the Decimal context's arithmetic on (coefficient, exponent) pairs, as the ledger's fee split uses it ----------


def _rounded(coefficient: int, exponent: int, precision: int) -> Coefficient:
    """Round to ``precision`` significant digits, half to even (the default context's ``_fix``)."""
    size = abs(coefficient)
    if size < 10**precision:
        return coefficient, exponent
    excess = len(str(size)) - precision
    kept, dropped = divmod(size, 10**excess)
    half = 5 * 10 ** (excess - 1)
    if dropped > half or (dropped == half and kept & 1):
        kept += 1
        if kept == 10**precision:  # rounded up to one digit more
            kept //= 10
            excess += 1
    return (kept if coefficient > 0 else -kept), exponent + excess


def multiply(left: Coefficient, right: Coefficient, precision: int) -> Coefficient:
    """``left * right`` as the Decimal context computes it."""
    return _rounded(left[0] * right[0], left[1] + right[1], precision)


def add(left: Coefficient, right: Coefficient, precision: int) -> Coefficient:
    """``left + right`` as the Decimal context computes it (the sign of a zero result aside)."""
    exponent = min(left[1], right[1])
    total = left[0] * 10 ** (left[1] - exponent) + right[0] * 10 ** (right[1] - exponent)
    return _rounded(total, exponent, precision)


def divide(dividend: Coefficient, divisor: Coefficient, precision: int) -> Coefficient:
    """``dividend / divisor`` as the Decimal context computes it (the reference implementation's algorithm)."""
    ideal = dividend[1] - divisor[1]
    if dividend[0] == 0:
        return 0, ideal
    top, bottom = abs(dividend[0]), abs(divisor[0])
    shift = len(str(bottom)) - len(str(top)) + precision + 1
    exponent = ideal - shift
    if shift >= 0:
        quotient, remainder = divmod(top * 10**shift, bottom)
    else:
        quotient, remainder = divmod(top, bottom * 10**-shift)
    if remainder:
        if quotient % 5 == 0:  # a sticky digit: an inexact quotient never rounds as an exact half
            quotient += 1
    else:  # exact: as close to the ideal exponent as the trailing zeros allow
        while exponent < ideal and quotient % 10 == 0:
            quotient //= 10
            exponent += 1
    negative = (dividend[0] < 0) != (divisor[0] < 0)
    return _rounded(-quotient if negative else quotient, exponent, precision)


def share(fee: Coefficient, part: int, whole: int, exponent: int, precision: int) -> Coefficient:
    """``fee * part / whole`` for quantities of ``part`` and ``whole`` lots of 10**exponent (the ledger's pro rata)."""
    return divide(multiply(fee, (part, exponent), precision), (whole, exponent), precision)


def _split(value: Decimal) -> Coefficient:
    exponent = int(value.as_tuple().exponent)
    return int(value.scaleb(-exponent)), exponent


def _ceiling(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


# --- the core --------------------------------------------------------------------------------------------------------


class IntegerRun:
    """What the integer loop produced: the numbers the curves and metrics read now, the ledger when asked."""

    def __init__(
        self,
        core: IntegerCore,
        refusals: dict[str, int],
        fill_bars: list[int],
        positions: np.ndarray,
        cash: np.ndarray,
        traded_notional: float,
        net_pnl: np.ndarray,
        fees: int = 0,
    ) -> None:
        self.core, self.refusals, self.fill_bars = core, refusals, fill_bars
        self.positions, self.cash = positions, cash  # per execution, as floats
        self.traded_notional = traded_notional
        self.net_pnl = net_pnl  # per closed lot, as floats
        self.fees_paid = _FEE_UNIT * fees if fill_bars else FifoLedger(cash=core.cash0).fees_paid
        self.open_lots: list[Lot] = []
        self._records: tuple[list[list[Any]], list[tuple[Any, ...]], np.ndarray] | None = None
        self._ledger: FifoLedger | None = None

    def keep(
        self, columns: list[list[Any]], closed: list[tuple[Any, ...]], open_lots: list[Lot], nanoseconds: np.ndarray
    ) -> None:
        """Hold the loop's records (and the open lots) until the ledger is asked for."""
        self._records, self.open_lots = (columns, closed, nanoseconds), open_lots

    def ledger(self) -> FifoLedger:
        """The ledger the Decimal loop would have left, built from the records the first time it is asked for."""
        if self._ledger is None:
            if self._records is None:
                self._ledger = FifoLedger(cash=self.core.cash0)
            else:
                columns, closed, nanoseconds = self._records
                self._ledger = self.core.build_ledger(columns, closed, self.open_lots, nanoseconds)
                self._records = None  # the ledger holds it all now
        return self._ledger

    def open_trips(self, mark: Decimal) -> list[OpenLot]:
        """The open lots marked at ``mark``, as the ledger's ``open_lots`` gives them (without building it)."""
        holding = FifoLedger(cash=self.core.cash0)
        if self.open_lots:
            holding.lots[self.core.spec.symbol] = deque(self.open_lots)
        return holding.open_lots({self.core.spec.symbol: mark})


class IntegerCore:
    """One symbol's unsplit decision loop in ints; build it with :func:`integer_core`."""

    def __init__(self, spec: SymbolSpec, cash: Decimal, fills: FillModelConfig, sizing: SizingRule, caps: Caps) -> None:
        context = decimal.getcontext()
        self.precision = precision = context.prec
        self.limit = 10**precision  # a coefficient below this is exact in the context
        self.guard = 10 ** (precision - 3)  # how far from a lot boundary a rounded quotient must stay, relatively
        self.spec, self.cash0 = spec, cash
        self.tick_coefficient, self.tick_exponent = _split(spec.tick_size)
        self.lot_exponent = int(spec.lot_size.as_tuple().exponent)
        tick, lot = self.tick_exponent, self.lot_exponent
        cash_coefficient, cash_exponent = _split(cash)
        # the ledger's cash takes the finest exponent of the starting cash, a notional and a fee
        self.money_exponent = money = min(cash_exponent, lot + tick, FEE_EXPONENT)
        self.start_cash = cash_coefficient * 10 ** (cash_exponent - money)
        self.notional_per_unit = self.tick_coefficient * 10 ** (lot + tick - money)  # money quanta per lot x tick
        self.fee_to_money = 10 ** (FEE_EXPONENT - money)
        rate_coefficient, rate_exponent = _split(fills.taker_fee_bps * BPS)
        shift = lot + tick + rate_exponent - FEE_EXPONENT
        self.fee_numerator = self.tick_coefficient * rate_coefficient * 10 ** max(shift, 0)
        self.fee_denominator = 10 ** max(-shift, 0)
        self.per_lot_digits = 10**-rate_exponent + rate_coefficient  # the coefficient of 1 + rate
        # a lot's notional and unrounded fee per tick of price, in money quanta x the fee's denominator
        self.lot_cost = self.notional_per_unit * self.fee_denominator + self.fee_numerator * self.fee_to_money
        self.rate_coefficient = rate_coefficient
        slippage_coefficient, slippage_exponent = _split(fills.slippage_bps * BPS)
        self.slips = slippage_coefficient != 0
        self.slip_denominator = 10 ** max(-slippage_exponent, 0)
        self.slip_up = self.slip_denominator + slippage_coefficient * 10 ** max(slippage_exponent, 0)
        self.slip_down = self.slip_denominator - slippage_coefficient * 10 ** max(slippage_exponent, 0)
        self.min_lots = self._whole_above(spec.min_quantity, lot)
        self.min_notional = self._whole_above(spec.min_notional, money)
        self.max_lots: Coefficient | None = None
        if spec.max_quantity is not None:
            coefficient, exponent = _split(spec.max_quantity)
            self.max_lots = (coefficient * 10 ** max(exponent - lot, 0), 10 ** max(lot - exponent, 0))
        self.sizing = sizing
        self.equity_sized = isinstance(sizing, EquityFraction)
        self.budget = _split(sizing.fraction if isinstance(sizing, EquityFraction) else sizing.notional)  # type: ignore[union-attr]
        self.position_cap = None if caps.max_position_notional is None else _split(caps.max_position_notional)
        self.order_cap = None if caps.max_order_notional is None else _split(caps.max_order_notional)
        self.capped = self.position_cap is not None or self.order_cap is not None or self.max_lots is not None
        self.weights: dict[float, Weight] = {}

    @staticmethod
    def _whole_above(value: Decimal, exponent: int) -> int:
        """The fewest whole units of 10**exponent that are not below ``value``."""
        coefficient, own = _split(value)
        if own >= exponent:
            return int(coefficient * 10 ** (own - exponent))
        return _ceiling(coefficient, 10 ** (exponent - own))

    def weight(self, exposure: float) -> Weight:
        """How a target exposure sizes: budget multiplier, price scale, exactness bound, caps (one common scale)."""
        weight_coefficient, weight_exponent = _split(Decimal(repr(exposure)))
        coefficient, exponent = self.budget
        if self.equity_sized:  # equity (in money quanta) x fraction x weight
            multiplier, exponent = coefficient * weight_coefficient, self.money_exponent + exponent + weight_exponent
            exact_below = (self.limit - 1) // abs(multiplier) + 1  # an equity below this sizes without rounding
        else:  # notional x weight
            multiplier, exponent = coefficient * weight_coefficient, exponent + weight_exponent
            exact_below = 1 if abs(multiplier) < self.limit else 0
        caps = [cap for cap in (self.position_cap, self.order_cap) if cap is not None]
        scale = min(exponent, self.tick_exponent + self.lot_exponent, *(cap[1] for cap in caps))
        price_scale = self.tick_coefficient * 10 ** (self.tick_exponent + self.lot_exponent - scale)
        position_cap = order_cap = None
        if self.position_cap is not None:
            position_cap = self.position_cap[0] * 10 ** (self.position_cap[1] - scale)
        if self.order_cap is not None:
            order_cap = self.order_cap[0] * 10 ** (self.order_cap[1] - scale)
        entry = (multiplier * 10 ** (exponent - scale), price_scale, exact_below, position_cap, order_cap)
        self.weights[exposure] = entry
        return entry

    def check_prices(
        self, close_ticks: Sequence[int], reference_ticks: Sequence[int], exposures: Sequence[float]
    ) -> None:
        """Refuse bars the core does not reproduce: non-positive prices, non-finite targets, oversized ticks."""
        if not close_ticks:
            return
        if min(close_ticks) <= 0 or min(reference_ticks) <= 0 or not all(map(math.isfinite, exposures)):
            raise Unrepresentable("a non-positive price or a non-finite target")
        highest = max(max(close_ticks), max(reference_ticks))
        if self.slips:
            if highest * self.tick_coefficient * self.slip_up >= self.limit:
                raise Unrepresentable("a slipped price beyond the context's precision")
            highest = _ceiling(highest * self.slip_up, self.slip_denominator)
        if highest * self.tick_coefficient * self.per_lot_digits >= self.limit:
            raise Unrepresentable("a price beyond the context's precision")

    def order(self, multiplier: int, denominator: int, position: int, weight: Weight, exact: bool) -> int:
        """The capped order in lots (a target of ``multiplier / denominator`` lots before the caps).

        Raises :class:`Unrepresentable` when the Decimal translator could round to another order.
        """
        position_cap, order_cap = weight[3], weight[4]
        budget = multiplier
        if position_cap is not None:
            self._apart(budget, position_cap)
            self._apart(budget, -position_cap)
            budget = max(min(budget, position_cap), -position_cap)
        target, target_denominator = budget, denominator
        if self.max_lots is not None:
            most, most_denominator = self.max_lots
            scaled = budget * most_denominator
            self._apart(scaled, most * denominator)
            self._apart(scaled, -most * denominator)
            if scaled > most * denominator:
                target, target_denominator = most, most_denominator
            elif scaled < -most * denominator:
                target, target_denominator = -most, most_denominator
        delta, delta_denominator = target - position * target_denominator, target_denominator
        if order_cap is not None:
            notional, cap = abs(delta) * denominator, order_cap * delta_denominator
            self._apart(notional, cap)
            if notional > cap:
                delta, delta_denominator = (order_cap if delta > 0 else -order_cap), denominator
        size = abs(budget) + (abs(position) + 1) * denominator  # |target| + |position| + 1 lots, x denominator
        order = self._floored(delta, delta_denominator, size * delta_denominator, denominator)
        if order and not exact and delta % delta_denominator == 0:
            raise Unrepresentable("a budget beyond the context's precision")
        return order

    def _near_lot(self, budget: int, position: int, denominator: int, remainder: int) -> None:
        nearest = min(remainder, denominator - remainder)
        if nearest * self.guard <= abs(budget) + (abs(position) + 1) * denominator:
            raise Unrepresentable("a rounded quotient within the context's precision of a lot boundary")

    def _apart(self, value: int, bound: int) -> None:
        # a rounded comparison could go the other way this close to the bound
        if value != bound and abs(value - bound) * self.guard <= abs(bound):
            raise Unrepresentable("a sizing value within the context's rounding of a cap")

    def _floored(self, numerator: int, denominator: int, magnitude: int, scale: int) -> int:
        """Truncate ``numerator / denominator`` lots toward zero; refuse when rounding could have crossed the lot."""
        whole, remainder = divmod(abs(numerator), denominator)
        if remainder and min(remainder, denominator - remainder) * self.guard * scale <= magnitude:
            raise Unrepresentable("a rounded quotient within the context's precision of a lot boundary")
        return whole if numerator >= 0 else -whole

    def affordable(self, size: int, price: int, cash: int) -> int:
        """The most lots up to ``size`` whose notional and rounded-up fee ``cash`` pays, or 0 (the cash rule)."""
        if cash <= 0:
            return 0
        unit, fee_unit = price * self.notional_per_unit, price * self.fee_numerator
        denominator, to_money = self.fee_denominator, self.fee_to_money
        per_lot = price * self.lot_cost  # a lot's cost times the fee denominator, before rounding
        high = cash * denominator // per_lot
        if high > size:
            high = size
        if high * unit - (-high * fee_unit // denominator) * to_money <= cash:
            low = high  # the usual case: the fee's rounding did not cost the last lot
        else:
            low = max(min((cash - to_money) * denominator // per_lot, high - 1), 0)  # rounding costs under a quantum
            high -= 1
            while low < high:  # the largest affordable count; low is always affordable
                middle = (low + high + 1) // 2
                if middle * unit + _ceiling(middle * fee_unit, denominator) * to_money <= cash:
                    low = middle
                else:
                    high = middle - 1
        if low <= 0 or low < self.min_lots or low * unit < self.min_notional:
            return 0
        return int(low)

    def run(
        self,
        decisions: Sequence[int],
        exposures: Sequence[float],
        close_ticks: Sequence[int],
        fill_bars: Sequence[int],
        reference_ticks: Sequence[int],
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Any], list[tuple[Any, ...]], list[list[Any]], dict[str, int]]:
        """Translate, fill and book every decision; return executions, closed lots, open lots and refusals as ints.

        Executions come flat, :data:`EXECUTION_FIELDS` values each. A closed lot's PnL is None when it
        is its execution's realized PnL, its fees None when they are the entry and exit fills' fees.
        An open lot's fee is the opening fill's (an int) or a split (a coefficient pair).
        """
        self.check_prices(close_ticks, reference_ticks, exposures)
        refusals: dict[str, int] = {}
        records: list[Any] = []
        closed: list[tuple[Any, ...]] = []
        lots: deque[list[Any]] = deque()
        cash, position, index = self.start_cash, 0, 0
        money, to_money = self.notional_per_unit, self.fee_to_money
        fee_numerator, fee_denominator = self.fee_numerator, self.fee_denominator
        # a notional is a Decimal of exponent lot + tick: it and its fee product (x the rate) are exact below the
        # context's limit; in money quanta that is this bound
        notional_limit = ((self.limit - 1) // max(self.rate_coefficient, 1) + 1) * (money // self.tick_coefficient)
        weights, weight_of, affordable_lots = self.weights, self.weight, self.affordable
        equity_sized, capped, min_lots, min_notional = self.equity_sized, self.capped, self.min_lots, self.min_notional
        guard, slips, slip_up, slip_down = self.guard, self.slips, self.slip_up, self.slip_down
        slip_denominator, close, extend = self.slip_denominator, self._close, records.extend
        rows = zip(exposures, close_ticks, fill_bars, reference_ticks, strict=True)
        for start in range(0, len(decisions), PROGRESS_EVERY):
            if progress is not None:
                progress(decisions[start])
            for exposure, close_tick, fill_bar, reference in islice(rows, PROGRESS_EVERY):
                if exposure == 0:
                    if position == 0:
                        continue  # nothing to close: the entry it ends was never filled
                    order = -position  # flattening closes the whole position, minimums or not
                else:
                    multiplier, scale, exact_below, _, _ = weight = weights.get(exposure) or weight_of(exposure)
                    if equity_sized:
                        equity = cash + position * close_tick * money
                        budget = equity * multiplier if equity > 0 else 0
                        exact = equity < exact_below
                    else:
                        budget, exact = multiplier, exact_below != 0
                    denominator = close_tick * scale
                    if capped:
                        order = self.order(budget, denominator, position, weight, exact)
                    else:
                        delta = budget - position * denominator
                        magnitude = delta if delta >= 0 else -delta
                        order, remainder = divmod(magnitude, denominator)
                        if delta < 0:
                            order = -order
                        if remainder:
                            # the Decimal quotient is rounded: it floors the same way unless this close to a lot;
                            # |budget| + (|position| + 1) x denominator is at most 2 |budget| + |delta| + denominator
                            if (
                                budget + budget if budget >= 0 else -budget - budget
                            ) + magnitude + denominator >= guard:
                                self._near_lot(budget, position, denominator, remainder)
                        elif order and not exact:
                            raise Unrepresentable("a budget beyond the context's precision")
                    if order == 0:
                        continue  # no_change: not counted
                    size = order if order > 0 else -order
                    if size < min_lots:
                        refusals[BELOW_MIN_QUANTITY] = refusals.get(BELOW_MIN_QUANTITY, 0) + 1
                        continue
                    if min_notional:
                        notional = size * close_tick * money
                        if notional >= notional_limit:
                            raise Unrepresentable("a notional beyond the context's precision")
                        if notional < min_notional:
                            refusals[BELOW_MIN_NOTIONAL] = refusals.get(BELOW_MIN_NOTIONAL, 0) + 1
                            continue
                buying = order > 0
                size = order if buying else -order
                price = reference
                if slips:  # adverse, and rounded to the tick against the trader
                    if buying:
                        price = -(-reference * slip_up // slip_denominator)
                    else:
                        price = reference * slip_down // slip_denominator
                        if not price:  # the ledger refuses a fill at 0: the Decimal loop raises that
                            raise Unrepresentable("slippage takes a sell below one tick")
                notional = size * price * money
                if notional >= notional_limit:
                    raise Unrepresentable("a notional beyond the context's precision")
                fee = -(-size * price * fee_numerator // fee_denominator)
                if buying and notional + fee * to_money > cash:
                    # a buy never spends more than the cash: cut to the lots it pays for, or refused
                    size = affordable_lots(size, price, cash)
                    if not size:
                        refusals[INSUFFICIENT_CASH] = refusals.get(INSUFFICIENT_CASH, 0) + 1
                        continue
                    refusals[CUT_TO_CASH] = refusals.get(CUT_TO_CASH, 0) + 1
                    notional = size * price * money
                    fee = -(-size * price * fee_numerator // fee_denominator)
                if buying:
                    cash -= notional + fee * to_money
                    signed = size
                else:
                    cash += notional - fee * to_money
                    signed = -size
                realized = None
                if not lots or (lots[0][0] > 0) is buying:
                    lots.append([signed, price, index, fee])  # the whole fill opens a lot
                elif len(lots) == 1 and lots[0][0] == -signed:  # it closes the one lot whole (the usual exit)
                    held, entry, opened, entry_fee = lots.pop()
                    realized = (price - entry) * held
                    fees = None if entry_fee.__class__ is int else add(entry_fee, (fee, FEE_EXPONENT), self.precision)
                    # the lot's PnL is the execution's, but for a short closed flat: 0 x size x -1 is -0 there
                    pnl = 0 if buying and not realized else None
                    closed.append((buying, size, entry, price, opened, index, pnl, fees))
                else:
                    realized = close(lots, closed, buying, size, price, fee, index)
                position += signed
                extend((buying, size, price, fee, realized, position, cash, fill_bar))
                index += 1
        return records, closed, list(lots), refusals

    def _close(
        self,
        lots: deque[list[Any]],
        closed: list[tuple[Any, ...]],
        buying: bool,
        size: int,
        price: int,
        fee: int,
        index: int,
    ) -> int:
        """Close opposite lots first-in first-out, open what is left; return the realized PnL (ticks x lots)."""
        precision, exponent = self.precision, self.lot_exponent
        fill_fee = (fee, FEE_EXPONENT)
        remaining, realized = size, 0
        direction = -1 if buying else 1
        while remaining > 0 and lots:
            lot = lots[0]
            held = abs(lot[0])
            part = remaining if remaining < held else held
            pnl = (price - lot[1]) * part * direction
            lot_fee = lot[3] if lot[3].__class__ is tuple else (lot[3], FEE_EXPONENT)
            # the ledger's pro-rata split: fee x part / whole, at the context's precision
            entry_fee = lot_fee if part == held else share(lot_fee, part, held, exponent, precision)
            exit_fee = fill_fee if part == size else share(fill_fee, part, size, exponent, precision)
            closed.append((buying, part, lot[1], price, lot[2], index, pnl, add(entry_fee, exit_fee, precision)))
            realized += pnl
            remaining -= part
            if part == held:
                lots.popleft()
            else:
                lot[3] = add(lot_fee, (-entry_fee[0], entry_fee[1]), precision)
                lot[0] -= part * direction
        if remaining > 0:
            opening = fee if remaining == size else share(fill_fee, remaining, size, exponent, precision)
            lots.append([remaining if buying else -remaining, price, index, opening])
        return realized

    def finish(
        self,
        records: list[Any],
        closed: list[tuple[Any, ...]],
        lots: list[list[Any]],
        refusals: dict[str, int],
        nanoseconds: np.ndarray,
        highest_close: int,
    ) -> IntegerRun:
        """Check that every total the Decimal loop makes stays exact; return what the curves and metrics read.

        The ledger (every execution, round trip and lot, with the Decimal loop's values and exponents)
        is built from the records when :meth:`IntegerRun.ledger` is first called.
        """
        if not records:
            return IntegerRun(self, refusals, [], np.empty(0), np.empty(0), 0.0, np.empty(0))
        width = len(EXECUTION_FIELDS)
        columns = [records[field::width] for field in range(width)]
        records.clear()  # the columns hold the values now: the list's memory goes to what is built next
        _, sizes, prices, fees, realized, positions, cashes, bars = columns
        limit, tick_coefficient = self.limit, self.tick_coefficient
        traded, fees_total = sum(map(mul, sizes, prices)) * tick_coefficient, sum(fees)
        # every value and sum the Decimal loop makes stays exact: cash moves by at most every notional and fee,
        # a position is worth at most every lot bought at the highest price, realized PnL is under 2 x traded
        traded_money = traded * 10 ** (self.lot_exponent + self.tick_exponent - self.money_exponent)
        if (
            self.start_cash + traded_money + fees_total * self.fee_to_money >= limit
            or fees_total >= limit
            or 2 * traded >= limit
            or (
                traded_money * highest_close >= limit
                and max(max(positions), -min(positions)) * highest_close * self.notional_per_unit >= limit
            )
        ):
            raise Unrepresentable("a total beyond the context's precision")
        if tick_coefficient != 1:  # realized PnL in units of lot x tick exponent, as the Decimal loop's exponent
            columns[4] = realized = [None if value is None else value * tick_coefficient for value in realized]
        pnl_exponent = self.tick_exponent + self.lot_exponent
        run = IntegerRun(
            self,
            refusals,
            bars,
            _scaled(positions, self.lot_exponent),
            _scaled(cashes, self.money_exponent),
            traded / 10**-pnl_exponent,
            self._net_pnls(closed, fees, realized),
            fees_total,
        )
        run.keep(columns, closed, self._open_lots(lots, fees, bars, nanoseconds), nanoseconds)
        return run

    def _open_lots(self, lots: list[list[Any]], fees: list[int], bars: list[int], nanoseconds: np.ndarray) -> list[Lot]:
        """The lots still open at the end, as the ledger holds them."""
        unit, tick = _unit(self.lot_exponent), self.spec.tick_size
        return [
            Lot(
                unit * signed,
                tick * price,
                datetime.fromtimestamp(int(nanoseconds[bars[opened]]) / 1e9, UTC),
                _FEE_UNIT * fees[opened] if lot_fee.__class__ is int else _decimal(lot_fee),
            )
            for signed, price, opened, lot_fee in lots
        ]

    def build_ledger(
        self, columns: list[list[Any]], closed: list[tuple[Any, ...]], lots: list[Lot], nanoseconds: np.ndarray
    ) -> FifoLedger:
        """The ledger the Decimal loop would have left, every value and exponent, from the loop's records."""
        buying, sizes, prices, fees, realized, positions, cashes, bars = columns
        ledger = FifoLedger(cash=self.cash0)
        symbol, count = self.spec.symbol, len(sizes)
        # each fill's time exactly as the Decimal loop makes it, from the bar's nanoseconds as a Python int
        seconds = map(truediv, nanoseconds[bars].tolist(), repeat(1e9))
        stamps = list(map(datetime.fromtimestamp, seconds, repeat(UTC)))
        # one Decimal per distinct quantity and price, shared by every record that holds it (they are immutable)
        keys = set(sizes)
        keys.update(positions)
        keys.update(record[1] for record in closed)
        quantity = dict(zip(keys, map(_unit(self.lot_exponent).__mul__, keys), strict=True))
        ticks = set(prices)
        ticks.update(record[2] for record in closed)
        price = dict(zip(ticks, map(self.spec.tick_size.__rmul__, ticks), strict=True))
        pnl_unit = _unit(self.tick_exponent + self.lot_exponent)
        fee = list(map(_FEE_UNIT.__mul__, fees))
        pnl = [ZERO if value is None else pnl_unit * value for value in realized]
        ledger.executions = list(
            map(
                _new,
                repeat(Execution),
                zip(
                    stamps,
                    repeat(symbol),
                    map((Side.SELL, Side.BUY).__getitem__, buying),
                    map(quantity.__getitem__, sizes),
                    map(price.__getitem__, prices),
                    fee,
                    pnl,
                    map(quantity.__getitem__, positions),
                    map(_unit(self.money_exponent).__mul__, cashes),
                    [f"o{number}" for number in range(1, count + 1)],
                ),
            )
        )
        ledger.closed = self._closed_lots(closed, quantity, price, stamps, fee, pnl)
        last = ledger.executions[-1]
        ledger.cash = last.cash_after
        ledger.fees_paid = _FEE_UNIT * sum(fees)
        ledger.version = count
        closing = [value for value in realized if value is not None]
        if closing:
            ledger.realized_pnl = pnl_unit * sum(closing)
        if lots:
            ledger.lots[symbol] = deque(lots)
            ledger.positions[symbol] = last.position_after
        return ledger

    def _closed_lots(
        self,
        closed: list[tuple[Any, ...]],
        quantity: dict[int, Decimal],
        price: dict[int, Decimal],
        stamps: list[datetime],
        fee: list[Decimal],
        pnl: list[Decimal],
    ) -> list[ClosedLot]:
        """The round trips, as the ledger records them."""
        if not closed:
            return []
        buying, parts, entries, exits, opened, closes, pnls, pairs = zip(*closed, strict=True)
        exponent, tick_coefficient = self.tick_exponent + self.lot_exponent, self.tick_coefficient
        unit, negative_zero = _unit(exponent), Decimal((1, (0,), exponent))
        # None: the lot is its execution's only one, with the same PnL and the fills' own fees
        trip_pnl = [
            pnl[close]
            if value is None
            else (negative_zero if short and not value else unit * (value * tick_coefficient))
            for value, close, short in zip(pnls, closes, buying, strict=True)
        ]
        trip_fee = [
            fee[entry] + fee[close] if pair is None else _decimal(pair)
            for pair, entry, close in zip(pairs, opened, closes, strict=True)
        ]
        return list(
            map(
                _new,
                repeat(ClosedLot),
                zip(
                    repeat(self.spec.symbol),
                    map(("long", "short").__getitem__, buying),
                    map(quantity.__getitem__, parts),
                    map(price.__getitem__, entries),
                    map(price.__getitem__, exits),
                    map(stamps.__getitem__, opened),
                    map(stamps.__getitem__, closes),
                    trip_pnl,
                    trip_fee,
                ),
            )
        )

    def _net_pnls(self, closed: list[tuple[Any, ...]], fees: list[int], realized: list[int | None]) -> np.ndarray:
        """float(net_pnl) of every round trip (what float() of ``ClosedLot.net_pnl`` gives), from the ints."""
        if not closed:
            return np.empty(0)
        buying, _, _, _, opened, closes, pnls, pairs = zip(*closed, strict=True)
        tick_coefficient = self.tick_coefficient
        # None: the lot is its execution's only one, with the same PnL and the fills' own fees
        coefficients = [
            realized[close] if value is None else value * tick_coefficient
            for value, close in zip(pnls, closes, strict=True)
        ]
        fee_pairs: list[Coefficient] | None = None
        if all(pair is None or pair[1] == FEE_EXPONENT for pair in pairs):
            fee_coefficients = [
                fees[entry] + fees[close] if pair is None else pair[0]
                for pair, entry, close in zip(pairs, opened, closes, strict=True)
            ]
        else:
            fee_pairs = [
                (fees[entry] + fees[close], FEE_EXPONENT) if pair is None else pair
                for pair, entry, close in zip(pairs, opened, closes, strict=True)
            ]
            fee_coefficients = [pair[0] for pair in fee_pairs]
        net = self._net(coefficients, fee_coefficients, fee_pairs)
        for index in np.flatnonzero(np.array(coefficients, dtype=np.float64) == 0).tolist():
            # a short closed flat has a PnL of -0 (0 x size x -1), and -0 - 0 is -0
            if pnls[index] is not None and buying[index] and not fee_coefficients[index]:
                net[index] = -0.0
        return net

    def _net(self, pnls: list[int], fee_coefficients: list[int], fees: list[Coefficient] | None) -> np.ndarray:
        """float(pnl - fees) of every round trip (``fees`` None: all in 1e-8s), subtracted as the context does."""
        exponent, precision = self.tick_exponent + self.lot_exponent, self.precision
        if fees is None and exponent >= FEE_EXPONENT:
            # whole 1e-8s below 2**53: exact as floats, so one IEEE division rounds them as float() of the Decimal
            pnl, fee = np.array(pnls, dtype=np.float64), np.array(fee_coefficients, dtype=np.float64)
            pnl *= 10 ** (exponent - FEE_EXPONENT)
            if max(pnl.max(), -pnl.min()) + fee.max() < _FLOAT_EXACT:
                pnl -= fee
                net: np.ndarray = pnl / 10**-FEE_EXPONENT
                return net
        pairs = fees or [(coefficient, FEE_EXPONENT) for coefficient in fee_coefficients]
        return np.array(
            [
                _float(add((pnl, exponent), (-pair[0], pair[1]), precision))
                for pnl, pair in zip(pnls, pairs, strict=True)
            ]
        )


def _float(value: Coefficient) -> float:
    """The float nearest to ``value`` (what float() of the Decimal gives)."""
    coefficient, exponent = value
    return coefficient / 10**-exponent if exponent <= 0 else float(coefficient * 10**exponent)


_FEE_UNIT = Decimal((0, (1,), FEE_EXPONENT))


def _unit(exponent: int) -> Decimal:
    return Decimal((0, (1,), exponent))


def _decimal(value: Coefficient) -> Decimal:
    return Decimal(f"{value[0]}E{value[1]}")


def _scaled(values: Sequence[int], exponent: int) -> np.ndarray:
    """``values`` x 10**exponent as floats, each correctly rounded (what float() of the Decimal gives)."""
    divisor = 10**-exponent
    if divisor <= 10**22:
        floats = np.array(values, dtype=np.float64)
        if max(floats.max(), -floats.min()) < _FLOAT_EXACT:  # exact operands: one IEEE division rounds once
            floats /= divisor
            return floats
    return np.array([value / divisor for value in values], dtype=np.float64)


def integer_core(
    spec: SymbolSpec, cash: Decimal, fills: FillModelConfig, sizing: SizingRule, caps: Caps
) -> IntegerCore | None:
    """Return the integer core for this configuration, or None when only the Decimal loop reproduces it."""
    context = decimal.getcontext()
    lot = spec.lot_size.as_tuple()
    if (
        not isinstance(sizing, EquityFraction | FixedNotional)
        or fills.slippage_jitter_bps
        or fills.participation_cap is not None
        or lot.digits != (1,)  # one power of ten: the translator's grid and the cash rule's lot agree
        or int(lot.exponent) > 0
        or int(spec.tick_size.as_tuple().exponent) > 0
        or context.rounding != decimal.ROUND_HALF_EVEN
        or context.traps[decimal.Inexact]
        or context.traps[decimal.Rounded]
        or context.Emax < 10**4
        or context.Emin > -(10**4)
    ):
        return None
    return IntegerCore(spec, cash, fills, sizing, caps)
