"""Masking of secrets in what the dashboard shows: structured values through ``logos.redact``, text too.

Free text (log lines, session summaries, config files that do not parse) may hold ``NAME=value`` or
``"name": "value"`` pairs whose name looks secret, and URLs with passwords; both are masked.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from logos.redact import MASK, redact, redact_text

_ASSIGNED_SECRET = re.compile(
    r"""(?P<name>["']?[A-Za-z0-9_.-]*(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL)[A-Za-z0-9_.-]*["']?"""
    r"""\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^\s"',}]+)""",
    re.IGNORECASE,
)


def mask_text(text: str) -> str:
    """Mask URL passwords and the values of secret-looking ``name=value`` / ``name: value`` pairs."""

    def _mask(match: re.Match[str]) -> str:
        value = match.group("value")
        if value in {"null", "None", "none", "~", "''", '""'}:
            return match.group(0)
        return f"{match.group('name')}{match.group('quote')}{MASK}"

    return _ASSIGNED_SECRET.sub(_mask, redact_text(text))


def mask_value(value: Any, name: str = "") -> Any:
    """Mask secrets inside a parsed value (mappings, sequences, strings), by name and by content."""
    return redact(value, name, text=mask_text)


def mask_yaml(text: str) -> str:
    """Return a YAML document with its secrets masked (as text when it does not parse)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return mask_text(text)
    if not isinstance(document, dict | list):
        return mask_text(text)
    return yaml.safe_dump(mask_value(document), sort_keys=True)
