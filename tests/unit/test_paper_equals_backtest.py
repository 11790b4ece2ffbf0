"""The live kernel (strategy runner, risk engine, paper broker) driven bar by bar equals the backtest."""

from __future__ import annotations

from decimal import Decimal

import pytest

from logos.backtest.engine import BacktestConfig, run_backtest
from logos.contracts import Bar, Order
from logos.data.fixtures import fixture_catalog, fixture_path
from logos.data.loading import load_bars
from logos.execution.fill_model import FillModelConfig, FillTiming
from logos.live.paper_broker import PaperBroker
from logos.live.strategy_runner import StrategyRunner
from logos.risk.engine import RiskEngine
from logos.risk.limits import RiskLimits
from logos.strategies import get_strategy
from logos.symbols import SpecCatalog
from services.feed.replay import replay_bars


def bars_of(fixture: str, symbol: str) -> list[Bar]:
    return list(replay_bars(load_bars(fixture_path(fixture), symbol), SpecCatalog(fixture_catalog())))


def run_live(bars: list[Bar], strategy: str, params: dict[str, object], timing: FillTiming) -> PaperBroker:
    specs = fixture_catalog()
    chosen = get_strategy(strategy)
    runner = StrategyRunner(chosen, chosen.params(params), specs)
    risk = RiskEngine(RiskLimits())
    broker = PaperBroker(Decimal(100_000), specs, FillModelConfig(timing=timing))
    for bar in bars:  # what the services do, in the causal order of a replay
        broker.on_bar(bar)
        risk.on_bar(bar.symbol, bar.ts, bar.close)
        snapshot = broker.snapshot(bar)
        risk.on_account(snapshot)
        runner.on_bar(bar)
        decision = runner.on_account(snapshot)
        if decision is not None and decision.intent is not None:
            verdict = risk.check(decision.intent, bar.ts)
            assert verdict.approved, verdict.detail
            order = Order(id=f"o-{decision.intent.id}", intent_id=decision.intent.id, symbol=bar.symbol,
                          target_quantity=decision.intent.target_quantity,
                          reference_price=decision.intent.reference_price, strategy=strategy)  # fmt: skip
            broker.on_order(order, bar.ts)
    return broker


@pytest.mark.parametrize(
    ("fixture", "symbol", "strategy", "params", "timing"),
    [
        ("sma_demo_1m", "sma_demo_1m", "sma_cross", {"fast": 10, "slow": 30}, FillTiming.NEXT_OPEN),
        ("crypto_1m", "BTC-USD", "sma_cross", {"fast": 20, "slow": 60, "allow_short": True}, FillTiming.NEXT_OPEN),
        ("equities_1m", "AAPL", "rsi_reversion", {}, FillTiming.NEXT_OPEN),
        ("crypto_1m", "ETH-USD", "donchian_breakout", {}, FillTiming.CLOSE),
    ],
)
def test_paper_session_when_replayed_then_same_fills_as_backtest(
    fixture: str, symbol: str, strategy: str, params: dict[str, object], timing: FillTiming
) -> None:
    frame = load_bars(fixture_path(fixture), symbol)[symbol]
    config = BacktestConfig(strategy=strategy, params=params, fills=FillModelConfig(timing=timing))
    backtest = run_backtest(frame, fixture_catalog()[symbol], get_strategy(strategy), config)
    broker = run_live(bars_of(fixture, symbol), strategy, params, timing)
    ours = [(e.ts, e.side, e.quantity, e.price, e.fee, e.realized_pnl, e.position_after, e.cash_after)
            for e in broker.ledger.executions]  # fmt: skip
    theirs = [(e.ts, e.side, e.quantity, e.price, e.fee, e.realized_pnl, e.position_after, e.cash_after)
              for e in backtest.executions]  # fmt: skip
    assert len(theirs) > 4 and ours == theirs
