"""One check of the whole stack's configuration (environment, optionally a file over it) before anything runs.

Every problem is one line that says what to fix, and all of them are listed at once: a value any
service's settings refuse, a name under the stack's prefixes that no setting reads, each service's
own start-up refusals (the ones its ``create_app`` enforces however it is started) and the
combinations across services. ``logos validate-config`` prints them; ``logos serve`` and ``logos
trade`` refuse to start on any that concerns them (fail closed). No line ever holds a secret's
value: only the names of the settings.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from logos.error_text import validation_lines
from logos.orders.sizing import EquityFraction, VolatilityTarget, parse_sizing
from logos.redact import redact
from logos.settings import LogosDebug, LogosSettings
from services.brain.config import BrainSettings
from services.cli.config_file import ConfigFile
from services.cli.setting_names import PREFIXES, Given, not_a_setting, prefix, unknown
from services.dashboard.config import DashboardSettings
from services.executor import safety as executor_safety
from services.executor.brokers.credentials import credential_pair
from services.executor.config import ExecutorSettings
from services.feed.config import FeedSettings
from services.ml.config import MLSettings, TrainScheduleSettings
from services.risk import safety as risk_safety
from services.risk.config import RiskSettings

SERVICES = ("feed", "ml", "risk", "executor", "brain", "dashboard")
Settings = TypeVar("Settings", bound=BaseSettings)


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
    """Every service's settings, read from one environment."""

    logos: LogosSettings
    feed: FeedSettings
    ml: MLSettings
    train: TrainScheduleSettings
    risk: RiskSettings
    executor: ExecutorSettings
    brain: BrainSettings
    dashboard: DashboardSettings


def _read(kind: type[Settings], problems: list[str], **values: Any) -> Settings | None:
    try:
        return kind(**values)
    except ValidationError as exc:
        problems += validation_lines(exc)
        return None


def _read_all(overrides: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each section's settings (None where a value was refused) and the refused values, by section."""
    problems: dict[str, list[str]] = {name: [] for name in ("logos", *SERVICES, "ml_train")}
    with _overlaid(overrides):
        logos = _read(LogosSettings, problems["logos"])
        _read(LogosDebug, problems["logos"])
        shared = logos or LogosSettings.model_construct()  # the services' own values are still checked
        loaded = {
            "logos": logos,
            "feed": _read(FeedSettings, problems["feed"], logos=shared),
            "ml": _read(MLSettings, problems["ml"], logos=shared),
            "train": _read(TrainScheduleSettings, problems["ml_train"]),
            "risk": _read(RiskSettings, problems["risk"], logos=shared),
            "executor": _read(ExecutorSettings, problems["executor"], logos=shared),
            "brain": _read(BrainSettings, problems["brain"], logos=shared),
            "dashboard": _read(DashboardSettings, problems["dashboard"], logos=shared),
        }
    return loaded, problems


def load_stack(overrides: Mapping[str, str] | None = None) -> tuple[StackConfig | None, list[str]]:
    """Read every service's settings (``overrides`` over the environment); None and each refused value if any."""
    loaded, problems = _read_all(overrides or {})
    if any(settings is None for settings in loaded.values()):
        return None, [line for lines in problems.values() for line in lines]
    return StackConfig(**loaded), []


def check_stack(
    config_file: ConfigFile | None = None, service: str | None = None, now: datetime | None = None
) -> tuple[StackConfig | None, list[str]]:
    """Every problem of the stack, or of ``service`` and the shared settings; the settings when all could be read."""
    overrides = config_file.values if config_file else {}
    given = [Given(name) for name in sorted(os.environ) if name.upper() not in overrides]
    given += config_file.given if config_file else []
    wanted = ("LOGOS_", prefix(service)) if service else PREFIXES
    misspelt = [item for item in unknown(given) if item.name.upper().startswith(wanted)]
    found = (config_file.problems if config_file else []) + [not_a_setting(item) for item in misspelt]
    loaded, by_section = _read_all(overrides)
    labels = config_file.labels() if config_file else {}
    skipped = {item.name.upper() for item in misspelt}  # a value under a misspelt name: its own line says it
    for section in ("logos", service) if service else by_section:
        for line in by_section[section]:
            name, _, message = line.partition(": ")
            if name not in skipped:
                found.append(f"{labels[name]}: {message}" if name in labels else line)
    found += _own_refusals(loaded["executor"], loaded["risk"], service, now)
    if any(settings is None for settings in loaded.values()):
        return None, found  # the combinations need every service's settings
    config = StackConfig(**loaded)
    return config, found + _combined_refusals(config, service)


def refusals(config: StackConfig, service: str | None = None, now: datetime | None = None) -> list[str]:
    """Every unsafe or impossible combination that concerns ``service`` (all of them when None)."""
    return _own_refusals(config.executor, config.risk, service, now) + _combined_refusals(config, service)


def _own_refusals(
    executor: ExecutorSettings | None, risk: RiskSettings | None, service: str | None, now: datetime | None
) -> list[str]:
    """The refusals each service's ``create_app`` enforces itself."""
    found: list[str] = []
    if executor is not None and service in (None, "executor"):
        found += executor_safety.startup_refusals(executor, now)
    if risk is not None and service in (None, "risk"):
        found += risk_safety.startup_refusals(risk)
    elif risk is not None and executor is not None and service == "executor" and executor.live:
        found += risk_safety.kill_switch_refusals(risk)  # live orders need a working kill switch
    return found


def _combined_refusals(config: StackConfig, service: str | None) -> list[str]:
    """The refusals only the whole stack's settings can tell: limits against cash, sizing against limits, ports."""
    found: list[str] = []
    if service in (None, "risk"):
        found += _limits_above_equity(config.risk, config.executor.cash)
    if service in (None, "ml"):
        found += _sizing_refusals(config.ml, config.risk, config.executor.cash)
    return found + _port_refusals(config, service)


def _limits_above_equity(risk: RiskSettings, equity: Decimal) -> list[str]:
    found = []
    for name in ("max_order_notional", "max_position_notional"):
        cap = getattr(risk.limits, name)
        if cap is not None and cap > equity:
            found.append(
                f"RISK_LIMITS__{name.upper()}={cap} is above the account's equity {equity} (EXECUTOR_CASH): "
                "lower it below the equity"
            )
    return found


def _sizing_refusals(ml: MLSettings, risk: RiskSettings, cash: Decimal) -> list[str]:
    """Refuse a sizing whose full position the risk gate can never let open (every such order denied)."""
    if ml.strategy is None:
        return []  # ml only watches: no orders
    limits = [(getattr(risk.limits, name), name) for name in ("max_order_notional", "max_position_notional")]
    binding = [(limit, name) for limit, name in limits if limit is not None]
    if not binding:
        return []
    limit, name = min(binding)
    rule = parse_sizing(ml.sizing)
    largest = rule.largest_budget(cash)
    if largest <= limit:
        return []
    setting = f"RISK_LIMITS__{name.upper()}"
    fit = f"notional:{_plain(limit)}"
    when = ""
    if isinstance(rule, EquityFraction):
        fit = f"equity:{_plain((limit / cash).quantize(Decimal('0.0001'), ROUND_DOWN))} or {fit}"
        worth = f"{_plain(largest)} ({rule.fraction} x EXECUTOR_CASH {cash})"
    elif isinstance(rule, VolatilityTarget):
        worth = f"up to {_plain(largest)} (EXECUTOR_CASH {cash} x leverage {rule.max_leverage})"
        below = (cash * rule.target / limit).quantize(Decimal("0.01"), ROUND_DOWN)
        when = f" while the annualized volatility is below {_plain(below)}"
    else:
        worth = _plain(largest)
    return [
        f"ML_SIZING={ml.sizing} sizes a full position at {worth}, above {setting}={limit}: the risk gate denies "
        f"every order that opens one{when}; set ML_SIZING={fit}, or raise {setting}"
    ]


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


def _port_refusals(config: StackConfig, service: str | None) -> list[str]:
    ports: dict[int, list[str]] = {}
    for name in SERVICES:
        ports.setdefault(getattr(config, name).port, []).append(name)
    return [
        f"{', '.join(f'{name.upper()}_PORT' for name in names)} share port {port}: give each service its own"
        for port, names in ports.items()
        if len(names) > 1 and (service is None or service in names)
    ]


def summary(config: StackConfig) -> list[str]:
    """A redacted description of what will run, one line per service."""

    def shown(settings: BaseModel, *names: str) -> str:
        dumped = redact(settings.model_dump(mode="json"))
        return ", ".join(f"{name}={dumped[name]}" for name in names if dumped.get(name) not in (None, "", {}, []))

    executor = config.executor
    lines = [f"feed: {shown(config.feed, 'provider', 'replay_fixture', 'replay_data', 'symbols')}"]
    lines.append(f"executor: {shown(executor, 'broker', 'exchange', 'dry_run', 'live', 'sandbox', 'cash')}")
    if executor.broker != "paper":
        key, secret = credential_pair(executor)
        lines.append(f"  credentials: key {'set' if key else 'missing'}, secret {'set' if secret else 'missing'}")
    limits = redact(config.risk.limits.model_dump(mode="json"))
    token = "set" if config.risk.control_token else "missing"
    shown_limits = ", ".join(f"{name}={value}" for name, value in limits.items() if value is not None)
    lines.append(f"risk: kill-switch token {token}, limits {shown_limits}")
    hard = config.executor.hard_limits(config.risk.limits)
    lines.append(f"executor hard limits: {', '.join(f'{name}={value}' for name, value in vars(hard).items())}")
    lines += [f"warning: {line}" for line in executor_safety.hard_limit_warnings(config.executor, config.risk.limits)]
    lines.append(f"ml: {shown(config.ml, 'strategy', 'params', 'sizing') or 'no strategy (watching only)'}")
    ports = ", ".join(f"{name} {getattr(config, name).port}" for name in SERVICES)
    lines.append(f"ports: {ports}")
    return lines
