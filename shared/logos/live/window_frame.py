"""A strategy's live window as plain columns: the reads a vectorized strategy makes, without building pandas objects.

The ml service evaluates a strategy on its last ``lookback`` bars after every bar. A bundled strategy
reads columns as numpy arrays (``frame["close"].to_numpy()``) and computes with numpy; building a
DatetimeIndex and a DataFrame for each bar cost about as much as the strategy itself. A
:class:`WindowFrame` answers those reads from the arrays the runner keeps, and becomes a real
DataFrame (built once, on first need) for anything else a strategy asks of it, so any strategy runs
on it unchanged and computes the same values on the same numbers.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd

COLUMN_NAMES = ("open", "high", "low", "close", "volume")
COLUMNS = pd.Index(list(COLUMN_NAMES))  # built once: pandas turns a list of names into an Index on every frame
UTC_NANOSECONDS = pd.DatetimeTZDtype("ns", UTC)


class WindowColumn:
    """One column of the window: ``to_numpy`` without pandas, a pandas Series for anything else."""

    __slots__ = ("_frame", "_name", "_values")

    def __init__(self, frame: WindowFrame, name: str, values: np.ndarray) -> None:
        self._frame, self._name, self._values = frame, name, values

    def to_numpy(self, dtype: Any = None, copy: bool = False) -> np.ndarray:
        values = self._values if dtype is None else self._values.astype(dtype, copy=False)
        return values.copy() if copy else values

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.to_numpy(dtype)

    def __len__(self) -> int:
        return int(self._values.shape[0])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._frame.to_pandas()[self._name], name)


class WindowFrame:
    """The last bars of one symbol: float rows (open, high, low, close, volume) and their epoch nanoseconds."""

    __slots__ = ("_frame", "_nanoseconds", "_rows")

    def __init__(self, rows: np.ndarray, nanoseconds: np.ndarray) -> None:
        self._rows, self._nanoseconds = rows, nanoseconds
        self._frame: pd.DataFrame | None = None

    def __getitem__(self, name: str) -> Any:
        if isinstance(name, str) and name in COLUMN_NAMES:
            return WindowColumn(self, name, self._rows[:, COLUMN_NAMES.index(name)])
        return self.to_pandas()[name]

    def __len__(self) -> int:
        return int(self._rows.shape[0])

    @property
    def columns(self) -> pd.Index:
        return COLUMNS

    def to_pandas(self) -> pd.DataFrame:
        """The window as the DataFrame a backtest would hand the strategy (built once)."""
        if self._frame is None:
            index = pd.DatetimeIndex(self._nanoseconds.astype("datetime64[ns]"), dtype=UTC_NANOSECONDS,
                                     name="timestamp")  # fmt: skip
            self._frame = pd.DataFrame(self._rows, columns=COLUMNS, index=index, copy=False)
        return self._frame

    def __getattr__(self, name: str) -> Any:
        return getattr(self.to_pandas(), name)
