"""The strategy registry: vectorized functions from bars to target exposure, with parameter schemas."""

from logos.strategies.base import Strategy, StrategyError, StrategyParams
from logos.strategies.catalog import STRATEGIES


def get_strategy(name: str) -> Strategy:  # type: ignore[type-arg]
    """Return the registered strategy ``name``, or raise :class:`StrategyError` listing the known ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None


__all__ = ["STRATEGIES", "Strategy", "StrategyError", "StrategyParams", "get_strategy"]
