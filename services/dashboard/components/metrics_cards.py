"""Metric cards: CAGR, Sharpe, MaxDD, WinRate and Exposure of a run, with deltas against another run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from logos.backtest.metrics import unannualized

# (metrics.json key, label, kind, help)
CARDS = (
    ("cagr", "CAGR", "percent", "Compound annual growth rate of equity."),
    ("sharpe", "Sharpe", "ratio", "Annualized mean of per-bar returns over their standard deviation."),
    ("max_drawdown", "MaxDD", "percent", "Deepest fall of equity below its running peak."),
    ("win_rate", "WinRate", "percent", "Share of round trips that made money after fees."),
    ("exposure", "Exposure", "percent", "Share of bars with a position."),
)


def number(value: Any) -> float | None:
    """The metric as a float, or None when it is missing or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result else None  # NaN counts as missing


def formatted(value: Any, kind: str) -> str:
    result = number(value)
    if result is None:
        return "—"
    if kind == "percent":
        percent = result * 100
        if abs(percent) >= 1e6:
            return f"{percent:.2e} %"
        return f"{percent:,.0f} %" if abs(percent) >= 1000 else f"{percent:,.2f} %"
    return f"{result:,.0f}" if abs(result) >= 10_000 else f"{result:,.2f}"


def delta(value: Any, other: Any, kind: str) -> str | None:
    """The change from ``other`` to ``value`` (percentage points for percent metrics)."""
    current, base = number(value), number(other)
    if current is None or base is None:
        return None
    change = current - base
    return f"{change * 100:+,.2f} pp" if kind == "percent" else f"{change:+,.2f}"


def not_annualized(metrics: Mapping[str, Any]) -> dict[str, str]:
    """Which annualized figures the run's span was too short for, and why (none for runs that do not say)."""
    span = number(metrics.get("span_days"))
    return unannualized(span) if span is not None else {}


def metrics_cards(metrics: Mapping[str, Any], compare_to: Mapping[str, Any] | None = None) -> None:
    """Render one card per metric; with ``compare_to``, each card shows its delta against it."""
    columns = st.columns(len(CARDS))
    left_out = not_annualized(metrics)
    for column, (key, label, kind, help_text) in zip(columns, CARDS, strict=True):
        change = delta(metrics.get(key), compare_to.get(key), kind) if compare_to is not None else None
        shown = formatted(metrics.get(key), kind)
        if key in left_out and number(metrics.get(key)) is None:
            shown, help_text = "n/a", f"{help_text} Not annualized: {left_out[key]}."
        column.metric(label, shown, delta=change, help=help_text, border=True)
