"""What a run should know about its bars without refusing them: holes in the spacing and naive times.

A gap is a step between consecutive bars longer than ``GAP_FACTOR`` bar intervals (the most common
spacing). Data with a daily session (equities: the step from one UTC day's last bar to the next
day's first is longer than that) closes every night and weekend; those steps are the market's
closures, not gaps, so only holes within a day's session count. 24/7 data has no closures: every
long step counts, across midnight too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from logos.data.loading import NAIVE_TIMESTAMPS, bar_interval

GAP_FACTOR: Final = 5


@dataclass(frozen=True)
class DataReport:
    """Bars, span, spacing, gaps and time zone of one symbol's frame."""

    bars: int
    first: pd.Timestamp
    last: pd.Timestamp
    interval: pd.Timedelta | None
    sessions: bool
    gaps: int
    largest_gap: pd.Timedelta | None
    largest_gap_after: pd.Timestamp | None
    naive_timestamps: bool

    def as_dict(self) -> dict[str, Any]:
        """The report as metrics.json's ``data`` section (times ISO 8601 UTC, spans in seconds)."""
        return {
            "bars": self.bars,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "interval_seconds": _seconds(self.interval),
            "sessions": self.sessions,
            "gap_threshold_seconds": _seconds(self.interval * GAP_FACTOR if self.interval is not None else None),
            "gaps": self.gaps,
            "largest_gap_seconds": _seconds(self.largest_gap),
            "largest_gap_after": _iso(self.largest_gap_after) if self.largest_gap_after is not None else None,
            "naive_timestamps": self.naive_timestamps,
            "timestamps": "naive, read as UTC" if self.naive_timestamps else "UTC",
        }

    def lines(self) -> list[str]:
        """Console lines: the span and spacing, then one line for gaps and one for naive times if any."""
        spacing = f", one bar every {_span(self.interval)}" if self.interval is not None else ""
        if self.interval is not None and not self.gaps:
            spacing += ", no gaps"
        closures = " (market sessions: nightly and weekend closures are not gaps)" if self.sessions else ""
        found = [f"data: {self.bars:,} bars {_iso(self.first)} to {_iso(self.last)}{spacing}{closures}"]
        if self.gaps and self.interval is not None and self.largest_gap_after is not None:
            found.append(
                f"data: {self.gaps:,} gap{'s' if self.gaps != 1 else ''} longer than {GAP_FACTOR} bars "
                f"(largest {_span(self.largest_gap)} after {_iso(self.largest_gap_after)})"
            )
        if self.naive_timestamps:
            found.append("data: timestamps have no time zone; read as UTC")
        return found


def data_report(frame: pd.DataFrame) -> DataReport:
    """Report on one symbol's bars as :func:`~logos.data.loading.load_bars` returned them."""
    index = pd.DatetimeIndex(frame.index)
    naive = bool(frame.attrs.get(NAIVE_TIMESTAMPS, False))
    if len(index) < 2:
        return DataReport(len(index), index[0], index[-1], None, False, 0, None, None, naive)
    interval = bar_interval(frame)
    unit = pd.Timedelta(1, unit=index.unit)
    times = index.asi8
    steps = np.diff(times)
    threshold = GAP_FACTOR * (interval // unit)
    days = times // (pd.Timedelta(days=1) // unit)
    next_day = days[1:] != days[:-1]
    overnight = steps[next_day]
    sessions = bool(overnight.size) and float(np.median(overnight)) > threshold
    long = steps > threshold
    if sessions:
        long &= ~next_day
    if not long.any():
        return DataReport(len(index), index[0], index[-1], interval, sessions, 0, None, None, naive)
    largest = int(np.argmax(np.where(long, steps, -1)))
    return DataReport(
        bars=len(index),
        first=index[0],
        last=index[-1],
        interval=interval,
        sessions=sessions,
        gaps=int(long.sum()),
        largest_gap=pd.Timedelta(int(steps[largest]) * unit),
        largest_gap_after=index[largest],
        naive_timestamps=naive,
    )


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.isoformat().replace("+00:00", "Z")


def _seconds(span: pd.Timedelta | None) -> float | None:
    return None if span is None else span.total_seconds()


def _span(span: pd.Timedelta | None) -> str:
    """A short human span: 50m, 2h 30m, 3d 4h, 15s."""
    if span is None:
        return "-"
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{value}{name}" for value, name in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if value]
    return " ".join(parts[:2]) or "0s"
