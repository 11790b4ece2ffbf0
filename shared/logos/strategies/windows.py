"""Rolling-window statistics computed window by window, so a value never depends on older bars.

pandas' rolling sums add and subtract as they go, so the value at bar t carries rounding from every
earlier bar; these compute each window from its own values only, which makes a strategy evaluated on
a short window bit-identical to the same strategy evaluated on the whole history.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _padded(values: np.ndarray, window: int, reduced: np.ndarray) -> np.ndarray:
    out = np.full(values.shape[0], np.nan)
    if reduced.size:
        out[window - 1 :] = reduced
    return out


def _windows(values: np.ndarray, window: int) -> np.ndarray:
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if values.shape[0] < window:
        return np.empty((0, window))
    return sliding_window_view(np.ascontiguousarray(values, dtype=np.float64), window)


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each trailing window (NaN until the first full window).

    Each window is summed on its own as a dot product with ones (``np.convolve``), so the result
    depends only on the window's values; it is also several times faster than reducing a view.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if values.shape[0] < window:
        return np.full(values.shape[0], np.nan)
    sums = np.convolve(np.ascontiguousarray(values, dtype=np.float64), np.ones(window), mode="valid")
    out = np.empty(values.shape[0])
    out[: window - 1] = np.nan
    np.divide(sums, window, out=out[window - 1 :])  # into the result: a million bars make 8 MB per temporary
    return out


def rolling_max(values: np.ndarray, window: int) -> np.ndarray:
    """Maximum of each trailing window (NaN until the first full window)."""
    return _padded(values, window, _windows(values, window).max(axis=1))


def rolling_min(values: np.ndarray, window: int) -> np.ndarray:
    """Minimum of each trailing window (NaN until the first full window)."""
    return _padded(values, window, _windows(values, window).min(axis=1))


RELATIVE_TIE = 1e-12


def above(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Tell where ``left`` exceeds ``right`` by more than floating-point noise.

    Averages of prices on a tick grid are often exactly equal; summed in different orders they
    differ in the last bits, so a plain ``>`` would turn a tie into a trade by chance.
    """
    with np.errstate(invalid="ignore"):
        difference = np.subtract(left, right)
        tolerance = np.abs(right)
        tolerance *= RELATIVE_TIE  # in place: the same products as RELATIVE_TIE * |right|, one array fewer
        result: np.ndarray = np.greater(difference, tolerance)
    return result


def shift(values: np.ndarray, periods: int) -> np.ndarray:
    """Shift forward by ``periods`` bars, filling the start with NaN."""
    out = np.full(values.shape[0], np.nan)
    if periods < values.shape[0]:
        out[periods:] = values[: values.shape[0] - periods]
    return out


def hold_last_event(events: np.ndarray, hold: int) -> np.ndarray:
    """Carry each non-NaN event forward for at most ``hold`` bars after it; 0 where none is in reach."""
    index = np.where(~np.isnan(events), np.arange(events.shape[0]), -1)
    last = np.maximum.accumulate(index)
    in_reach = (last >= 0) & (np.arange(events.shape[0]) - last <= hold)
    out = np.zeros(events.shape[0])
    out[in_reach] = events[last[in_reach]]
    return out
