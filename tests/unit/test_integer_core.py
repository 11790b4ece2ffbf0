"""The integer core gives the Decimal loop's backtest to the last digit, or leaves the run to it.

Hypothesis runs random bar series, targets, sizing, fees, slippage, cash, caps and symbol minima
through both loops of the engine and compares everything the rest of the code reads: every field of
every execution (as text, so exponents and signed zeros count), closed and open lots, refusals, the
ledger, the curves and the metrics' inputs. The Decimal arithmetic the core emulates (the ledger's
pro-rata fee split) is checked against the decimal module directly.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logos.backtest.engine import BacktestConfig, _Simulation, run_backtest
from logos.backtest.integer_core import add, divide, integer_core, multiply
from logos.backtest.metrics import compute_metrics
from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.orders.sizing import EquityFraction, FixedNotional, VolatilityTarget
from logos.orders.translator import Caps
from logos.strategies import get_strategy
from logos.symbols import SymbolSpec

D = Decimal


@pytest.fixture(autouse=True, scope="module")
def default_decimal_context() -> Iterator[None]:
    # the integer core runs only under the default Decimal context and leaves any other to the Decimal loop;
    # ccxt's decimal_to_precision sets the thread's context to ROUND_HALF_UP (with the Underflow trap) and
    # leaves it so, so after the broker's tests in the same process every run here would take the Decimal loop
    with decimal.localcontext(decimal.Context()):
        yield


EXPOSURES = [-1.0, -0.5, 0.0, 0.5, 1.0]

ticks = st.sampled_from([D("0.01"), D("0.05"), D("0.5"), D("1"), D("0.001"), D("0.25")])
lots = st.sampled_from([D("1"), D("0.1"), D("0.0001"), D("0.01"), D("0.00000001")])
fee_bps = st.decimals(min_value=0, max_value=50, places=1)
slippage_bps = st.one_of(st.just(D(0)), st.decimals(min_value=0, max_value=20, places=2))
# from a few cents (the cash rule and the minimums refuse) to ten million
cash_amounts = st.one_of(
    st.decimals(min_value=D("0.01"), max_value=D(1000), places=2),
    st.decimals(min_value=D(1000), max_value=D(10_000_000), places=8),
    st.integers(min_value=1, max_value=10**7).map(D),
)
sizings = st.one_of(
    st.sampled_from([D("0.25"), D("0.5"), D(1), D(2), D("0.3"), D("0.333")]).map(lambda f: EquityFraction(fraction=f)),
    st.decimals(min_value=D(1), max_value=D(1_000_000), places=3).map(lambda n: FixedNotional(notional=n)),
)
optional_amount = st.one_of(st.none(), st.decimals(min_value=D("0.5"), max_value=D(100_000), places=2))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[pd.DataFrame, np.ndarray, SymbolSpec, BacktestConfig]:
    tick, lot = draw(ticks), draw(lots)
    bars = draw(st.integers(min_value=2, max_value=40))
    in_ticks = st.integers(min_value=1, max_value=20_000)
    opens = np.array(draw(st.lists(in_ticks, min_size=bars, max_size=bars)), dtype=np.float64) * float(tick)
    closes = np.array(draw(st.lists(in_ticks, min_size=bars, max_size=bars)), dtype=np.float64) * float(tick)
    index = pd.date_range("2024-01-01", periods=bars, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes),
            "low": np.minimum(opens, closes),
            "close": closes,
            "volume": np.full(bars, 1000.0),
        },
        index=index,
    )
    targets = np.array(draw(st.lists(st.sampled_from(EXPOSURES), min_size=bars, max_size=bars)))
    minimum = draw(st.sampled_from([D(0), lot, lot * 3, D("0.7")]))
    maximum = draw(st.one_of(st.none(), st.decimals(min_value=max(minimum, lot), max_value=D(10_000), places=4)))
    spec = SymbolSpec(
        symbol="X",
        tick_size=tick,
        lot_size=lot,
        min_quantity=minimum,
        max_quantity=maximum,
        min_notional=draw(st.sampled_from([D(0), D(0), D(1), D(10), D("12.345")])),
    )
    fills = FillModelConfig(
        timing=draw(st.sampled_from(list(FillTiming))),
        taker_fee_bps=draw(fee_bps),
        slippage_bps=draw(slippage_bps),
    )
    caps = Caps(max_order_notional=draw(optional_amount), max_position_notional=draw(optional_amount))
    config = BacktestConfig(strategy="sma_cross", cash=draw(cash_amounts), fills=fills, sizing=draw(sizings), caps=caps)
    return frame, targets, spec, config


def simulate(frame: pd.DataFrame, targets: np.ndarray, spec: SymbolSpec, config: BacktestConfig, integer: bool) -> Any:
    simulation = _Simulation(frame, spec, config)
    simulation.run(targets, integer=integer)
    return simulation


def texts(records: list[Any]) -> list[tuple[str, ...]]:
    # repr of every field: Decimal('0.0000') and Decimal('0') or Decimal('-0E-6') and Decimal('0E-6') differ
    return [tuple(map(repr, record)) for record in records]


def assert_same_backtest(reference: Any, integer: Any, spec: SymbolSpec) -> None:
    # first what the metrics read (the integer core gives it without building its ledger), then the ledger
    open_trips = reference.open_trips()
    assert texts(integer.open_trips()) == texts(open_trips)
    assert repr(integer.fees_paid()) == repr(reference.fees_paid())
    assert list(integer.refusals.items()) == list(reference.refusals.items())
    assert integer.fill_bars == reference.fill_bars
    for mine, yours in zip(integer.curves(), reference.curves(), strict=True):
        assert mine.tobytes() == yours.tobytes()
    assert integer.traded_notional() == reference.traded_notional()
    trips = integer.round_trips(open_trips)
    net = np.array([float(trip.net_pnl) for trip in reference.round_trips(open_trips)])
    if integer.exact_path == "integer":
        assert trips.net_pnls.tobytes() == net.tobytes() and trips.open == len(open_trips)
    ours, theirs = integer.ledger, reference.ledger
    assert texts(ours.executions) == texts(theirs.executions)
    assert texts(ours.closed) == texts(theirs.closed)
    mark = {spec.symbol: integer.price(integer.close_ticks, len(integer.close) - 1)}
    assert texts(ours.open_lots(mark)) == texts(theirs.open_lots(mark))
    for name in ("cash", "realized_pnl", "fees_paid", "positions", "lots", "version"):
        assert repr(getattr(ours, name)) == repr(getattr(theirs, name)), name


def assert_both_loops_agree(frame: pd.DataFrame, targets: np.ndarray, spec: SymbolSpec, config: BacktestConfig) -> None:
    refused = ""
    try:
        reference = simulate(frame, targets, spec, config, integer=False)
    except ValueError as error:  # a sell slipped to a price of 0: the ledger refuses it, on either path
        refused = str(error)
    if refused:
        with pytest.raises(ValueError, match="a fill needs") as raised:
            simulate(frame, targets, spec, config, integer=True)
        assert str(raised.value) == refused
        return
    integer = simulate(frame, targets, spec, config, integer=True)
    # the core keeps a few digits of margin below the context's precision and leaves a run past it to the
    # Decimal loop: a long bought at 1 tick and sold at 20,000 multiplies the equity by 20,000, and a few of
    # those take the amounts to where the Decimal loop itself rounds. Either way the results are the same.
    expected = "integer" if within_the_cores_margin(reference, frame, spec, config) else integer.exact_path
    assert reference.exact_path == "decimal" and integer.exact_path == expected
    assert_same_backtest(reference, integer, spec)


MARGIN_DIGITS = 7  # how far inside the context's precision every amount of a run stays for the integer core to run it


def within_the_cores_margin(reference: Any, frame: pd.DataFrame, spec: SymbolSpec, config: BacktestConfig) -> bool:
    """Tell whether every amount of the Decimal loop's run is at least MARGIN_DIGITS inside the context's precision."""
    money = min(
        config.cash.as_tuple().exponent, spec.lot_size.as_tuple().exponent + spec.tick_size.as_tuple().exponent, -8
    )
    highest = spec.quantize_price(Decimal(repr(float(max(frame["open"].max(), frame["close"].max())))))
    amounts = [config.cash]
    for execution in reference.ledger.executions:
        amounts += [execution.cash_after, execution.quantity * execution.price, execution.position_after * highest]
    bound = Decimal(10) ** (decimal.getcontext().prec - MARGIN_DIGITS + int(money))
    return all(abs(amount) < bound for amount in amounts)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_integer_core_when_any_unsplit_backtest_then_identical_to_the_decimal_loop(
    scenario: tuple[pd.DataFrame, np.ndarray, SymbolSpec, BacktestConfig],
) -> None:
    frame, targets, spec, config = scenario
    assert_both_loops_agree(frame, targets, spec, config)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), fraction=st.sampled_from([D("0.5"), D(1), D(3)]))
def test_integer_core_when_long_short_reversals_split_lots_then_identical_fees_and_pnl(
    scenario: tuple[pd.DataFrame, np.ndarray, SymbolSpec, BacktestConfig], fraction: Decimal
) -> None:
    # reversals and partial exits on every bar: the ledger splits fees pro rata at the context's precision
    frame, _, spec, config = scenario
    targets = np.resize(np.array([1.0, -0.5, 0.5, -1.0, 0.5, 1.0, -1.0]), len(frame))
    config = config.model_copy(update={"sizing": EquityFraction(fraction=fraction), "caps": Caps()})
    assert_both_loops_agree(frame, targets, spec, config)


def test_run_backtest_when_integer_path_then_metrics_equal_the_decimal_loops() -> None:
    rng = np.random.default_rng(7)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.002, 3000))), 2)
    index = pd.date_range("2024-01-01", periods=closes.size, freq="1min", tz="UTC")
    frame = pd.DataFrame(
        {"open": closes, "high": closes, "low": closes, "close": closes, "volume": np.full(closes.size, 10.0)},
        index=index,
    )
    spec = SymbolSpec(symbol="X", tick_size=D("0.01"), lot_size=D("0.0001"), min_notional=D(10))
    config = BacktestConfig(strategy="sma_cross", params={"fast": 5, "slow": 20}, cash=D("12345.67"))
    result = run_backtest(frame, spec, get_strategy("sma_cross"), config)
    reference = simulate(frame, result.targets, spec, config, integer=False)
    positions, _, equity = reference.curves()
    ledger = reference.ledger
    open_trips = ledger.open_lots({spec.symbol: reference.price(reference.close_ticks, len(frame) - 1)})
    expected = compute_metrics(
        equity,
        reference.index,
        positions,
        [*ledger.closed, *open_trips],
        reference.traded_notional(),
        len(ledger.executions),
        float(ledger.fees_paid),
        reference.ppy,
        reference.calendar,
    )
    assert result.metrics == expected and result.metrics.fills > 100
    assert texts(result.executions) == texts(ledger.executions)
    assert texts(result.round_trips) == texts(ledger.closed) and texts(result.open_trips) == texts(open_trips)


@pytest.mark.parametrize(
    ("spec", "config"),
    [
        (SymbolSpec(symbol="X"), BacktestConfig(strategy="s", sizing=VolatilityTarget())),
        (SymbolSpec(symbol="X"), BacktestConfig(strategy="s", fills=FillModelConfig(slippage_jitter_bps=D(1)))),
        (SymbolSpec(symbol="X", lot_size=D("0.25")), BacktestConfig(strategy="s")),
        (SymbolSpec(symbol="X", lot_size=D("1.0")), BacktestConfig(strategy="s")),
        (SymbolSpec(symbol="X", lot_size=D("10")), BacktestConfig(strategy="s")),
    ],
)
def test_integer_core_when_configuration_unrepresentable_then_none(spec: SymbolSpec, config: BacktestConfig) -> None:
    assert integer_core(spec, config.cash, config.fills, config.sizing, config.caps) is None


def test_integer_core_when_decimal_context_not_default_then_none() -> None:
    config = BacktestConfig(strategy="s")
    with decimal.localcontext() as context:
        context.rounding = decimal.ROUND_DOWN
        assert integer_core(SymbolSpec(symbol="X"), config.cash, config.fills, config.sizing, config.caps) is None


def test_simulation_when_values_beyond_the_contexts_precision_then_the_decimal_loop_runs_it() -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="1min", tz="UTC")
    prices = [1000.0, 1100.0, 1200.0, 1300.0]
    frame = pd.DataFrame({name: prices for name in ("open", "high", "low", "close", "volume")}, index=index)
    spec = SymbolSpec(symbol="X", lot_size=D("0.0001"))
    # 27 digits of cash in 1e-8s: exact for the Decimal loop, past the integer core's margin for its notionals
    fills = FillModelConfig(taker_fee_bps=D(1))
    config = BacktestConfig(strategy="s", cash=D("5E+19") + D("0.12345678"), fills=fills)
    targets = np.array([1.0, 0.5, 0.0, 0.0])
    reference = simulate(frame, targets, spec, config, integer=False)
    simulation = simulate(frame, targets, spec, config, integer=True)
    assert simulation.exact_path == "decimal" and len(simulation.ledger.executions) == 3
    assert texts(simulation.ledger.executions) == texts(reference.ledger.executions)


def test_simulation_when_the_equity_compounds_past_the_cores_margin_then_the_decimal_loop_runs_it_alike() -> None:
    # long at 1 tick, out at 20,000, four times: the budget outgrows the context's 28 digits, so the
    # Decimal loop rounds it, and the integer core leaves the run to that loop
    ticks = np.array([1, 1, 20_000, 20_000] * 4, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=ticks.size, freq="1min", tz="UTC")
    prices = ticks * 0.01
    frame = pd.DataFrame({name: prices for name in ("open", "high", "low", "close", "volume")}, index=index)
    spec = SymbolSpec(symbol="X", tick_size=D("0.01"), lot_size=D("0.0001"))
    fills = FillModelConfig(timing=FillTiming.CLOSE, taker_fee_bps=D(0))
    config = BacktestConfig(strategy="s", cash=D(10_000_000), fills=fills, sizing=EquityFraction(fraction=D(1)))
    targets = np.array([1.0, 1.0, 0.0, 0.0] * 4)
    reference = simulate(frame, targets, spec, config, integer=False)
    simulation = simulate(frame, targets, spec, config, integer=True)
    assert not within_the_cores_margin(reference, frame, spec, config)
    assert simulation.exact_path == "decimal" and len(simulation.ledger.executions) == 8
    assert_same_backtest(reference, simulation, spec)


# --- the Decimal context's arithmetic, emulated -----------------------------------------------------------------------

coefficients = st.one_of(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=-999, max_value=999))
exponents = st.integers(min_value=-40, max_value=10)


def as_pair(value: Decimal) -> tuple[int, int]:
    sign, digits, exponent = value.as_tuple()
    coefficient = int("".join(map(str, digits)))
    return (-coefficient if sign else coefficient), int(exponent)


def decimal_of(coefficient: int, exponent: int) -> Decimal:
    return Decimal(f"{coefficient}E{exponent}")


@settings(max_examples=2000, deadline=None)
@given(left=coefficients, left_exponent=exponents, right=coefficients, right_exponent=exponents)
def test_emulated_arithmetic_when_any_operands_then_the_contexts_result(
    left: int, left_exponent: int, right: int, right_exponent: int
) -> None:
    precision = decimal.getcontext().prec
    x, y = decimal_of(left, left_exponent), decimal_of(right, right_exponent)
    # operands as the ledger holds them: already rounded to the context
    x, y = +x, +y
    a, b = as_pair(x), as_pair(y)
    assert multiply(a, b, precision) == as_pair(x * y)
    assert add(a, b, precision) == as_pair(x + y) or x + y == 0
    if y:
        assert divide(a, b, precision) == as_pair(x / y) or x / y == 0
