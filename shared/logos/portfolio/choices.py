"""The choices the portfolio commands offer, importable without numpy or pandas.

The command line builds its options (their help and their enum types) when it starts, for every
command; the allocators and the walk-forward backtest load only when a portfolio command runs.
"""

from __future__ import annotations

from enum import StrEnum

# the names of logos.portfolio.allocators.ALLOCATORS (a unit test holds the two together)
ALLOCATOR_NAMES = ("equal_weight", "erc", "hrp", "inverse_vol", "max_sharpe", "min_variance", "target_return")


class Schedule(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
