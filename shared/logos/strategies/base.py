"""What a strategy is: a pure, vectorized function from a bar frame to target exposure per bar.

The target at bar ``t`` is decided at the close of ``t`` from bars ``t - lookback + 1 .. t`` only.
That bounded memory is what makes a live, rolling-window evaluation equal to the backtest's value
for the same bar; every strategy declares its lookback and a property test holds it to that.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError


class StrategyParams(BaseModel):
    """Base of every parameter schema: frozen, unknown parameters refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=StrategyParams)
SignalFunction = Callable[[pd.DataFrame, P], np.ndarray]


class StrategyError(ValueError):
    """An unknown strategy or a bad parameter; the message says which and why."""


@dataclass(frozen=True)
class Strategy(Generic[P]):
    """A registered strategy: its name, parameter schema, signal function and memory."""

    name: str
    params_model: type[P]
    function: SignalFunction[P]
    lookback: Callable[[P], int]

    @property
    def summary(self) -> str:
        return (self.function.__doc__ or "").strip().splitlines()[0]

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.function.__doc__ or "")

    def params(self, values: dict[str, Any] | None = None) -> P:
        """Validate parameter values against the schema."""
        try:
            return self.params_model.model_validate(values or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "parameters"
            message = str(first["msg"]).removeprefix("Value error, ")
            raise StrategyError(f"{self.name}: {where}: {message}") from None

    def parse_params(self, pairs: Sequence[str]) -> P:
        """Validate ``key=value`` strings (from the command line) against the schema."""
        values: dict[str, Any] = {}
        for pair in pairs:
            key, separator, value = pair.partition("=")
            if not separator or not key:
                raise StrategyError(f"{self.name}: parameter {pair!r} is not key=value")
            if key not in self.params_model.model_fields:
                known = ", ".join(self.params_model.model_fields) or "none"
                raise StrategyError(f"{self.name}: unknown parameter {key!r} (parameters: {known})")
            values[key] = value
        return self.params(values)

    def targets(self, frame: pd.DataFrame, params: P | None = None) -> np.ndarray:
        """Return the target exposure in [-1, 1] for every bar of ``frame`` (0 before enough history)."""
        chosen = params if params is not None else self.params()
        # one copy of what the strategy returned, made finite and clipped in place
        values = np.array(self.function(frame, chosen), dtype=np.float64)
        np.nan_to_num(values, copy=False, nan=0.0)
        clipped: np.ndarray = np.clip(values, -1.0, 1.0, out=values)
        return clipped

    def target_at_last_bar(self, frame: pd.DataFrame, params: P | None = None) -> float:
        """Evaluate on the last ``lookback`` bars only, as live trading does; equals the backtest's value."""
        chosen = params if params is not None else self.params()
        window = frame.iloc[-self.lookback(chosen) :]
        return float(self.targets(window, chosen)[-1])


__all__ = ["Strategy", "StrategyError", "StrategyParams"]
