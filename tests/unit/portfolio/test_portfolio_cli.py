from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()
SHORT_RUN = [
    "portfolio", "backtest", "--fixture", "sp500_daily", "--method", "erc", "--start", "2019-06-01",
    "--end", "2020-12-31", "--lookback", "126", "--schedule", "monthly", "--sector-limit", "health_care=0.3",
    "--max-weight", "0.12", "--no-trade-band", "0.002",
]  # fmt: skip


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()
    }


def test_portfolio_backtest_when_run_twice_then_every_file_is_byte_identical(tmp_path: Path) -> None:
    for run_id in ("first", "second"):
        result = runner.invoke(app, [*SHORT_RUN, "--runs-dir", str(tmp_path), "--run-id", run_id])
        assert result.exit_code == 0, result.output
    first, second = _files(tmp_path / "first"), _files(tmp_path / "second")
    assert sorted(first) == [
        "config.yaml", "equity.csv", "equity.png", "logs/run.log", "metrics.json", "trades.csv", "weights.csv",
        "weights.png",
    ]  # fmt: skip
    assert first == second
    metrics = json.loads(first["metrics.json"])["metrics"]
    for key in ("sharpe", "max_drawdown", "turnover_annual", "costs_paid", "effective_assets_mean"):
        assert metrics[key] is not None
    assert sum(metrics["risk_contributions"].values()) == pytest.approx(1.0)
    assert metrics["fees_paid"] == pytest.approx(float(pd.read_csv(tmp_path / "first" / "trades.csv")["fee"].sum()))
    weights = pd.read_csv(tmp_path / "first" / "weights.csv")
    assert weights.iloc[:, 3:].max().max() <= 0.12 + 1e-6
    assert "artifacts:" in result.output


def test_portfolio_allocate_when_out_is_given_then_prints_and_writes_the_weights(tmp_path: Path) -> None:
    out = tmp_path / "weights.csv"
    result = runner.invoke(app, ["portfolio", "allocate", "--fixture", "sp500_daily", "--method", "inverse_vol",
                                 "--lookback", "60", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "inverse_vol on 20 assets, 60 returns" in result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["asset", "weight", "volatility", "risk_contribution", "method", "fallback"]
    assert table["weight"].sum() == pytest.approx(1.0)
    assert set(table["method"]) == {"inverse_vol"} and table["fallback"].isna().all()


def test_portfolio_allocate_when_prices_file_is_wide_csv_then_any_columns_work(tmp_path: Path) -> None:
    prices = tmp_path / "mine.csv"
    frame = pd.read_csv(Path("data/fixtures/prices/sp500_daily.csv"), usecols=["date", "KO", "PEP", "XOM"]).tail(90)
    frame.rename(columns={"date": "Date"}).to_csv(prices, index=False)
    result = runner.invoke(
        app, ["portfolio", "allocate", "--prices", str(prices), "--method", "hrp", "--lookback", "60"]
    )
    assert result.exit_code == 0, result.output
    assert "hrp on 3 assets" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fixture", "sp500_daily", "--method", "hrp", "--max-weight", "0.04"], "error: min_net: the upper weight"),
        (["--fixture", "sp500_daily", "--method", "magic"], "error: unknown allocator 'magic'"),
        (["--fixture", "sp500_daily", "--method", "target_return"], "error: target_return needs"),
        (["--method", "hrp"], "error: give exactly one of --prices PATH or --fixture NAME"),
        (["--prices", "missing.csv", "--method", "hrp"], "error: missing.csv: no such file"),
        (["--fixture", "sp500_daily", "--method", "hrp", "--sector-limit", "tech=0.2"], "unknown sector 'tech'"),
        (["--fixture", "sp500_daily", "--method", "hrp", "--param", "linkage=odd"], "error: hrp parameter linkage"),
    ],
)
def test_portfolio_allocate_when_input_is_wrong_then_one_error_line(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["portfolio", "allocate", *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_portfolio_backtest_when_lookback_exceeds_data_then_one_error_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["portfolio", "backtest", "--fixture", "sp500_daily", "--method", "erc", "--start",
                                 "2022-10-01", "--runs-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2
    assert "error: --lookback 252 needs more than 253 dates" in result.output


UNREACHABLE = ["--fixture", "sp500_daily", "--method", "target_return", "--param", "target_return=5"]
BACKTEST_UNREACHABLE = [
    "portfolio",
    "backtest",
    "--fixture",
    "sp500_daily",
    "--method",
    "target_return",
    "--param",
    "target_return=1.5",
    "--start",
    "2019-06-01",
    "--end",
    "2020-12-31",
    "--lookback",
    "126",
]


def test_portfolio_allocate_when_target_is_unreachable_then_warns_and_the_file_names_the_fallback(
    tmp_path: Path,
) -> None:
    out = tmp_path / "weights.csv"
    result = runner.invoke(app, ["portfolio", "allocate", *UNREACHABLE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    warning = "warning: target_return fell back to inverse_vol: the target 500.0 % a year is above the highest mean"
    assert warning in result.stderr
    table = pd.read_csv(out)
    assert set(table["method"]) == {"target_return"}
    assert table["fallback"].str.startswith("target_return fell back to inverse_vol: the target 500.0 %").all()


def test_portfolio_allocate_when_strict_and_target_is_unreachable_then_one_error_line(tmp_path: Path) -> None:
    out = tmp_path / "weights.csv"
    result = runner.invoke(app, ["portfolio", "allocate", *UNREACHABLE, "--strict", "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: target_return failed and strict allocation allows no fallback: the target 500.0 % a year is above "
        "the highest mean return the constraints allow on this window, 66.4 % a year"
    ]
    assert not out.exists()


def test_portfolio_backtest_when_the_optimizer_falls_back_then_metrics_list_each_date_and_reason(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, [*BACKTEST_UNREACHABLE, "--runs-dir", str(tmp_path), "--run-id", "fallbacks"])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "fallbacks" / "metrics.json").read_text())
    listed = document["fallbacks"]
    assert len(listed) == document["metrics"]["fallbacks"] > 0
    assert listed[0]["date"] == "2019-11-29"
    assert listed[0]["method"] == "target_return" and listed[0]["fallback"] == "inverse_vol"
    assert listed[0]["reason"].startswith("the target 150.0 % a year is above the highest mean return")
    assert f"warning: {len(listed)} of {document['metrics']['rebalances']} rebalances fell back" in result.stderr
    assert "2019-11-29: target_return fell back to inverse_vol" in (tmp_path / "fallbacks/logs/run.log").read_text()


def test_portfolio_backtest_when_strict_and_the_optimizer_fails_then_one_error_line_and_no_run(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, [*BACKTEST_UNREACHABLE, "--strict", "--runs-dir", str(tmp_path), "--run-id", "x"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: 2019-11-29: target_return failed and strict allocation allows no fallback")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["--start", "2022-01-01", "--end", "2021-01-01"], "error: --start 2022-01-01 is after --end 2021-01-01"),
        (["--start", "2030-01-01"], "error: --start 2030-01-01 is after the last date of sp500_daily.csv (2022-12-28)"),
        (["--end", "2001-01-01"], "error: --end 2001-01-01 is before the first date of sp500_daily.csv (2013-01-02)"),
        (["--start", "June"], "error: --start must be a date (YYYY-MM-DD), got 'June'"),
        (["--start", "2022-06-01"], "the data has 146 from 2022-06-01 to 2022-12-28"),
    ],
)
def test_portfolio_backtest_when_dates_do_not_fit_the_data_then_one_error_line(
    tmp_path: Path, dates: list[str], message: str
) -> None:
    runs = tmp_path / "runs"
    result = runner.invoke(
        app,
        ["portfolio", "backtest", "--fixture", "sp500_daily", "--method", "erc", *dates, "--runs-dir", str(runs)],
    )
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert not runs.exists() or not any(runs.iterdir())


def test_portfolio_backtest_when_end_is_given_then_the_whole_end_day_and_no_later_date_is_used(
    tmp_path: Path,
) -> None:
    result = runner.invoke(
        app,
        [
            "portfolio",
            "backtest",
            "--fixture",
            "sp500_daily",
            "--method",
            "equal_weight",
            "--lookback",
            "20",
            "--start",
            "2020-01-01",
            "--end",
            "2020-03-31",
            "--runs-dir",
            str(tmp_path),
            "--run-id",
            "q1",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "q1" / "metrics.json").read_text())
    assert document["start"].startswith("2020-01-02") and document["end"].startswith("2020-03-31")
