"""Every environment name the stack reads, by section, so a misspelt one is an error with a suggestion.

pydantic-settings ignores a name it does not know, so ``RISK_MAX_ORDER_NOTIONAL=1000`` (meant:
``RISK_LIMITS__MAX_ORDER_NOTIONAL``) would leave the limit at its default without a word. Under the
stack's prefixes every name must be a setting of one of the classes below, or one of the few
documented variables that are read outside the settings (scripts, the image, the tests).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import get_args

from pydantic import AliasChoices, BaseModel
from pydantic_settings import BaseSettings

from logos.settings import LogosDebug, LogosSettings
from services.brain.config import BrainSettings
from services.dashboard.config import DashboardSettings
from services.executor.config import ExecutorSettings
from services.feed.config import FeedSettings
from services.ml.config import MLSettings, TrainScheduleSettings
from services.risk.config import RiskSettings

# a section of a nested YAML file, and the settings classes it holds (the first names the prefix)
SECTIONS: dict[str, tuple[type[BaseSettings], ...]] = {
    "logos": (LogosSettings, LogosDebug),
    "feed": (FeedSettings,),
    "ml": (MLSettings,),
    "ml_train": (TrainScheduleSettings,),
    "risk": (RiskSettings,),
    "executor": (ExecutorSettings,),
    "brain": (BrainSettings,),
    "dashboard": (DashboardSettings,),
}

# read outside the settings classes, under the same prefixes; documented where they are used
OTHER_VARIABLES = {
    "LOGOS_SERVICE": "the service the image runs (compose sets it)",
    "LOGOS_LOCAL_REDIS_PORT": "the port of the local stack's redis-server (make paper, Procfile)",
    "LOGOS_LOCAL_REDIS_DIR": "the data directory of the local stack's redis-server",
    "LOGOS_LOCAL_REDIS_MAXMEMORY": "the memory cap of the local stack's redis-server (noeviction)",
    "LOGOS_TEST_REDIS": "tests: `process` runs a redis-server instead of a container",
    "LOGOS_UPDATE_GOLDEN": "tests: rewrite the golden artifacts",
    "LOGOS_SCREENSHOTS": "make screenshots: where the dashboard images go",
    "LOGOS_CHROMIUM": "the dashboard browser test's Chromium",
}


def prefix(section: str) -> str:
    """The environment prefix of a section (``risk`` -> ``RISK_``)."""
    return str(SECTIONS[section][0].model_config.get("env_prefix", "")).upper()


def _nested_model(annotation: object) -> type[BaseModel] | None:
    candidates = [annotation, *get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and not issubclass(candidate, BaseSettings):
            return candidate
    return None


def _names(kind: type[BaseModel], start: str, dotted: str, delimiter: str | None) -> Iterator[tuple[str, str]]:
    for field_name, field in kind.model_fields.items():
        if field_name == "logos" and field.annotation is LogosSettings:
            continue  # the shared settings are read under LOGOS_, not under each service's prefix
        path = f"{dotted}.{field_name}"
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):  # an alias replaces the prefixed name
            yield from ((choice, path) for choice in alias.choices if isinstance(choice, str) and choice.isupper())
        elif isinstance(alias, str):
            yield alias.upper(), path
        name = start + field_name.upper()
        if alias is None:
            yield name, path
        nested = _nested_model(field.annotation)
        if nested is not None and delimiter:
            yield from _names(nested, name + delimiter, path, delimiter)


def _catalogue() -> dict[str, str]:
    known: dict[str, str] = {}
    for section, kinds in SECTIONS.items():
        for kind in kinds:
            delimiter = kind.model_config.get("env_nested_delimiter")
            for name, path in _names(kind, prefix(section), section, delimiter):
                known.setdefault(name, path)
    for name in OTHER_VARIABLES:
        known[name] = f"logos.{name.removeprefix('LOGOS_').lower()}"
    return known


KNOWN = _catalogue()  # environment name -> its place in a nested file (RISK_LIMITS__X -> risk.limits.x)
PREFIXES = tuple(sorted({prefix(section) for section in SECTIONS}))


def under_prefix(name: str) -> bool:
    """Tell whether ``name`` belongs to the stack (starts with one of its prefixes)."""
    return name.upper().startswith(PREFIXES)


def nests(name: str) -> bool:
    """Tell whether ``name`` is a nested model whose fields are read as ``NAME__FIELD``."""
    return any(known.startswith(name.upper() + "__") for known in KNOWN)


@dataclass(frozen=True)
class Given:
    """A name as the user wrote it: an environment name, or a dotted place in a nested file."""

    name: str
    where: str = ""  # "" for the environment, else the file
    dotted: str | None = None

    def shown(self) -> str:
        written = self.dotted or self.name
        return f"{self.where}: {written}" if self.where else written


def unknown(given: Iterable[Given]) -> list[Given]:
    """The names under the stack's prefixes that no setting reads."""
    return [item for item in given if under_prefix(item.name) and item.name.upper() not in KNOWN]


def not_a_setting(item: Given) -> str:
    """One line saying ``item`` is not a setting, with the closest name that is, written the same way."""
    match = difflib.get_close_matches(item.name.upper(), KNOWN, n=1, cutoff=0.6)
    if not match:
        return f"{item.shown()} is not a setting"
    return f"{item.shown()} is not a setting; did you mean {KNOWN[match[0]] if item.dotted else match[0]}?"
