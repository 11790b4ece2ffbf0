"""The read-only dashboard: ``streamlit run services/dashboard/app.py`` (or ``logos serve dashboard``).

It reads the artifact store under ``LOGOS_HOME`` (runs/, logs/) and never writes, trades or shows a
secret. Health: ``GET /_stcore/health``.
"""

from __future__ import annotations

import streamlit as st

from logos import __version__
from services.dashboard.state import current_paths, shown_path

PAGES = {
    "Results": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/backtests.py", title="Backtests", icon=":material/query_stats:"),
        st.Page("pages/live_monitor.py", title="Live Monitor", icon=":material/monitor_heart:"),
    ],
    "Reference": [
        st.Page("pages/strategy_lab.py", title="Strategy Lab", icon=":material/science:"),
        st.Page("pages/tutor.py", title="Tutor", icon=":material/school:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ],
}


def main() -> None:
    """Lay out the frame every page shares and run the selected page."""
    # a read-only view has no Deploy, Rerun or Clear cache, however it was started (`logos serve dashboard`
    # and .streamlit/config.toml set it before the first page too)
    st.set_option("client.toolbarMode", "viewer")
    st.set_page_config(page_title="Logos", page_icon=":material/insights:", layout="wide")
    # metric values a little smaller than Streamlit's default, so five cards fit a 1280 px window unclipped
    st.html("<style>[data-testid='stMetricValue'] { font-size: 1.6rem; }</style>")
    page = st.navigation(PAGES)
    with st.sidebar:
        st.caption(f"Logos {__version__} · read-only view of `{shown_path(current_paths().root)}`")
    page.run()


main()
