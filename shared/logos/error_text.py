"""One line for any error a user caused: what the command line, a service start-up and the validator print."""

from __future__ import annotations

from pydantic import ValidationError


def validation_lines(exc: ValidationError) -> list[str]:
    """Return each of pydantic's errors as ``where: what`` without its input echo or documentation URL."""
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def one_line(exc: BaseException) -> str:
    """Return ``exc`` as one line: pydantic's errors joined by ``;``, anything else with its whitespace folded."""
    if isinstance(exc, ValidationError):
        return "; ".join(validation_lines(exc))
    text = str(exc).strip("'\"") if isinstance(exc, KeyError) else str(exc)
    return " ".join(text.split()) or type(exc).__name__
