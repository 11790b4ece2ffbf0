"""The read-only dashboard: ``streamlit run services/dashboard/app.py`` (or ``logos serve dashboard``).

It reads the artifact store and never writes. Health: ``GET /_stcore/health``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from logos import __version__
from services.dashboard.config import DashboardSettings


def _count_dirs(path: Path) -> int:
    return sum(1 for child in path.iterdir() if child.is_dir()) if path.is_dir() else 0


def main() -> None:
    """Render the overview page."""
    settings = DashboardSettings()
    paths = settings.logos.paths
    st.set_page_config(page_title="Logos", layout="wide")
    st.title("Logos")
    st.caption(f"version {__version__} · read-only view of {paths.root.resolve()}")
    backtests = (
        [
            path
            for path in paths.runs.iterdir()
            if path.is_dir() and path.name not in {"live", "ml", "brain", "portfolio", "monitoring", "lessons"}
        ]
        if paths.runs.is_dir()
        else []
    )
    left, middle, right = st.columns(3)
    left.metric("Backtests", len(backtests))
    middle.metric("Live sessions", _count_dirs(paths.live_sessions))
    right.metric("Model runs", _count_dirs(paths.ml_runs))
    if not backtests and not paths.live_sessions.is_dir():
        st.info(
            "Nothing to show yet: no backtests and no live sessions under "
            f"`{paths.runs}`. Run a paper session (`make paper`) or a backtest, and this page fills in."
        )


main()
