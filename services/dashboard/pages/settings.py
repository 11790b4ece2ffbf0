"""Settings: the dashboard's look and refresh interval, and the deployment's configuration, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from services.dashboard.config import DashboardSettings, dotenv_file, stack_environment
from services.dashboard.masking import mask_value
from services.dashboard.state import REFRESH_CHOICES, THEMES, refresh_seconds, shown_path, theme_choice


def plain(value: Any) -> Any:
    """A JSON-ready copy (paths as a shell prints them, other objects as text)."""
    return json.loads(json.dumps(value, default=lambda item: shown_path(item) if isinstance(item, Path) else str(item)))


def main() -> None:
    st.title("Settings")
    st.subheader("Display")
    left, right = st.columns(2)
    theme = left.radio(
        "Chart theme", THEMES, index=THEMES.index(theme_choice()), horizontal=True, key="settings_theme",
        help="auto follows the app's light or dark theme (switch it in the ⋮ menu, top right).",
    )  # fmt: skip
    refresh = right.selectbox(
        "Live Monitor refresh", REFRESH_CHOICES, index=REFRESH_CHOICES.index(refresh_seconds()),
        format_func=lambda seconds: f"every {seconds} s", key="settings_refresh",
    )  # fmt: skip
    st.session_state["theme"] = theme
    st.session_state["refresh_seconds"] = refresh
    st.caption("These choices last for this browser session; the dashboard stores nothing on disk.")

    settings = DashboardSettings()
    st.subheader("Dashboard configuration")
    st.json(plain(mask_value(settings.model_dump())), expanded=2)

    paths = settings.logos.paths
    st.subheader("Where the dashboard reads")
    locations = {
        "backtests": paths.runs,
        "live sessions": paths.live_sessions,
        "latest session pointer": paths.latest_session,
        "ML runs": paths.ml_runs,
        "lessons": paths.lessons,
        "logs": paths.logs,
        "bar cache": paths.bar_cache,
    }
    st.dataframe(
        pd.DataFrame(
            [
                {"what": what, "path": shown_path(path), "present": "yes" if path.exists() else "no"}
                for what, path in locations.items()
            ]
        ),
        hide_index=True,
        width="stretch",
    )

    st.subheader("Environment")
    environment = stack_environment()
    if environment:
        st.dataframe(
            pd.DataFrame([{"variable": name, "value": str(value)} for name, value in environment.items()]),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No LOGOS_, FEED_, ML_, RISK_, EXECUTOR_, BRAIN_, DASHBOARD_ or REDIS_ variable is set.")

    st.subheader(".env file")
    dotenv = dotenv_file(paths.root / ".env")
    if dotenv is None:
        st.caption(f"No `.env` in `{paths.root}` (docker compose reads one; the local stack uses the environment).")
    else:
        st.json(plain(dotenv), expanded=True)
    st.caption("Values of anything named like KEY, SECRET, TOKEN or PASSWORD, and passwords in URLs, are masked.")


main()
