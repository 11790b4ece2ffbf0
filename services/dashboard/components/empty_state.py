"""The friendly card shown instead of a table or chart when there is nothing (yet) to show."""

from __future__ import annotations

import streamlit as st


def empty_state(title: str, body: str, hint: str = "") -> None:
    """Explain what is missing, where it would come from and (optionally) the command that makes it."""
    with st.container(border=True):
        st.markdown(f"**{title}**")
        st.markdown(body)
        if hint:
            st.code(hint, language="bash")


def problems(messages: tuple[str, ...] | list[str], legacy: tuple[str, ...] | list[str] = ()) -> None:
    """Show unreadable files and legacy file names as warnings (never as errors: the page still works)."""
    if legacy:
        st.warning(
            "This run uses legacy file names ("
            + ", ".join(f"`{name}`" for name in legacy)
            + "). They are shown, but new runs write `metrics.json`, `trades.csv`, `equity.parquet` and `equity.png`.",
            icon="⚠️",
        )
    for message in messages:
        st.warning(f"{message}. The rest of the page is shown; it will fill in once the file is complete.", icon="⏳")
