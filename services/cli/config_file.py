"""Read a configuration file for ``logos validate-config``: environment names, flat or nested by service.

Three shapes, read into the same environment names the services read:

- ``NAME=value`` lines (a ``.env`` file; anything but ``.yaml``/``.yml``);
- a flat YAML mapping of those names (``RISK_LIMITS__MAX_ORDER_NOTIONAL: 1000``);
- a YAML mapping nested by section (``risk: {limits: {max_order_notional: 1000}}``), one section per
  service (``logos``, ``feed``, ``ml``, ``ml_train``, ``risk``, ``executor``, ``brain``, ``dashboard``).

Both YAML shapes may be mixed in one file. An unknown section is refused here; an unknown name,
flat or nested, is found with the environment's by :mod:`services.cli.setting_names`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.cli.setting_names import SECTIONS, Given, nests, prefix, under_prefix


class ConfigFileError(ValueError):
    """A configuration file that cannot be read; the message names the file."""


@dataclass
class ConfigFile:
    """What a file sets: environment values, each name as written, and what cannot be read as a setting."""

    values: dict[str, str] = field(default_factory=dict)
    given: list[Given] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def set(self, name: str, value: Any, item: Given) -> None:
        self.values[name] = _env_text(value)
        self.given.append(item)

    def labels(self) -> dict[str, str]:
        """How each name is shown in a line about it: the file, and the name as the file wrote it."""
        return {item.name: item.shown() for item in self.given}


def read_config_file(path: Path) -> ConfigFile:
    """Read ``path`` (YAML when it ends in .yaml or .yml, else NAME=value lines)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read it: {exc.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        return _read_yaml(path, text)
    read = ConfigFile()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.removeprefix("export ").partition("=")
        if not separator or not name.strip():
            raise ConfigFileError(f"{path} line {number}: expected NAME=value")
        read.set(name.strip().upper(), value.strip().strip("'\""), Given(name.strip().upper(), str(path)))
    return read


def _read_yaml(path: Path, text: str) -> ConfigFile:
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(loaded, dict):
        raise ConfigFileError(f"{path}: expected a mapping (EXECUTOR_BROKER: ccxt, or executor: {{broker: ccxt}})")
    read = ConfigFile()
    for key, value in loaded.items():
        key = str(key)
        if key.lower() in SECTIONS:
            if isinstance(value, dict):
                _read_section(read, path, key.lower(), value)
            elif value is not None:  # an empty section sets nothing
                read.problems.append(f"{path}: section {key} must be a mapping of its settings ({key}: {{...}})")
        elif under_prefix(key) or (key.isupper() and not isinstance(value, dict)):
            read.set(key.upper(), value, Given(key.upper(), str(path)))  # flat, or a name outside the stack
        else:
            match = difflib.get_close_matches(key.lower(), SECTIONS, n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]}?" if match else f" (sections: {', '.join(SECTIONS)})"
            read.problems.append(f"{path}: {key} is neither a section nor a setting name{hint}")
    return read


def _read_section(read: ConfigFile, path: Path, section: str, values: dict[Any, Any]) -> None:
    def walk(name: str, dotted: str, value: Any) -> None:
        if isinstance(value, dict) and nests(name):
            for key, item in value.items():
                walk(f"{name}__{str(key).upper()}", f"{dotted}.{key}", item)
        else:
            read.set(name, value, Given(name, str(path), dotted))

    for key, value in values.items():
        walk(prefix(section) + str(key).upper(), f"{section}.{key}", value)


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else str(value)
