"""Overview: KPIs, the most recent backtests and the latest live session with its PnL and log."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services.dashboard import data_access
from services.dashboard.components.empty_state import empty_state
from services.dashboard.components.equity_chart import pnl_chart
from services.dashboard.components.log_viewer import log_viewer
from services.dashboard.components.metrics_cards import formatted
from services.dashboard.state import chart_theme, current_paths

RECENT = 10


def status(item: data_access.BacktestSummary) -> str:
    if item.problems and not item.has_results:
        return "incomplete"
    return "legacy names" if item.legacy_files else "ok"


def recent_table(backtests: list[data_access.BacktestSummary]) -> pd.DataFrame:
    """One row per run: what ran on what, when, and its headline metrics."""
    return pd.DataFrame(
        [
            {
                "run": item.run_id,
                "strategy": item.strategy or "—",
                "symbol": item.symbol or "—",
                "modified": item.modified.strftime("%Y-%m-%d %H:%M"),
                "return": formatted(item.metrics.get("total_return"), "percent"),
                "Sharpe": formatted(item.metrics.get("sharpe"), "ratio"),
                "MaxDD": formatted(item.metrics.get("max_drawdown"), "percent"),
                "status": status(item),
            }
            for item in backtests[:RECENT]
        ]
    )


def main() -> None:
    paths = current_paths()
    st.title("Overview")
    backtests = data_access.list_backtests(paths)
    sessions = data_access.list_live_sessions(paths)
    strategies = {item.strategy for item in backtests if item.strategy}
    models = data_access.list_ml_runs(paths)
    kpis = st.columns(5)
    kpis[0].metric("Backtests", len(backtests), border=True)
    kpis[1].metric("Strategies tested", len(strategies), border=True)
    kpis[2].metric("Live sessions", len(sessions), border=True)
    kpis[3].metric("Model runs", len(models), border=True)
    last = backtests[0].modified if backtests else None
    kpis[4].metric(
        "Last backtest",
        last.strftime("%b %d") if last else "—",
        help=f"Newest run directory, modified {last:%Y-%m-%d %H:%M} UTC." if last else None,
        border=True,
    )

    st.subheader("Recent backtests")
    if backtests:
        narrow = {"run": st.column_config.TextColumn(width="medium")}
        st.dataframe(recent_table(backtests), hide_index=True, width="stretch", column_config=narrow)
    else:
        empty_state(
            "No backtests yet",
            f"Backtests appear here once a run directory exists under `{paths.runs}`.",
            "logos backtest --fixture sma_demo_1m --strategy sma_cross",
        )

    if models:
        with st.expander(f"Model runs ({len(models)})"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {"run": model.stamp, "role": model.role or "—", **{k: str(v) for k, v in model.metrics.items()}}
                        for model in models
                    ]
                ),
                hide_index=True,
                width="stretch",
            )

    st.subheader("Latest live session")
    if not sessions:
        empty_state(
            "No live session yet",
            f"Paper and live sessions are written under `{paths.live_sessions}`.",
            "make paper   # or: logos trade --paper --feed replay --fixture sma_demo_1m --strategy sma_cross",
        )
        return
    session = sessions[0]
    snapshot = data_access.load_live_snapshot(paths, session.session_id)
    status = "finished" if snapshot.finished else "running (or stopped before writing its files)"
    st.caption(f"Session `{session.session_id}` · {status} · trading state **{snapshot.trading_state}**")
    latest = snapshot.latest
    start = float(snapshot.account["equity"].iloc[0]) if not snapshot.account.empty else None
    equity = latest.get("equity")
    cards = st.columns(4)
    cards[0].metric("Equity", formatted(equity, "ratio"), border=True)
    pnl = float(equity) - start if equity is not None and start is not None else None
    cards[1].metric("PnL", formatted(pnl, "ratio"), border=True)
    cards[2].metric("Fills", len(snapshot.fills), border=True)
    cards[3].metric("Denied intents", len(snapshot.denials), border=True)
    if snapshot.account.empty:
        st.caption("No account snapshot yet.")
    else:
        pnl_chart(snapshot.account, chart_theme(), key="overview_pnl")
    logs = ({"session run.log": snapshot.log} if snapshot.log else {}) | data_access.log_files(paths)
    log_viewer(logs, key="overview_log")


main()
