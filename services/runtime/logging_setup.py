"""One log format for every process: time, level, logger, message; secrets masked."""

from __future__ import annotations

import logging

from logos.redact import redact_text


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr in the house format (idempotent)."""
    handler = logging.StreamHandler()
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
