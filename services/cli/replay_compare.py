"""What a replayed session must equal: the shared-account backtest of the same bars with the same settings."""

from __future__ import annotations

from io import StringIO

import pandas as pd

from logos.backtest.account import run_account_backtest
from logos.backtest.artifacts import EXECUTION_COLUMNS, table
from logos.backtest.engine import BacktestConfig
from logos.execution.ledger import Execution
from logos.orders.sizing import parse_sizing
from logos.risk.limits import ConfiguredLimits, RiskLimits
from logos.strategies import get_strategy
from services.executor.config import ExecutorSettings
from services.ml.config import MLSettings

SESSION_FILES = ("trades.csv", "orders.csv", "account.csv", "positions.csv", "session.md", "state.jsonl",
                 "state.json", "plots/equity.png")  # fmt: skip


def expected_fills(
    frames: dict[str, pd.DataFrame], ml: MLSettings, executor: ExecutorSettings, limits: RiskLimits | None = None
) -> list[Execution]:
    """The backtest of every symbol against one account, through the risk engine with the stack's limits.

    ``limits`` default to the stack's (RISK_LIMITS__* over the defaults), which is what its risk service runs.
    """
    if ml.strategy is None:
        raise ValueError("ML_STRATEGY is not set: the stack trades nothing, so there is nothing to compare")
    strategy = get_strategy(ml.strategy)
    config = BacktestConfig(strategy=ml.strategy, params=strategy.params(ml.params).model_dump(mode="json"),
                            cash=executor.cash, fills=executor.fills, sizing=parse_sizing(ml.sizing))  # fmt: skip
    specs = executor.logos.symbol_specs()
    books = {symbol: specs[symbol] for symbol in frames}
    risk = limits if limits is not None else ConfiguredLimits().limits
    return run_account_backtest(frames, books, strategy, config, risk, account=executor.account).executions


def compare_trades(session_trades: str, expected: list[Execution]) -> str | None:
    """Return why the session's trades.csv differs from the backtest's fills; None when equal byte for byte."""
    backtest = table(expected, EXECUTION_COLUMNS).to_csv(index=False, lineterminator="\n")
    if session_trades == backtest:
        return None
    session = pd.read_csv(StringIO(session_trades), dtype=str)
    wanted = pd.read_csv(StringIO(backtest), dtype=str)
    counts = f"trades.csv differs from the backtest's fills ({len(session)} fills against {len(wanted)})"
    for row, (ours, theirs) in enumerate(
        zip(session.itertuples(index=False), wanted.itertuples(index=False), strict=False)
    ):
        if ours != theirs:
            return f"{counts}: fill {row + 1} is {tuple(ours)} in the session, {tuple(theirs)} in the backtest"
    return f"{counts}: the shorter is the start of the longer"
