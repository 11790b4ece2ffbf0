"""Every dashboard page run with Streamlit's AppTest, on recorded artifacts and on an empty runs/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from services.dashboard import reading
from tests.ui.conftest import ALL_SECRETS, APP, PAGES, tree_digest


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "RETRY_DELAY_SECONDS", 0.0)


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page(page).run()
    assert not app.exception, [item.value for item in app.exception]
    return app


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _nodes(child)


def rendered(app: AppTest) -> str:
    """Everything the page sent to the browser, as text (element messages and table contents)."""
    parts = []
    for node in _nodes(app._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    parts += [frame.value.to_csv() for frame in app.dataframe]
    return "\n".join(parts)


def texts(app: AppTest) -> str:
    return "\n".join(str(item.value) for kind in (app.markdown, app.caption, app.code) for item in kind)


@pytest.mark.parametrize("page", list(PAGES))
def test_page_when_fixtures_then_renders_without_error(fixture_home: Path, page: str) -> None:
    app = open_page(page)

    assert [title.value for title in app.title] == [PAGES[page]]
    assert not app.error


@pytest.mark.parametrize("page", list(PAGES))
def test_page_when_runs_empty_then_renders_empty_states(empty_home: Path, page: str) -> None:
    app = open_page(page)

    assert [title.value for title in app.title] == [PAGES[page]]
    assert not app.error
    if page in ("pages/overview.py", "pages/backtests.py", "pages/live_monitor.py", "pages/tutor.py"):
        assert "No " in texts(app)  # "No backtests yet", "No live session yet", "No lessons yet"


def test_overview_when_fixtures_then_kpis_recent_runs_and_latest_session(fixture_home: Path) -> None:
    app = open_page("pages/overview.py")

    kpis = {metric.label: metric.value for metric in app.metric}
    assert kpis["Backtests"] == "5" and kpis["Live sessions"] == "3" and kpis["Strategies tested"] == "2"
    assert kpis["Model runs"] == "1"
    recent = app.dataframe[0].value
    assert set(recent["run"]) >= {"20240101_000000_sma_cross_sma_demo_1m", "legacy_sma_cross_DEMO"}
    assert "Session `20240101T090000Z`" in texts(app)  # the one runs/live/latest_session points at
    assert len(app.get("plotly_chart")) == 1  # the PnL timeline
    assert app.selectbox(key="overview_log_log").options  # a log tail


def test_backtests_when_run_picked_then_cards_chart_fills_and_filters(fixture_home: Path) -> None:
    app = open_page("pages/backtests.py")
    app.selectbox(key="bt_run").select_index(
        next(i for i, o in enumerate(app.selectbox(key="bt_run").options) if o.startswith("20240101_000000"))
    ).run()

    assert [metric.label for metric in app.metric] == ["CAGR", "Sharpe", "MaxDD", "WinRate", "Exposure"]
    assert len(app.get("plotly_chart")) == 1
    assert app.get("download_button")
    fills = len(app.dataframe[0].value)
    app.multiselect(key="bt_trades_sides").select("buy").run()
    assert 0 < len(app.dataframe[0].value) < fills and set(app.dataframe[0].value["side"]) == {"buy"}
    app.multiselect(key="bt_strategies").select("momentum").run()
    assert all("momentum" in option for option in app.selectbox(key="bt_run").options)


def test_backtests_when_legacy_or_partial_run_then_warned_not_failed(fixture_home: Path) -> None:
    app = open_page("pages/backtests.py")
    options = app.selectbox(key="bt_run").options

    app.selectbox(key="bt_run").select(next(o for o in options if o.startswith("legacy"))).run()
    assert any("legacy file names" in warning.value for warning in app.warning)
    assert [metric.value for metric in app.metric][1] != "—"  # Sharpe from the legacy summary.json

    app.selectbox(key="bt_run").select(next(o for o in options if "partial" in o)).run()
    assert not app.exception and not app.error
    assert any("metrics.json could not be read" in warning.value for warning in app.warning)

    app.selectbox(key="bt_run").select(next(o for o in options if "empty" in o)).run()
    assert "This run has no results yet" in texts(app)


def test_backtests_when_compare_mode_then_overlay_and_metric_deltas(fixture_home: Path) -> None:
    app = open_page("pages/backtests.py")
    app.toggle(key="bt_compare").set_value(True).run()
    options = app.selectbox(key="bt_compare_a").options
    app.selectbox(key="bt_compare_a").select(next(o for o in options if o.startswith("20240101_000000")))
    app.selectbox(key="bt_compare_b").select(next(o for o in options if o.startswith("20240101_010000"))).run()

    assert not app.exception
    assert len(app.get("plotly_chart")) == 1
    deltas = app.dataframe[0].value.set_index("metric")["B - A"]
    assert deltas["Sharpe"].startswith(("+", "-")) and deltas["MaxDD"].endswith("pp")
    assert all(metric.delta for metric in app.metric)


def test_live_monitor_when_sessions_then_account_positions_fills_risk_pnl_and_log(fixture_home: Path) -> None:
    app = open_page("pages/live_monitor.py")
    assert app.selectbox(key="live_session").value == "20240101T090000Z"  # latest_session's, first
    assert any(caption.value.startswith("Last refresh") for caption in app.caption)

    app.selectbox(key="live_session").select("20240101T060000Z").run()
    assert "denied intents: **1**" in texts(app)
    assert any("max_order_notional" in frame.value.to_csv() for frame in app.dataframe)

    app.selectbox(key="live_session").select("20240101T090000Z").run()
    labels = [metric.label for metric in app.metric]
    assert labels[:5] == ["Equity", "Cash", "Realized PnL", "Unrealized PnL", "Gross exposure"]
    assert len(app.get("plotly_chart")) == 1
    assert "filled o1" in texts(app)  # the session's run.log tail
    app.text_input(key="live_log_pattern").input("ERROR").run()
    assert "stale_after" in texts(app) and "filled o1" not in texts(app)
    app.selectbox(key="live_refresh").select(2).run()
    assert app.session_state["refresh_seconds"] == 2


def test_strategy_lab_when_registry_then_every_strategy_with_schema_and_commands(fixture_home: Path) -> None:
    app = open_page("pages/strategy_lab.py")

    from logos.strategies import STRATEGIES

    assert len(app.expander) == len(STRATEGIES)
    assert "logos backtest --fixture sma_demo_1m --strategy sma_cross --param fast=10" in texts(app)
    assert not app.button  # reference only: nothing to run


def test_settings_when_secrets_planted_then_none_shown_anywhere(planted_secrets: Path) -> None:
    for page in PAGES:
        app = open_page(page)
        if page == "pages/backtests.py":
            app.selectbox(key="bt_run").select(
                next(o for o in app.selectbox(key="bt_run").options if o.startswith("20240101_000000"))
            ).run()
        output = rendered(app)
        for secret in ALL_SECRETS:
            assert secret not in output, f"{secret} shown on {page}"
    settings = rendered(open_page("pages/settings.py"))
    assert "RISK_CONTROL_TOKEN" in settings and "ALPACA_API_KEY" in settings and "********" in settings


def test_settings_when_theme_and_refresh_changed_then_kept_for_the_session(fixture_home: Path) -> None:
    app = open_page("pages/settings.py")
    app.radio(key="settings_theme").set_value("dark").run()
    app.selectbox(key="settings_refresh").select(10).run()

    assert app.session_state["theme"] == "dark" and app.session_state["refresh_seconds"] == 10


def test_pages_when_every_page_opened_then_nothing_written_under_home(fixture_home: Path) -> None:
    before = tree_digest(fixture_home)

    for page in PAGES:
        open_page(page)

    assert tree_digest(fixture_home) == before


def test_backtests_when_run_too_short_to_annualize_then_cards_say_not_annualized(fixture_home: Path) -> None:
    from logos.backtest.artifacts import write_backtest
    from logos.backtest.engine import BacktestConfig, run_backtest
    from logos.data.fixtures import fixture_catalog, fixture_path
    from logos.data.loading import load_bars
    from logos.strategies import get_strategy

    frame = load_bars(fixture_path("sma_demo_1m"))["sma_demo_1m"]
    spec, config = fixture_catalog()["sma_demo_1m"], BacktestConfig(strategy="buy_and_hold")
    result = run_backtest(frame, spec, get_strategy("buy_and_hold"), config)
    write_backtest(result, config, spec, "fixture:sma_demo_1m", fixture_home / "runs" / "zz_two_days")
    app = open_page("pages/backtests.py")
    options = app.selectbox(key="bt_run").options
    app.selectbox(key="bt_run").select_index(
        next(i for i, o in enumerate(options) if o.startswith("zz_two_days"))
    ).run()

    cards = {metric.label: metric for metric in app.metric}
    assert cards["CAGR"].value == "n/a" and cards["Sharpe"].value == "n/a"
    assert "span 2.08 days < 30 days" in cards["Sharpe"].proto.help and cards["MaxDD"].value != "n/a"


def test_backtests_when_shared_account_run_then_symbols_and_risk_gate_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from services.cli import app as cli

    home = tmp_path / "home"
    monkeypatch.setenv("LOGOS_HOME", str(home))
    options = ["--fixture", "crypto_1m", "--strategy", "sma_cross", "--sizing", "equity:0.2", "--run-id", "shared"]
    result = CliRunner().invoke(cli, ["backtest", *options, "--risk-limit", "max_gross_exposure=30000"])
    assert result.exit_code == 0, result.output

    page = open_page("pages/backtests.py")
    text = rendered(page)
    assert "Symbols (one account)" in text and "Risk gate" in text
    assert "max_gross_exposure" in text and "BTC-USD" in text and "ETH-USD" in text
    tables = [frame.value for frame in page.dataframe]
    assert any(list(table["symbol"]) == ["BTC-USD", "ETH-USD"] for table in tables if "fills" in table.columns)
    assert any("reason" in table.columns and len(table) > 0 for table in tables)
