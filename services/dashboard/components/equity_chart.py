"""Plotly charts of equity: one run with its drawdown overlaid, several runs overlaid, a session's PnL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from services.dashboard.state import Theme
from services.dashboard.theme import DRAWDOWN, EQUITY, themed

MAX_POINTS = 2500


def thinned(frame: pd.DataFrame, points: int = MAX_POINTS) -> pd.DataFrame:
    """Keep at most ``points`` rows, evenly spaced, always with the first and last (charts stay fast)."""
    if len(frame) <= points:
        return frame
    positions = np.unique(np.linspace(0, len(frame) - 1, points).astype(np.int64))
    return frame.iloc[positions]


def equity_figure(equity: pd.DataFrame, theme: Theme, title: str = "Equity and drawdown") -> go.Figure:
    """Equity on the left axis, drawdown as a shaded area hanging from the top on the right axis."""
    frame = thinned(equity)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=frame["timestamp"], y=frame["equity"], name="equity", line={"color": EQUITY, "width": 1.6})
    )
    depth = frame["drawdown"].astype(float) * 100
    figure.add_trace(
        go.Scatter(
            x=frame["timestamp"], y=depth, name="drawdown %", yaxis="y2", fill="tozeroy",
            line={"color": DRAWDOWN, "width": 0.8}, fillcolor="rgba(213, 94, 0, 0.25)",
        )
    )  # fmt: skip
    deepest = float(depth.min()) if len(depth) else 0.0
    themed(figure, theme, title)
    # the drawdown axis spans four times the deepest drawdown, so its area takes the top quarter
    figure.update_layout(
        yaxis={"title": {"text": "equity"}},
        yaxis2={"title": {"text": "drawdown %"}, "overlaying": "y", "side": "right", "showgrid": False,
                "range": [min(deepest, -0.01) * 4, 0], "automargin": True},
    )  # fmt: skip
    return figure


def equity_chart(equity: pd.DataFrame, theme: Theme, title: str = "Equity and drawdown", key: str = "") -> None:
    """Render one run's equity with its drawdown overlay."""
    st.plotly_chart(equity_figure(equity, theme, title), theme=None, width="stretch", key=key or None)


def overlay_chart(curves: dict[str, pd.DataFrame], theme: Theme, key: str = "") -> None:
    """Render several runs' equity curves, each rebased to 100 at its start, on one chart."""
    figure = go.Figure()
    for label, equity in curves.items():
        frame = thinned(equity)
        if frame.empty:
            continue
        rebased = frame["equity"].astype(float) / float(frame["equity"].iloc[0]) * 100
        figure.add_trace(go.Scatter(x=frame["timestamp"], y=rebased, name=label, line={"width": 1.6}))
    themed(figure, theme, "Equity, rebased to 100")
    st.plotly_chart(figure, theme=None, width="stretch", key=key or None)


def pnl_chart(account: pd.DataFrame, theme: Theme, key: str = "") -> None:
    """Render a session's PnL over time: total (equity change), realized and unrealized."""
    frame = thinned(account.dropna(subset=["ts", "equity"]))
    figure = go.Figure()
    if not frame.empty:
        start = float(frame["equity"].iloc[0])
        figure.add_trace(go.Scatter(x=frame["ts"], y=frame["equity"] - start, name="total PnL", line={"width": 1.8}))
        for column in ("realized_pnl", "unrealized_pnl"):
            if column in frame.columns:
                figure.add_trace(
                    go.Scatter(x=frame["ts"], y=frame[column], name=column.replace("_pnl", ""), line={"width": 1.0})
                )
    themed(figure, theme, "PnL timeline", height=320)
    st.plotly_chart(figure, theme=None, width="stretch", key=key or None)
