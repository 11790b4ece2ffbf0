"""A paginated trades table with side, symbol and date filters and a CSV download of the filtered rows."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import streamlit as st

PAGE_SIZES = (25, 50, 100, 250)


def filtered(trades: pd.DataFrame, sides: list[str], symbols: list[str], dates: tuple[date, ...]) -> pd.DataFrame:
    """Keep the rows of the chosen sides and symbols within the date range (inclusive)."""
    frame = trades
    if sides and "side" in frame.columns:
        frame = frame[frame["side"].isin(sides)]
    if symbols and "symbol" in frame.columns:
        frame = frame[frame["symbol"].isin(symbols)]
    if len(dates) == 2 and "ts" in frame.columns and pd.api.types.is_datetime64_any_dtype(frame["ts"]):
        days = frame["ts"].dt.date
        frame = frame[(days >= dates[0]) & (days <= dates[1])]
    return frame


def trades_table(trades: pd.DataFrame, key: str, file_name: str = "trades.csv") -> None:
    """Render the filters, one page of rows and the download button."""
    if trades.empty:
        st.caption("No fills in this run.")
        return
    sides = sorted(trades["side"].dropna().unique()) if "side" in trades.columns else []
    symbols = sorted(trades["symbol"].dropna().unique()) if "symbol" in trades.columns else []
    left, middle, right = st.columns([1, 1, 2])
    chosen_sides = left.multiselect("Side", sides, key=f"{key}_sides", placeholder="all sides")
    chosen_symbols = middle.multiselect("Symbol", symbols, key=f"{key}_symbols", placeholder="all symbols")
    dates: tuple[date, ...] = ()
    if "ts" in trades.columns and pd.api.types.is_datetime64_any_dtype(trades["ts"]) and trades["ts"].notna().any():
        first, last = trades["ts"].min().date(), trades["ts"].max().date()
        picked = right.date_input("Dates", (first, last), min_value=first, max_value=last, key=f"{key}_dates")
        dates = tuple(picked) if isinstance(picked, tuple | list) else ()
    rows = filtered(trades, chosen_sides, chosen_symbols, dates)
    size_column, page_column, info_column = st.columns([1, 1, 2])
    page_size = size_column.selectbox("Rows per page", PAGE_SIZES, index=1, key=f"{key}_page_size")
    pages = max(1, math.ceil(len(rows) / page_size))
    page = page_column.number_input("Page", min_value=1, max_value=pages, value=1, step=1, key=f"{key}_page")
    page = min(int(page), pages)
    info_column.caption(f"{len(rows):,} of {len(trades):,} fills · page {page} of {pages}")
    shown = rows.iloc[(page - 1) * page_size : page * page_size]
    st.dataframe(shown, hide_index=True, width="stretch")
    st.download_button(
        "Download filtered fills (CSV)",
        data=lambda: rows.to_csv(index=False).encode("utf-8"),  # built only when clicked
        file_name=file_name,
        mime="text/csv",
        key=f"{key}_download",
        on_click="ignore",
    )
