"""Names that become directories (run ids, session ids, model runs): one check for all of them.

A name is one path component of letters, digits, ``.``, ``_`` and ``-`` that starts with a letter
or digit, at most 128 characters. Anything else (``..``, ``/``, an absolute path, ``;``, spaces, a
leading ``-`` or ``.``) is refused, and the resolved directory must stay under its root, so a
symlink planted inside the root cannot lead out of it either.
"""

from __future__ import annotations

import re
from pathlib import Path

MAX_NAME_LENGTH = 128
NAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LENGTH - 1}}}")
RULE = f"use 1-{MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit"


class UnsafeName(ValueError):
    """A name that would not stay one directory under its root; the message says what is allowed."""


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else f"{value[:37]!r}... ({len(value)} characters)"


def check_name(kind: str, value: str) -> str:
    """Return ``value`` when it is a safe directory name, else raise UnsafeName naming ``kind``."""
    if not NAME_PATTERN.fullmatch(value):
        raise UnsafeName(f"{kind} {_shown(value)} is not a safe name: {RULE}")
    return value


def child(root: Path, kind: str, name: str) -> Path:
    """Return ``root / name`` after checking ``name`` and that the resolved path stays under ``root``."""
    path = root / check_name(kind, name)
    resolved_root = root.resolve()
    if not path.resolve().is_relative_to(resolved_root):
        raise UnsafeName(f"{kind} {_shown(name)} leads outside {resolved_root}")
    return path
