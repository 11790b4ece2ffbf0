"""`logos validate-config`: one refusal per unsafe configuration, each one line; services refuse to start on them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.executor.brokers.credentials import write_stamp
from services.executor.config import ExecutorSettings
from tests.support.cli_process import run_logos

runner = CliRunner()
LIVE_KEY, LIVE_SECRET = "AKFAKELIVE0KEY1ID2X3", "liveSECRETfake8Hn3Jm5Kq7Wz"
PAPER_KEY = "PKFAKEPAPER9KEY8ID7Y"


def _refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["validate-config"])
    assert result.exit_code == 1, result.output
    return [line.removeprefix("refused: ") for line in result.output.splitlines() if line.startswith("refused: ")]


def _live_alpaca(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"EXECUTOR_BROKER": "alpaca", "EXECUTOR_LIVE": "true", "EXECUTOR_ACKNOWLEDGE_RISK": "true",
                        "APCA_API_KEY_ID": LIVE_KEY, "APCA_API_SECRET_KEY": LIVE_SECRET}.items():  # fmt: skip
        monkeypatch.setenv(name, value)


def test_validate_config_when_defaults_then_ok_with_redacted_summary() -> None:
    result = runner.invoke(app, ["validate-config"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("configuration OK")
    assert "broker=paper" in result.output and "kill-switch token set" in result.output
    assert "test-control-token" not in result.output


def test_validate_config_when_live_without_acknowledgement_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refused(monkeypatch, EXECUTOR_BROKER="alpaca", EXECUTOR_LIVE="true", APCA_API_KEY_ID=LIVE_KEY,
                     APCA_API_SECRET_KEY=LIVE_SECRET)  # fmt: skip
    assert any(line.startswith("EXECUTOR_LIVE=true needs EXECUTOR_ACKNOWLEDGE_RISK=true") for line in lines)


def test_validate_config_when_live_credentials_unchecked_then_refused_until_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _live_alpaca(monkeypatch)
    lines = _refused(monkeypatch)
    assert lines == [
        "EXECUTOR_LIVE=true: the alpaca credentials have not been checked; run `logos brokers check alpaca --live`"
    ]
    write_stamp(ExecutorSettings())
    assert runner.invoke(app, ["validate-config"]).exit_code == 0
    monkeypatch.setenv("APCA_API_SECRET_KEY", LIVE_SECRET + "changed")
    assert "changed since they were last checked" in _refused(monkeypatch)[0]


def test_validate_config_when_live_without_credentials_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refused(monkeypatch, EXECUTOR_BROKER="ccxt", EXECUTOR_EXCHANGE="binance", EXECUTOR_LIVE="true",
                     EXECUTOR_ACKNOWLEDGE_RISK="true")  # fmt: skip
    assert lines == ["EXECUTOR_LIVE=true without ccxt credentials: set EXECUTOR_CCXT_API_KEY and EXECUTOR_CCXT_SECRET"]


def test_validate_config_when_paper_keys_on_live_endpoint_or_reverse_then_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _live_alpaca(monkeypatch)
    monkeypatch.setenv("APCA_API_KEY_ID", PAPER_KEY)
    assert any("with Alpaca paper keys" in line for line in _refused(monkeypatch))
    monkeypatch.setenv("EXECUTOR_LIVE", "false")
    monkeypatch.setenv("EXECUTOR_DRY_RUN", "true")
    monkeypatch.setenv("APCA_API_KEY_ID", LIVE_KEY)
    assert _refused(monkeypatch)[0].startswith("Alpaca live keys (the key id starts with AK) with the paper endpoint")
    sandbox = _refused(monkeypatch, EXECUTOR_BROKER="ccxt", EXECUTOR_EXCHANGE="binance", EXECUTOR_DRY_RUN="false",
                       EXECUTOR_LIVE="true", EXECUTOR_SANDBOX="true")  # fmt: skip
    assert any("with EXECUTOR_SANDBOX=true: sandbox keys do not trade on the live exchange" in line for line in sandbox)


def test_validate_config_when_kill_switch_token_missing_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISK_CONTROL_TOKEN")
    assert _refused(monkeypatch)[0].startswith("RISK_CONTROL_TOKEN is not set: the kill switch needs a token")


def test_validate_config_when_limit_above_equity_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refused(monkeypatch, RISK_LIMITS__MAX_ORDER_NOTIONAL="500000")
    assert ("RISK_LIMITS__MAX_ORDER_NOTIONAL=500000 is above the account's equity 100000 (EXECUTOR_CASH): "
            "lower it below the equity") in lines  # fmt: skip


def test_validate_config_when_limits_missing_then_each_named(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refused(monkeypatch, RISK_LIMITS__MAX_POSITION_NOTIONAL="off", RISK_LIMITS__MAX_DRAWDOWN="off",
                     RISK_LIMITS__MAX_ORDERS_PER_MINUTE="none")  # fmt: skip
    assert [line.split(" ")[0] for line in lines] == [
        "RISK_LIMITS__MAX_POSITION_NOTIONAL",
        "RISK_LIMITS__MAX_DRAWDOWN",
        "RISK_LIMITS__MAX_ORDERS_PER_MINUTE",
    ]


def test_validate_config_when_strategy_unknown_or_params_out_of_bounds_then_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _refused(monkeypatch, ML_STRATEGY="no_such")[0].startswith("ML_STRATEGY: unknown strategy 'no_such'")
    lines = _refused(monkeypatch, ML_STRATEGY="sma_cross", ML_PARAMS='{"fast": 0}')
    assert lines == ["ML_PARAMS: sma_cross: fast: Input should be greater than or equal to 1"]
    assert _refused(monkeypatch, ML_PARAMS='{"speed": 3}')[0].startswith("ML_PARAMS: sma_cross has no parameter speed")


def test_validate_config_when_dry_run_and_live_at_once_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _live_alpaca(monkeypatch)
    lines = _refused(monkeypatch, EXECUTOR_DRY_RUN="true")
    assert lines[0].startswith("EXECUTOR_DRY_RUN and EXECUTOR_LIVE are both set")


def test_validate_config_when_ib_selected_then_refused_with_what_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refused(monkeypatch, EXECUTOR_BROKER="ib")
    assert lines == ["EXECUTOR_BROKER=ib: Interactive Brokers is not supported yet; use EXECUTOR_BROKER=alpaca for "
                     "US equities, ccxt for crypto, or paper"]  # fmt: skip


def test_validate_config_when_file_given_then_it_stands_over_the_environment_and_secrets_stay_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "live.yaml"
    config.write_text(f"EXECUTOR_BROKER: alpaca\nEXECUTOR_LIVE: true\nAPCA_API_KEY_ID: {LIVE_KEY}\n"
                      f"APCA_API_SECRET_KEY: {LIVE_SECRET}\n")  # fmt: skip
    result = runner.invoke(app, ["validate-config", str(config)])
    assert result.exit_code == 1
    assert LIVE_KEY not in result.output and LIVE_SECRET not in result.output
    assert "EXECUTOR_ACKNOWLEDGE_RISK" in result.output
    dotenv = tmp_path / "paper.env"
    dotenv.write_text("# a dry run on binance\nEXECUTOR_BROKER=ccxt\nEXECUTOR_EXCHANGE=binance\nEXECUTOR_DRY_RUN=true\n"
                      f"EXECUTOR_CCXT_API_KEY={LIVE_KEY}\n")  # fmt: skip
    ok = runner.invoke(app, ["validate-config", str(dotenv)])
    assert ok.exit_code == 0, ok.output
    assert "broker=ccxt" in ok.output and "key set" in ok.output and LIVE_KEY not in ok.output
    assert "EXECUTOR_BROKER" not in os.environ  # the file does not leak into the environment


def test_validate_config_when_setting_invalid_then_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refused(monkeypatch, EXECUTOR_BROKER="robinhood")
    assert lines[0].startswith("EXECUTOR_BROKER: Input should be 'paper', 'ccxt', 'alpaca' or 'ib'")


@pytest.mark.parametrize(
    ("service", "env", "line"),
    [
        ("risk", {"RISK_LIMITS__MAX_ORDER_NOTIONAL": "500000"}, "RISK_LIMITS__MAX_ORDER_NOTIONAL=500000 is above"),
        ("executor", {"EXECUTOR_BROKER": "ib"}, "Interactive Brokers is not supported yet"),
        ("ml", {"ML_STRATEGY": "no_such"}, "ML_STRATEGY: unknown strategy"),
    ],
)
def test_serve_when_configuration_unsafe_then_exits_non_zero_with_the_line(
    isolated_home: Path, service: str, env: dict[str, str], line: str
) -> None:
    completed = run_logos("serve", service, env=env)
    assert completed.returncode == 2, completed.stderr
    assert f"error: {service}: " in completed.stderr and line in completed.stderr


def test_validate_config_when_many_values_bad_then_every_one_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refused(
        monkeypatch,
        FEED_PORT="99999",
        FEED_PROVIDER="bogus",
        ML_STRATEGY="sma_cross",
        ML_PARAMS='{"fast": 0}',
        ML_SIZING="bogus",
        LOGOS_SHARDS="0",
    )
    assert lines == [
        "LOGOS_SHARDS: Input should be greater than or equal to 1",
        "FEED_PORT: Input should be less than or equal to 65535",
        "FEED_PROVIDER: Input should be 'none', 'replay', 'yfinance' or 'ccxt'",
        "ML_PARAMS: sma_cross: fast: Input should be greater than or equal to 1",
        "ML_SIZING: sizing 'bogus': use equity:FRACTION, notional:AMOUNT or vol:TARGET",
    ]


def test_validate_config_when_debug_flag_unreadable_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refused(monkeypatch, LOGOS_DEBUG="maybe") == [
        "LOGOS_DEBUG: Input should be a valid boolean, unable to interpret input"
    ]


def test_validate_config_when_params_without_strategy_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refused(monkeypatch, ML_PARAMS='{"fast": 0}') == [
        "ML_PARAMS: parameters without a strategy: set ML_STRATEGY too, or unset these"
    ]


def test_validate_config_when_name_misspelt_then_refused_with_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = _refused(
        monkeypatch, RISK_MAX_ORDER_NOTIONAL="1000", EXECUTOR_BROKR="paper", RISK_LIMITS__MAX_ORDER_NOTIONL="1"
    )
    assert lines == [
        "EXECUTOR_BROKR is not a setting; did you mean EXECUTOR_BROKER?",
        "RISK_LIMITS__MAX_ORDER_NOTIONL is not a setting; did you mean RISK_LIMITS__MAX_ORDER_NOTIONAL?",
        "RISK_MAX_ORDER_NOTIONAL is not a setting; did you mean RISK_LIMITS__MAX_ORDER_NOTIONAL?",
    ]


def test_validate_config_when_documented_variables_outside_the_settings_then_ok(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "LOGOS_LOCAL_REDIS_PORT": "6390",
        "LOGOS_SERVICE": "risk",
        "LOGOS_DEBUG": "1",
        "ML_TRAIN_INTERVAL_SECONDS": "3600",
        "APCA_API_KEY_ID": PAPER_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["validate-config"])
    assert result.exit_code == 0, result.output


def test_validate_config_when_env_example_and_compose_name_settings_then_every_name_is_known() -> None:
    root = Path(__file__).resolve().parents[2]
    from services.cli.setting_names import KNOWN, under_prefix

    written = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), flags=re.MULTILINE)
    written += re.findall(r"^\s+([A-Z][A-Z0-9_]+):", (root / "compose.yaml").read_text(), flags=re.MULTILINE)
    assert len(written) > 60
    assert sorted({name for name in written if under_prefix(name)} - set(KNOWN)) == []


def test_env_example_when_read_then_every_setting_of_every_class_is_listed() -> None:
    root = Path(__file__).resolve().parents[2]
    from services.cli.setting_names import KNOWN, OTHER_VARIABLES, PREFIXES, nests

    text = (root / ".env.example").read_text()
    written = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    # "<SERVICE>_PORT" in a heading stands for the name under every service's prefix
    written |= {prefix + name for name in re.findall(r"<SERVICE>_([A-Z0-9_]+)", text) for prefix in PREFIXES}
    # a nested model (RISK_LIMITS) is listed by its fields (RISK_LIMITS__MAX_DRAWDOWN)
    missing = [
        name
        for name in KNOWN
        if name not in written
        and name not in OTHER_VARIABLES
        and not (nests(name) and any(item.startswith(f"{name}__") for item in written))
    ]
    assert missing == []


def test_validate_config_when_sizing_can_never_pass_the_order_limit_then_refused_with_what_to_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ML_STRATEGY", "sma_cross")
    assert _refused(monkeypatch, ML_SIZING="equity:1.0") == [
        "ML_SIZING=equity:1.0 sizes a full position at 100000 (1.0 x EXECUTOR_CASH 100000), above "
        "RISK_LIMITS__MAX_ORDER_NOTIONAL=25000: the risk gate denies every order that opens one; set "
        "ML_SIZING=equity:0.25 or notional:25000, or raise RISK_LIMITS__MAX_ORDER_NOTIONAL"
    ]
    (line,) = _refused(monkeypatch, ML_SIZING="notional:30000")
    assert line.startswith("ML_SIZING=notional:30000 sizes a full position at 30000, above RISK_LIMITS__MAX_ORDER")
    (line,) = _refused(monkeypatch, ML_SIZING="vol:0.2")
    assert "at up to 100000 (EXECUTOR_CASH 100000 x leverage 1)" in line and "volatility is below 0.8" in line
    (line,) = _refused(monkeypatch, ML_SIZING="notional:20000", RISK_LIMITS__MAX_POSITION_NOTIONAL="10000")
    assert "above RISK_LIMITS__MAX_POSITION_NOTIONAL=10000" in line and "ML_SIZING=notional:10000" in line
    monkeypatch.setenv("RISK_LIMITS__MAX_POSITION_NOTIONAL", "50000")
    for fits in ("equity:0.25", "notional:20000"):
        monkeypatch.setenv("ML_SIZING", fits)
        assert runner.invoke(app, ["validate-config"]).exit_code == 0, fits


def test_validate_config_when_environment_empty_then_only_the_missing_token_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in os.environ:
        if name.startswith(("LOGOS_", "FEED_", "ML_", "RISK_", "EXECUTOR_", "BRAIN_", "DASHBOARD_", "APCA_")):
            monkeypatch.delenv(name)
    assert _refused(monkeypatch) == [
        "RISK_CONTROL_TOKEN is not set: the kill switch needs a token (e.g. `openssl rand -hex 16`, used again with "
        "`logos kill`; `make paper` keeps one in .logos/control-token)"
    ]


def test_validate_config_when_two_services_share_a_port_then_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refused(monkeypatch, BRAIN_PORT="8501") == [
        "BRAIN_PORT, DASHBOARD_PORT share port 8501: give each service its own"
    ]


def test_validate_config_when_yaml_nested_by_service_then_read_like_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "stack.yaml"
    config.write_text(
        "risk:\n  limits: {max_order_notional: 1000}\nml: {strategy: sma_cross, sizing: 'notional:900',"
        " params: {fast: 5, slow: 20}}\nexecutor: {symbol_map: {BTC-USD: BTC/USDT}}\n"
    )
    result = runner.invoke(app, ["validate-config", str(config)])
    assert result.exit_code == 0, result.output
    assert "max_order_notional=1000," in result.output and "sizing=notional:900" in result.output


def test_validate_config_when_yaml_has_three_errors_then_three_lines_in_its_own_words(tmp_path: Path) -> None:
    config = tmp_path / "stack.yaml"
    config.write_text(
        "risk: {max_order_notional: 1000}\nml: {strategy: sma_cross, params: {fast: 0}}\n"
        "executor:\n  fills: {taker_fee_bps: -1}\nrisks: {clock: data}\n"
    )
    result = runner.invoke(app, ["validate-config", str(config)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"refused: {config}: risks is neither a section nor a setting name; did you mean risk?",
        f"refused: {config}: risk.max_order_notional is not a setting; did you mean risk.limits.max_order_notional?",
        f"refused: {config}: ml.params: sma_cross: fast: Input should be greater than or equal to 1",
        f"refused: {config}: executor.fills.taker_fee_bps: Input should be greater than or equal to 0",
    ]


def test_validate_config_when_flat_file_misspells_a_name_then_the_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "paper.env"
    config.write_text("RISK_MAX_ORDER_NOTIONAL=1000\nREDIS_PASSWORD=not-a-logos-setting\n")
    result = runner.invoke(app, ["validate-config", str(config)])
    assert result.output.splitlines() == [
        f"refused: {config}: RISK_MAX_ORDER_NOTIONAL is not a setting; did you mean RISK_LIMITS__MAX_ORDER_NOTIONAL?"
    ]


@pytest.mark.parametrize(
    ("service", "env", "lines"),
    [
        ("feed", {"FEED_PROVIDER": "bogus"}, ["FEED_PROVIDER: Input should be 'none', 'replay', 'yfinance' or 'ccxt'"]),
        (
            "ml",
            {"ML_SIZING": "bogus", "ML_STRATEGY": "sma_cross", "ML_PARAMS": '{"fast": 0}'},
            [
                "ML_PARAMS: sma_cross: fast: Input should be greater than or equal to 1",
                "ML_SIZING: sizing 'bogus': use equity:FRACTION, notional:AMOUNT or vol:TARGET",
            ],
        ),
        ("risk", {"LOGOS_SHARDS": "0"}, ["LOGOS_SHARDS: Input should be greater than or equal to 1"]),
        (
            "risk",
            {"RISK_MAX_ORDER_NOTIONAL": "1000"},
            ["RISK_MAX_ORDER_NOTIONAL is not a setting; did you mean RISK_LIMITS__MAX_ORDER_NOTIONAL?"],
        ),
        (
            "executor",
            {"EXECUTOR_BROKER": "alpaca", "EXECUTOR_LIVE": "true"},
            [
                "EXECUTOR_LIVE=true needs EXECUTOR_ACKNOWLEDGE_RISK=true (`logos trade --live --i-acknowledge-risk`): "
                "live orders spend real money",
                "EXECUTOR_LIVE=true without alpaca credentials: set APCA_API_KEY_ID and APCA_API_SECRET_KEY",
            ],
        ),
    ],
    ids=["feed-provider", "ml-sizing-and-params", "logos-shards", "risk-typo", "executor-live"],
)
def test_serve_when_settings_bad_then_one_line_each_exit_2_and_no_traceback(
    service: str, env: dict[str, str], lines: list[str]
) -> None:
    completed = run_logos("serve", service, env=env)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.splitlines() == [f"error: {service}: {line}" for line in lines]
