"""A log viewer: the last N lines of one log, filtered by a regular expression, secrets masked."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from services.dashboard.components.empty_state import empty_state
from services.dashboard.data_access import tail_log

LINE_CHOICES = (50, 100, 200, 500, 1000)


def log_viewer(logs: dict[str, Path], key: str) -> None:
    """Render a picker of ``logs`` (label → path), the line count, the filter and the lines."""
    if not logs:
        empty_state(
            "No log yet",
            "Logs appear here once a service or session writes `logs/live.log`, `logs/app.log` or a "
            "session's `logs/run.log`.",
        )
        return
    pick, count, pattern_column = st.columns([2, 1, 2])
    label = pick.selectbox("Log", list(logs), key=f"{key}_log")
    lines = count.selectbox("Last lines", LINE_CHOICES, index=2, key=f"{key}_lines")
    pattern = pattern_column.text_input("Filter (regex)", key=f"{key}_pattern", placeholder="e.g. ERROR|denied")
    view = tail_log(logs[label], int(lines), pattern)
    if view.problem:
        st.warning(view.problem)
    if not view.exists:
        st.caption(f"{logs[label]} is not there (yet).")
    elif not view.lines:
        st.caption("No line matches." if pattern else "The log is empty.")
    else:
        st.code("\n".join(view.lines), language="log", height=320)
