"""The clock checks every bar consumer makes before a bar may move its state.

A bar dated in 2099 used to be taken as a symbol's newest: every real bar after it then looked
already handled, so marks, windows and breakers went blind for that symbol. A consumer now asks
:class:`BarGuard` about each bar first:

- a bar dated after the wall clock plus ``future_tolerance`` is refused (a replay's bars are
  historical, so the wall clock bounds them too);
- a bar more than ``max_gap`` after the symbol's last accepted bar is a jump. Refusing every jump
  would blind the symbol the same way if the jump was real (the feed was down for a week), so a
  jump is refused only until something vouches for it: the wall clock (the bar is no older than
  ``max_gap``: a live feed catching up after an outage), or the next bar of the symbol, when it
  follows the refused one within ``max_gap`` (a replay resuming after a hole in its data). A lone
  outlier is never followed like that and stays refused; a resumption costs its first bar at most,
  and is logged loudly when it is accepted;
- a bar not after the symbol's last accepted one (a redelivery after a restart, or an older bar)
  is counted by symbol and passed on: every consumer already treats it as handled.

The guard changes nothing until :meth:`accept` is called for a bar it let through (after the
handler succeeded), so a refused bar leaves no trace but the refusal itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from logos.contracts import Bar

FUTURE_SETTING = "LOGOS_BAR_FUTURE_TOLERANCE_SECONDS"
GAP_SETTING = "LOGOS_MAX_BAR_GAP_SECONDS"


@dataclass(frozen=True)
class BarVerdict:
    """What to do with one bar: refuse it (``reason``), or pass it on, maybe as a repeat or a resumption."""

    refused: str | None = None  # the refusal's reason, starting "bar refused:"
    kind: str = ""  # future or gap when refused; duplicate or older for a bar not after the last one
    resumed_after: timedelta | None = None  # accepted across a gap larger than the maximum

    @property
    def accepted(self) -> bool:
        return self.refused is None

    @property
    def repeated(self) -> bool:
        return self.kind in ("duplicate", "older")


@dataclass
class _Symbol:
    last: datetime | None = None  # the newest bar accepted
    unconfirmed: datetime | None = None  # a jump refused until a following bar confirms it


@dataclass
class BarGuard:
    """Per-symbol clock checks of incoming bars; see the module docstring for the rules."""

    future_tolerance: timedelta
    max_gap: timedelta | None  # None: no gap check
    non_monotonic: dict[str, dict[str, int]] = field(default_factory=dict)  # symbol -> duplicate/older -> count
    refused: dict[str, dict[str, int]] = field(default_factory=dict)  # symbol -> future/gap -> count
    resumptions: dict[str, int] = field(default_factory=dict)
    _symbols: dict[str, _Symbol] = field(default_factory=dict)

    def check(self, bar: Bar, now: datetime) -> BarVerdict:
        """Judge ``bar`` by the wall clock ``now`` and the symbol's last accepted bar; count it, keep a refused jump."""
        verdict = self._judge(bar, now)
        counts = self.refused if verdict.refused else self.non_monotonic if verdict.repeated else None
        if counts is not None:
            by_kind = counts.setdefault(bar.symbol, {})
            by_kind[verdict.kind] = by_kind.get(verdict.kind, 0) + 1
        if verdict.refused and verdict.kind == "gap":
            self._state(bar.symbol).unconfirmed = bar.ts  # the next bar may confirm it
        return verdict

    def accept(self, bar: Bar, verdict: BarVerdict) -> None:
        """Record that ``bar``, let through by ``verdict``, was handled: it is the symbol's newest now."""
        if verdict.refused or verdict.repeated:
            return
        state = self._state(bar.symbol)
        if state.last is None or bar.ts > state.last:
            state.last = bar.ts
        if state.unconfirmed is not None and state.unconfirmed <= bar.ts:
            state.unconfirmed = None
        if verdict.resumed_after is not None:
            self.resumptions[bar.symbol] = self.resumptions.get(bar.symbol, 0) + 1

    def seed(self, symbol: str, ts: datetime) -> None:
        """Start from a bar handled before a restart, so the first bar after it is checked against it."""
        state = self._state(symbol)
        if state.last is None or ts > state.last:
            state.last = ts

    def last(self, symbol: str) -> datetime | None:
        return self._state(symbol).last if symbol in self._symbols else None

    def _state(self, symbol: str) -> _Symbol:
        return self._symbols.setdefault(symbol, _Symbol())

    def _judge(self, bar: Bar, now: datetime) -> BarVerdict:
        ahead = bar.ts - now
        if ahead > self.future_tolerance:
            return BarVerdict(
                f"bar refused: {bar.symbol} {bar.ts.isoformat()} is {_span(ahead)} ahead of the clock "
                f"{now.isoformat()} (tolerance {_span(self.future_tolerance)}, {FUTURE_SETTING})",
                "future",
            )
        state = self._symbols.get(bar.symbol)
        last = state.last if state else None
        if state is None or last is None:
            return BarVerdict()
        if bar.ts == last:
            return BarVerdict(kind="duplicate")
        if bar.ts < last:
            return BarVerdict(kind="older")
        gap = bar.ts - last
        if self.max_gap is None or gap <= self.max_gap:
            return BarVerdict()
        if now - bar.ts <= self.max_gap:
            return BarVerdict(resumed_after=gap)  # the wall clock vouches for it: a live feed catching up
        unconfirmed = state.unconfirmed
        if unconfirmed is not None and unconfirmed < bar.ts <= unconfirmed + self.max_gap:
            return BarVerdict(resumed_after=gap)  # follows the refused jump: the data did resume there
        return BarVerdict(
            f"bar refused: {bar.symbol} {bar.ts.isoformat()} is {_span(gap)} after its last bar "
            f"{last.isoformat()} (more than {_span(self.max_gap)}, {GAP_SETTING}); a next bar within "
            f"{_span(self.max_gap)} of this one confirms a resumption",
            "gap",
        )


def _span(delta: timedelta) -> str:
    """A short human span: 45s, 3m 20s, 5h 2m, 27,000d 3h."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days:,}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


def replay_refusals(
    timestamps: dict[str, list[datetime]], now: datetime, future_tolerance: timedelta, max_gap: timedelta | None
) -> dict[tuple[str, datetime], str]:
    """The bars of a replay not to publish, (symbol, time) -> why: after the wall clock, or outside its span.

    A replay knows all of its bars, so it needs no confirmation: a bar separated from every
    neighbour of its symbol by more than ``max_gap`` lies outside the replay's span (a symbol of
    one or two bars has no span to judge by).
    """
    refused: dict[tuple[str, datetime], str] = {}
    for symbol, moments in timestamps.items():
        kept = []
        for ts in sorted(moments):
            if ts - now > future_tolerance:
                refused[(symbol, ts)] = (
                    f"bar refused: {symbol} {ts.isoformat()} is {_span(ts - now)} ahead of the clock "
                    f"{now.isoformat()} (tolerance {_span(future_tolerance)}, {FUTURE_SETTING})"
                )
            else:
                kept.append(ts)
        if max_gap is None or len(kept) < 3:
            continue
        for index, ts in enumerate(kept):
            before = ts - kept[index - 1] if index > 0 else None
            after = kept[index + 1] - ts if index + 1 < len(kept) else None
            if all(step is None or step > max_gap for step in (before, after)):
                refused[(symbol, ts)] = (
                    f"bar refused: {symbol} {ts.isoformat()} lies outside the replay's span: more than "
                    f"{_span(max_gap)} from every other bar of {symbol} ({GAP_SETTING})"
                )
    return refused
