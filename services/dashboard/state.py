"""What one browser session remembers: refresh interval, chart theme, the selected run and session."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import streamlit as st

from logos.paths import Paths
from services.dashboard.config import DashboardSettings

REFRESH_CHOICES = (2, 5, 10)
THEMES = ("auto", "light", "dark")
Theme = Literal["light", "dark"]


def refresh_seconds() -> int:
    """The Live Monitor's refresh interval in seconds (2, 5 or 10; 5 by default)."""
    value = st.session_state.get("refresh_seconds", 5)
    return value if value in REFRESH_CHOICES else 5


def theme_choice() -> str:
    value = st.session_state.get("theme", "auto")
    return value if value in THEMES else "auto"


def chart_theme() -> Theme:
    """The chart theme: the one chosen in Settings, else the app's current light or dark theme."""
    choice = theme_choice()
    if choice in ("light", "dark"):
        return choice  # type: ignore[return-value]
    try:
        detected = st.context.theme.type
    except Exception:  # outside a browser session (tests) there is no theme to detect
        detected = None
    return "dark" if detected == "dark" else "light"


def current_paths() -> Paths:
    """Where the artifact store is (``LOGOS_HOME``), read from the settings on every run."""
    return DashboardSettings().logos.paths


def shown_path(path: Path) -> str:
    """A path as a shell prints it: ``~/logos`` for a directory under the user's home."""
    try:
        inside = path.relative_to(Path.home())
    except (ValueError, RuntimeError):  # elsewhere, or no home directory at all
        return str(path)
    return "~" if inside == Path() else f"~/{inside}"
