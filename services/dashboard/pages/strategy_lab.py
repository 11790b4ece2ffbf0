"""Strategy Lab: every registered strategy with its idea, parameter schema and example commands.

Reference only: nothing here runs a backtest or a session; copy a command into a terminal instead.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from logos.strategies import STRATEGIES, Strategy

CONSTRAINTS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def parameter_table(strategy: Strategy) -> pd.DataFrame:  # type: ignore[type-arg]
    """One row per parameter: type, default, bounds and description, from the pydantic schema."""
    rows = []
    for name, field in strategy.params_model.model_fields.items():
        bounds = []
        for metadata in field.metadata:
            for attribute, symbol in CONSTRAINTS:
                value = getattr(metadata, attribute, None)
                if value is not None:
                    bounds.append(f"{symbol} {value}")
        annotation: Any = field.annotation
        rows.append(
            {
                "parameter": name,
                "type": getattr(annotation, "__name__", str(annotation)),
                "default": str(field.default),
                "bounds": ", ".join(bounds) or "—",
                "description": field.description or "",
            }
        )
    return pd.DataFrame(rows, columns=["parameter", "type", "default", "bounds", "description"])


def example_commands(strategy: Strategy) -> str:  # type: ignore[type-arg]
    params = " ".join(f"--param {name}={field.default}" for name, field in strategy.params_model.model_fields.items())
    suffix = f" {params}" if params else ""
    return (
        f"logos strategies show {strategy.name}\n"
        f"logos backtest --fixture sma_demo_1m --strategy {strategy.name}{suffix}\n"
        f"logos trade --paper --feed replay --fixture sma_demo_1m --strategy {strategy.name}{suffix}"
    )


def main() -> None:
    st.title("Strategy Lab")
    st.caption(
        f"{len(STRATEGIES)} strategies in the registry (`logos.strategies`). Each turns bars into a target "
        "exposure in [-1, 1]; this page documents them and never runs one."
    )
    for name in sorted(STRATEGIES):
        strategy = STRATEGIES[name]
        with st.expander(f"**{name}** — {strategy.summary}", expanded=name == "sma_cross"):
            st.markdown(strategy.description.replace("\n", " ", 1) if strategy.description else "_No docstring._")
            table = parameter_table(strategy)
            if table.empty:
                st.caption("No parameters.")
            else:
                st.dataframe(table, hide_index=True, width="stretch")
            st.code(example_commands(strategy), language="bash")


main()
