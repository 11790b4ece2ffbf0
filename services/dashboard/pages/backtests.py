"""Backtests: filter and pick a run, or compare two; metrics, equity with drawdown, fills, config, log."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from services.dashboard import data_access
from services.dashboard.components.empty_state import empty_state, problems
from services.dashboard.components.equity_chart import equity_chart, overlay_chart
from services.dashboard.components.log_viewer import log_viewer
from services.dashboard.components.metrics_cards import CARDS, delta, formatted, metrics_cards
from services.dashboard.components.trades_table import trades_table
from services.dashboard.state import chart_theme, current_paths


def label(item: data_access.BacktestSummary) -> str:
    described = " · ".join(part for part in (item.strategy, item.symbol) if part)
    return f"{item.run_id} ({described})" if described else item.run_id


def sidebar_filters(backtests: list[data_access.BacktestSummary]) -> list[data_access.BacktestSummary]:
    """Symbol, strategy and date filters in the sidebar; returns the runs that pass."""
    with st.sidebar:
        st.subheader("Filter runs")
        symbols = sorted({item.symbol for item in backtests if item.symbol})
        strategies = sorted({item.strategy for item in backtests if item.strategy})
        chosen_symbols = st.multiselect("Symbol", symbols, key="bt_symbols", placeholder="all symbols")
        chosen_strategies = st.multiselect("Strategy", strategies, key="bt_strategies", placeholder="all strategies")
        days = [item.modified.date() for item in backtests]
        first, last = min(days), max(days)
        picked = st.date_input("Run date", (first, last), min_value=first, max_value=last, key="bt_dates")
    dates: tuple[date, ...] = tuple(picked) if isinstance(picked, tuple | list) else ()
    return [
        item
        for item in backtests
        if (not chosen_symbols or item.symbol in chosen_symbols)
        and (not chosen_strategies or item.strategy in chosen_strategies)
        and (len(dates) != 2 or dates[0] <= item.modified.date() <= dates[1])
    ]


def single_run(run: data_access.BacktestRun) -> None:
    summary = run.summary
    st.caption(
        " · ".join(
            part
            for part in (
                f"strategy **{summary.strategy}**" if summary.strategy else "",
                f"symbol **{summary.symbol}**" if summary.symbol else "",
                f"{summary.start} → {summary.end}" if summary.start else "",
                ", ".join(f"{key}={value}" for key, value in summary.params.items()),
            )
            if part
        )
    )
    problems(run.problems, run.legacy_files)
    if not summary.has_results and run.equity.empty and run.trades.empty:
        empty_state(
            "This run has no results yet",
            f"`{summary.directory}` holds no readable `metrics.json`, `equity.parquet` or `trades.csv`. A backtest "
            "writes them all at once when it finishes; a run still being copied fills in on the next refresh.",
        )
        return
    metrics_cards(summary.metrics)
    if run.equity.empty:
        st.info("No equity curve in this run (`equity.parquet`, or `equity.csv` in older runs).")
    else:
        equity_chart(run.equity, chart_theme(), key="bt_equity")
    if not run.breakdown.empty:
        st.subheader("Symbols (one account)")
        st.dataframe(run.breakdown, hide_index=True, width="stretch")
    if summary.risk.get("limits") is not None:
        risk_record(run)
    fills, trips, image, config, log = st.tabs(["Fills", "Round trips", "Plot", "Configuration", "Log"])
    with fills:
        trades_table(run.trades, key="bt_trades", file_name=f"{summary.run_id}_trades.csv")
    with trips:
        if run.round_trips.empty:
            st.caption("No round trips in this run.")
        else:
            st.dataframe(run.round_trips, hide_index=True, width="stretch")
    with image:
        if run.image is None:
            st.caption("No equity.png in this run.")
        else:
            st.image(
                str(run.image),
                caption=run.image.name,
                alt=f"Equity curve and drawdown of {summary.strategy or 'the run'} on {summary.symbol or 'its data'}",
            )
    with config:
        if run.config_text:
            st.code(run.config_text, language="yaml")
        else:
            st.caption("No config.yaml in this run.")
    with log:
        log_viewer({"run.log": run.log} if run.log else {}, key="bt_log")


def risk_record(run: data_access.BacktestRun) -> None:
    """What the risk gate denied, by rule and one by one, and how the trading state moved."""
    denied = run.summary.risk.get("denials") or {}
    st.subheader("Risk gate")
    if denied:
        st.caption(" · ".join(f"**{reason}** {count:,} denied" for reason, count in sorted(denied.items())))
    else:
        st.caption("No intent denied by the stack's risk limits.")
    if not run.denials.empty:
        st.dataframe(run.denials, hide_index=True, width="stretch")
    if not run.risk_events.empty:
        st.dataframe(run.risk_events, hide_index=True, width="stretch")


def compare(backtests: list[data_access.BacktestSummary]) -> None:
    labels = {label(item): item for item in backtests}
    names = list(labels)
    left, right = st.columns(2)
    first = left.selectbox("Run A", names, index=0, key="bt_compare_a")
    second = right.selectbox("Run B", names, index=min(1, len(names) - 1), key="bt_compare_b")
    run_a = data_access.load_backtest(current_paths(), labels[first].run_id)
    run_b = data_access.load_backtest(current_paths(), labels[second].run_id)
    st.markdown("**Run B against Run A**")
    metrics_cards(run_b.summary.metrics, compare_to=run_a.summary.metrics)
    rows = []
    for key, name, kind, _ in CARDS:
        a, b = run_a.summary.metrics.get(key), run_b.summary.metrics.get(key)
        rows.append({"metric": name, "Run A": formatted(a, kind), "Run B": formatted(b, kind),
                     "B - A": delta(b, a, kind) or "—"})  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    curves = {f"A: {run_a.summary.run_id}": run_a.equity, f"B: {run_b.summary.run_id}": run_b.equity}
    if all(frame.empty for frame in curves.values()):
        st.info("Neither run has an equity curve to overlay.")
    else:
        overlay_chart(curves, chart_theme(), key="bt_overlay")
    problems((*run_a.problems, *run_b.problems), (*run_a.legacy_files, *run_b.legacy_files))


def main() -> None:
    paths = current_paths()
    st.title("Backtests")
    backtests = data_access.list_backtests(paths)
    if not backtests:
        empty_state(
            "No backtests yet",
            f"Each backtest writes `runs/<id>/` under `{paths.root}`: metrics.json, trades.csv, round_trips.csv, "
            "equity.parquet, equity.png, config.yaml and logs/run.log. Run one and it appears here.",
            "logos backtest --fixture sma_demo_1m --strategy sma_cross",
        )
    else:
        shown = sidebar_filters(backtests)
        if not shown:
            empty_state("No run matches the filters", "Widen the symbol, strategy or date filters in the sidebar.")
        elif st.toggle("Compare runs", key="bt_compare", disabled=len(shown) < 2):
            compare(shown)
        else:
            labels = {label(item): item for item in shown}
            complete = next((index for index, item in enumerate(shown) if item.has_results), 0)
            chosen = st.selectbox("Run", list(labels), index=complete, key="bt_run")
            single_run(data_access.load_backtest(paths, labels[chosen].run_id))
    legacy = data_access.legacy_plots(paths)
    if legacy:
        with st.expander(f"Legacy plots in runs/ ({len(legacy)})"):
            st.warning("These images use the old layout `runs/equity_{SYMBOL}_{STRATEGY}.png`; new runs keep theirs.")
            for image in legacy:
                st.image(str(image), caption=image.name, alt=f"Legacy equity plot {image.stem}")


main()
