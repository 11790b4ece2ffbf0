"""Live Monitor: account, positions, fills, risk state and denials, PnL and the log of one session.

The panels refresh on their own every 2, 5 or 10 seconds; each refresh reads only what the session's
event log and the log file gained since the previous one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from services.dashboard import data_access
from services.dashboard.components.empty_state import empty_state, problems
from services.dashboard.components.equity_chart import pnl_chart
from services.dashboard.components.log_viewer import log_viewer
from services.dashboard.components.metrics_cards import formatted
from services.dashboard.state import REFRESH_CHOICES, chart_theme, current_paths, refresh_seconds

RECENT_FILLS = 50
ACCOUNT_CARDS = (("equity", "Equity"), ("cash", "Cash"), ("realized_pnl", "Realized PnL"),
                 ("unrealized_pnl", "Unrealized PnL"), ("gross_exposure", "Gross exposure"))  # fmt: skip


def panels(session_id: str) -> None:
    """Everything that refreshes: read the session again (incrementally) and draw it."""
    paths = current_paths()
    snapshot = data_access.load_live_snapshot(paths, session_id)
    st.caption(
        f"Last refresh {datetime.now(UTC).strftime('%H:%M:%S UTC')} · "
        f"{'finished' if snapshot.finished else 'running (or stopped before writing its files)'}"
    )
    problems(snapshot.problems)
    if snapshot.account.empty and snapshot.fills.empty and snapshot.denials.empty:
        empty_state(
            "Nothing recorded in this session yet",
            f"`{snapshot.directory}` has no account snapshot, fill or denial so far. The executor appends to "
            "`state.jsonl` as bars are handled; this page picks them up on its next refresh.",
        )
    st.subheader("Account")
    cards = st.columns(len(ACCOUNT_CARDS))
    for column, (key, name) in zip(cards, ACCOUNT_CARDS, strict=True):
        column.metric(name, formatted(snapshot.latest.get(key), "ratio"), border=True)
    if not snapshot.account.empty:
        pnl_chart(snapshot.account, chart_theme(), key="live_pnl")
    positions, fills = st.columns(2)
    with positions:
        st.subheader("Positions")
        if snapshot.positions.empty:
            st.caption("Flat: no open position.")
        else:
            st.dataframe(snapshot.positions, hide_index=True, width="stretch")
    with fills:
        st.subheader("Recent fills")
        if snapshot.fills.empty:
            st.caption("No fill yet.")
        else:
            recent = snapshot.fills.tail(RECENT_FILLS).iloc[::-1]
            st.dataframe(recent, hide_index=True, width="stretch", height=260)
    st.subheader("Risk")
    state = snapshot.trading_state.upper()
    st.markdown(f"Trading state: **{state}** · denied intents: **{len(snapshot.denials)}**")
    if not snapshot.state_changes.empty:
        st.dataframe(snapshot.state_changes, hide_index=True, width="stretch")
    if snapshot.denials.empty:
        st.caption("No intent was denied.")
    else:
        counts = snapshot.denials.groupby("reason").size().rename("denied").reset_index()
        left, right = st.columns([1, 3])
        left.dataframe(counts, hide_index=True, width="stretch")
        right.dataframe(snapshot.denials.tail(RECENT_FILLS).iloc[::-1], hide_index=True, width="stretch")
    st.subheader("Log")
    logs = {"session run.log": snapshot.log} if snapshot.log and snapshot.log.parent.name == "logs" else {}
    logs |= {name: path for name, path in data_access.log_files(paths).items() if path != snapshot.log}
    if snapshot.log and "session run.log" not in logs and snapshot.log.name not in logs:
        logs[snapshot.log.name] = snapshot.log
    log_viewer(logs, key="live_log")


def main() -> None:
    paths = current_paths()
    st.title("Live Monitor")
    sessions = data_access.list_live_sessions(paths)
    if not sessions:
        empty_state(
            "No live session yet",
            f"Sessions are written under `{paths.live_sessions}` (state.jsonl as they run; orders.csv, "
            "trades.csv, positions.csv, account.csv and session.md when they end).",
            "make paper   # or: logos trade --paper --feed replay --fixture sma_demo_1m --strategy sma_cross",
        )
        return
    names = [item.session_id for item in sessions]
    described = {item.session_id: item for item in sessions}
    pick, every = st.columns([3, 1])
    chosen = pick.selectbox(
        "Session",
        names,
        key="live_session",
        format_func=lambda name: (
            name
            + (" (latest_session)" if described[name].is_latest else "")
            + ("" if described[name].finished else " · running")
        ),
    )
    interval = every.selectbox(
        "Refresh every", REFRESH_CHOICES, index=REFRESH_CHOICES.index(refresh_seconds()),
        format_func=lambda seconds: f"{seconds} s", key="live_refresh",
    )  # fmt: skip
    st.session_state["refresh_seconds"] = interval
    st.fragment(run_every=interval)(panels)(chosen)
    with st.expander("Session summary (session.md)"):
        snapshot = data_access.load_live_snapshot(paths, chosen)
        if snapshot.summary_markdown:
            st.markdown(snapshot.summary_markdown)
        else:
            st.caption("session.md is written when the session ends.")
        for plot in snapshot.plots:
            st.image(str(plot), caption=plot.name, alt=f"Equity of session {chosen} over time")


main()
