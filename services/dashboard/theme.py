"""One Plotly look for every chart, in a light and a dark variant with the same colors and layout.

Colors are the Okabe-Ito palette, distinguishable with the common color-vision deficiencies; the
backgrounds are transparent so charts sit on the app's own background in either theme.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from services.dashboard.state import Theme

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
EQUITY = PALETTE[0]
DRAWDOWN = "#D55E00"
FONT = "Source Sans Pro, Segoe UI, Helvetica, Arial, sans-serif"
_TEXT = {"light": "#262730", "dark": "#FAFAFA"}
_GRID = {"light": "rgba(49, 51, 63, 0.12)", "dark": "rgba(250, 250, 250, 0.14)"}


def layout(theme: Theme, title: str = "", height: int = 380) -> dict[str, Any]:
    """The shared layout of a chart in ``theme``."""
    axis = {"gridcolor": _GRID[theme], "zerolinecolor": _GRID[theme], "linecolor": _GRID[theme], "automargin": True}
    return {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "height": height,
        "colorway": list(PALETTE),
        "font": {"family": FONT, "size": 13, "color": _TEXT[theme]},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 8, "r": 8, "t": 40 if title else 12, "b": 8},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        "hovermode": "x unified",
        "xaxis": axis,
        "yaxis": axis,
    }


def themed(figure: go.Figure, theme: Theme, title: str = "", height: int = 380) -> go.Figure:
    """Apply the shared layout to ``figure`` (secondary axes get the same grid)."""
    figure.update_layout(**layout(theme, title, height))
    figure.update_xaxes(gridcolor=_GRID[theme], zerolinecolor=_GRID[theme], automargin=True)
    figure.update_yaxes(gridcolor=_GRID[theme], zerolinecolor=_GRID[theme], automargin=True)
    return figure
