"""One check of the whole stack's configuration (environment, optionally a file over it) before anything runs.

Every refusal is one line that says what to fix. ``logos validate-config`` prints them; ``logos
serve`` and ``logos trade`` refuse to start on any that concerns them (fail closed). No line ever
holds a secret's value: only the names of the settings.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from logos.redact import redact
from logos.settings import LogosSettings
from logos.strategies import StrategyError, get_strategy
from services.executor.brokers.credentials import credential_pair, stamp_problem
from services.executor.brokers.ib_broker import IB_NOT_SUPPORTED
from services.executor.config import ExecutorSettings
from services.ml.config import MLSettings
from services.risk.config import RiskSettings

SERVICES_WITH_CHECKS = ("executor", "risk", "ml")


class ConfigFileError(ValueError):
    """A configuration file that cannot be read; the message names the file."""


def read_config_file(path: Path) -> dict[str, str]:
    """Read environment settings from a YAML mapping (``.yaml``/``.yml``) or ``NAME=value`` lines (anything else)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read it: {exc.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigFileError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigFileError(f"{path}: expected a mapping of setting names (EXECUTOR_BROKER: ccxt, ...)")
        return {str(key): _env_text(value) for key, value in loaded.items()}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.removeprefix("export ").partition("=")
        if not separator or not name.strip():
            raise ConfigFileError(f"{path} line {number}: expected NAME=value")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value)
    return "" if value is None else str(value)


@contextlib.contextmanager
def _overlaid(values: Mapping[str, str]) -> Iterator[None]:
    """Let the file's values stand over the environment while the settings are read."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@dataclass(frozen=True)
class StackConfig:
    """The settings of the services whose combination can be unsafe."""

    executor: ExecutorSettings
    risk: RiskSettings
    ml: MLSettings


def _setting_name(settings: type[BaseSettings], location: tuple[Any, ...]) -> str:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return prefix + "__".join(str(part).upper() for part in location)


def load_stack(overrides: Mapping[str, str] | None = None) -> tuple[StackConfig | None, list[str]]:
    """Read every service's settings (``overrides`` over the environment); a setting that fails is a refusal."""
    refusals: list[str] = []
    loaded: dict[str, BaseSettings] = {}
    with _overlaid(overrides or {}):
        logos = LogosSettings()
        for name, kind in (("executor", ExecutorSettings), ("risk", RiskSettings), ("ml", MLSettings)):
            try:
                loaded[name] = kind(logos=logos)
            except ValidationError as exc:
                for error in exc.errors():
                    message = str(error["msg"]).removeprefix("Value error, ")
                    refusals.append(f"{_setting_name(kind, tuple(error['loc']))}: {message}")
    if refusals:
        return None, refusals
    executor, risk, ml = loaded["executor"], loaded["risk"], loaded["ml"]
    assert isinstance(executor, ExecutorSettings)
    assert isinstance(risk, RiskSettings)
    assert isinstance(ml, MLSettings)
    return StackConfig(executor, risk, ml), []


def refusals(config: StackConfig, service: str | None = None, now: datetime | None = None) -> list[str]:
    """Every unsafe or impossible combination that concerns ``service`` (all of them when None)."""
    found: list[str] = []
    if service in (None, "executor"):
        found += _executor_refusals(config.executor, now)
    if service in (None, "risk") or (service == "executor" and config.executor.live):
        found += _kill_switch_refusals(config.risk)
    if service in (None, "risk"):
        found += _limit_refusals(config.risk, config.executor.cash)
    if service in (None, "ml"):
        found += _strategy_refusals(config.ml)
    return found


def _executor_refusals(executor: ExecutorSettings, now: datetime | None) -> list[str]:
    found: list[str] = []
    if executor.broker == "ib":
        found.append(IB_NOT_SUPPORTED)
    if executor.dry_run and executor.live:
        found.append("EXECUTOR_DRY_RUN and EXECUTOR_LIVE are both set: a dry run sends nothing, a live run sends "
                     "everything; unset one")  # fmt: skip
    if executor.live and not executor.acknowledge_risk:
        found.append("EXECUTOR_LIVE=true needs EXECUTOR_ACKNOWLEDGE_RISK=true (`logos trade --live "
                     "--i-acknowledge-risk`): live orders spend real money")  # fmt: skip
    if executor.live and executor.broker == "paper":
        found.append("EXECUTOR_LIVE=true with EXECUTOR_BROKER=paper: choose the venue to trade on (ccxt or alpaca)")
    if executor.broker == "ccxt":
        found += _ccxt_refusals(executor)
    if executor.broker == "alpaca":
        found += _alpaca_refusals(executor)
    if executor.live and executor.broker in ("ccxt", "alpaca"):
        key, secret = credential_pair(executor)
        if not key or not secret:
            names = ("EXECUTOR_CCXT_API_KEY and EXECUTOR_CCXT_SECRET" if executor.broker == "ccxt"
                     else "APCA_API_KEY_ID and APCA_API_SECRET_KEY")  # fmt: skip
            found.append(f"EXECUTOR_LIVE=true without {executor.broker} credentials: set {names}")
        else:
            problem = stamp_problem(executor, now)
            if problem is not None:
                command = "logos brokers check alpaca --live"
                if executor.broker == "ccxt":
                    command = f"logos brokers check ccxt --exchange {executor.exchange} --live"
                found.append(f"EXECUTOR_LIVE=true: the {executor.broker} credentials {problem}; run `{command}`")
    return found


def _ccxt_refusals(executor: ExecutorSettings) -> list[str]:
    if not executor.exchange:
        return ["EXECUTOR_BROKER=ccxt needs EXECUTOR_EXCHANGE (a ccxt exchange id such as binance)"]
    if executor.exchange not in ccxt.exchanges:
        return [f"EXECUTOR_EXCHANGE={executor.exchange} is not a ccxt exchange id; see ccxt.exchanges"]
    found = []
    if executor.live and executor.sandbox:
        found.append("EXECUTOR_LIVE=true with EXECUTOR_SANDBOX=true: sandbox keys do not trade on the live exchange; "
                     "unset EXECUTOR_SANDBOX to go live, or EXECUTOR_LIVE to stay on the testnet")  # fmt: skip
    if not executor.live and not executor.dry_run and not executor.sandbox:
        found.append(f"EXECUTOR_BROKER=ccxt would send orders to the live {executor.exchange} without EXECUTOR_LIVE: "
                     "set EXECUTOR_DRY_RUN=true (nothing sent), EXECUTOR_SANDBOX=true (testnet), or go live "
                     "explicitly")  # fmt: skip
    return found


def _alpaca_refusals(executor: ExecutorSettings) -> list[str]:
    key = executor.alpaca_api_key.get_secret_value() if executor.alpaca_api_key else ""
    if executor.live and key.startswith("PK"):
        return ["EXECUTOR_LIVE=true with Alpaca paper keys (the key id starts with PK): use live keys (AK...) for "
                "the live endpoint, or unset EXECUTOR_LIVE to trade on paper"]  # fmt: skip
    if not executor.live and key.startswith("AK"):
        return ["Alpaca live keys (the key id starts with AK) with the paper endpoint: use paper keys (PK...), or go "
                "live explicitly with EXECUTOR_LIVE and EXECUTOR_ACKNOWLEDGE_RISK"]  # fmt: skip
    return []


def _kill_switch_refusals(risk: RiskSettings) -> list[str]:
    if risk.control_token is None or not risk.control_token.get_secret_value():
        return ["RISK_CONTROL_TOKEN is not set: the kill switch needs a token (e.g. `openssl rand -hex 16`; "
                "`make paper` keeps one in .logos/control-token)"]  # fmt: skip
    return []


def _limit_refusals(risk: RiskSettings, equity: Decimal) -> list[str]:
    limits = risk.limits
    found = []
    required = {"MAX_ORDER_NOTIONAL": limits.max_order_notional, "MAX_POSITION_NOTIONAL": limits.max_position_notional,
                "MAX_DRAWDOWN": limits.max_drawdown, "MAX_ORDERS_PER_MINUTE": limits.max_orders_per_minute}  # fmt: skip
    for name, value in required.items():
        if value is None:
            found.append(f"RISK_LIMITS__{name} is not set: trading without it is unbounded; set it")
    for name, cap in (("MAX_ORDER_NOTIONAL", limits.max_order_notional),
                      ("MAX_POSITION_NOTIONAL", limits.max_position_notional)):  # fmt: skip
        if cap is not None and cap > equity:
            found.append(f"RISK_LIMITS__{name}={cap} is above the account's equity {equity} (EXECUTOR_CASH): "
                         "lower it below the equity")  # fmt: skip
    return found


def _strategy_refusals(ml: MLSettings) -> list[str]:
    found = []
    for label, name, params in (("ML_STRATEGY", ml.strategy, ml.params),
                                ("ML_SHADOW_STRATEGY", ml.shadow_strategy, ml.shadow_params)):  # fmt: skip
        if name is None:
            continue
        try:
            strategy = get_strategy(name)
        except StrategyError as exc:
            found.append(f"{label}: {exc}")
            continue
        unknown = sorted(set(params) - set(strategy.params_model.model_fields))
        if unknown:
            found.append(f"{label.replace('STRATEGY', 'PARAMS')}: {name} has no parameter {', '.join(unknown)} "
                         f"(parameters: {', '.join(strategy.params_model.model_fields)})")  # fmt: skip
            continue
        try:
            strategy.params(params)
        except StrategyError as exc:
            found.append(f"{label.replace('STRATEGY', 'PARAMS')}: {exc}")
    return found


def summary(config: StackConfig) -> list[str]:
    """A redacted description of what will run, one line per service."""

    def shown(settings: BaseModel, *names: str) -> str:
        dumped = redact(settings.model_dump(mode="json"))
        return ", ".join(f"{name}={dumped[name]}" for name in names if dumped.get(name) not in (None, "", {}))

    executor = config.executor
    lines = [f"executor: {shown(executor, 'broker', 'exchange', 'dry_run', 'live', 'sandbox', 'cash')}"]
    if executor.broker != "paper":
        key, secret = credential_pair(executor)
        lines.append(f"  credentials: key {'set' if key else 'missing'}, secret {'set' if secret else 'missing'}")
    limits = redact(config.risk.limits.model_dump(mode="json"))
    lines.append(f"risk: kill-switch token {'set' if config.risk.control_token else 'missing'}, limits "
                 + ", ".join(f"{name}={value}" for name, value in limits.items() if value is not None))  # fmt: skip
    lines.append(f"ml: {shown(config.ml, 'strategy', 'params', 'sizing') or 'no strategy (watching only)'}")
    return lines
