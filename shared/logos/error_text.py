"""One line for any error a user caused: what the command line, a service start-up and the validator print."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_settings import BaseSettings


def _settings_class(title: str) -> type[BaseSettings] | None:
    """The settings class named ``title``, so its errors can name the environment variable to fix."""
    waiting: list[type[BaseSettings]] = [BaseSettings]
    while waiting:
        kind = waiting.pop()
        if kind.__name__ == title and kind is not BaseSettings:
            return kind
        waiting.extend(kind.__subclasses__())
    return None


def validation_lines(exc: ValidationError) -> list[str]:
    """Return each of pydantic's errors as ``where: what`` without its input echo or documentation URL.

    An error of a settings class names its environment variable (``LOGOS_SHARDS``, ``RISK_LIMITS__MAX_DRAWDOWN``).
    """
    settings = _settings_class(exc.title)
    prefix = str(settings.model_config.get("env_prefix", "")) if settings else None
    lines = []
    for error in exc.errors(include_url=False):
        parts = [str(part) for part in error["loc"]]
        where = prefix + "__".join(parts).upper() if prefix is not None and parts else ".".join(parts)
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def one_line(exc: BaseException) -> str:
    """Return ``exc`` as one line: pydantic's errors joined by ``;``, anything else with its whitespace folded."""
    if isinstance(exc, ValidationError):
        return "; ".join(validation_lines(exc))
    text = str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)
    return " ".join(text.split()) or type(exc).__name__
