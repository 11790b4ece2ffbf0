"""What a replayed session must equal: the backtest of the same bars with the same settings."""

from __future__ import annotations

from io import StringIO

import pandas as pd

from logos.backtest.artifacts import EXECUTION_COLUMNS, table
from logos.backtest.engine import BacktestConfig, run_backtest
from logos.execution.ledger import Execution
from logos.orders.sizing import FixedNotional, parse_sizing
from logos.strategies import get_strategy
from services.executor.config import ExecutorSettings
from services.ml.config import MLSettings

SESSION_FILES = ("trades.csv", "orders.csv", "account.csv", "positions.csv", "session.md", "state.jsonl",
                 "state.json", "plots/equity.png")  # fmt: skip
# a multi-symbol session shares one account, so cash differs from per-symbol backtests (and order ids are numbered
# across symbols); with fixed-notional sizing every other column of a fill must still be the backtest's
SHARED_ACCOUNT_COLUMNS = ["ts", "symbol", "side", "quantity", "price", "fee", "realized_pnl", "position_after"]


def expected_fills(frames: dict[str, pd.DataFrame], ml: MLSettings, executor: ExecutorSettings) -> list[Execution]:
    """Backtest each symbol with the stack's strategy, sizing, cash and fill model; fills by time, then symbol."""
    if ml.strategy is None:
        raise ValueError("ML_STRATEGY is not set: the stack trades nothing, so there is nothing to compare")
    strategy = get_strategy(ml.strategy)
    config = BacktestConfig(strategy=ml.strategy, params=strategy.params(ml.params).model_dump(mode="json"),
                            cash=executor.cash, fills=executor.fills, sizing=parse_sizing(ml.sizing))  # fmt: skip
    specs = executor.logos.symbol_specs()
    fills: list[Execution] = []
    for symbol, frame in frames.items():
        fills += run_backtest(frame, specs[symbol], strategy, config).executions
    fills.sort(key=lambda execution: (execution.ts, execution.symbol))
    return fills


def compare_trades(session_trades: str, expected: list[Execution], symbols: int, ml: MLSettings) -> str | None:
    """Return why the session's trades.csv differs from the backtest's fills, or None when it does not."""
    backtest = table(expected, EXECUTION_COLUMNS).to_csv(index=False, lineterminator="\n")
    if symbols == 1:
        return None if session_trades == backtest else "trades.csv differs from the backtest's fills"
    if not isinstance(parse_sizing(ml.sizing), FixedNotional):
        return f"{symbols} symbols share one account: only fixed-notional sizing (ML_SIZING=notional:N) is comparable"
    session = pd.read_csv(StringIO(session_trades), dtype=str)[SHARED_ACCOUNT_COLUMNS]
    wanted = pd.read_csv(StringIO(backtest), dtype=str)[SHARED_ACCOUNT_COLUMNS]
    if session.equals(wanted):
        return None
    return f"trades.csv has {len(session)} fills, the backtest {len(wanted)}; they differ (columns compared: " + (
        ", ".join(SHARED_ACCOUNT_COLUMNS) + ")"
    )
