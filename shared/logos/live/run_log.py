"""A session's logs/run.log: one readable line per thing that happened, stamped with the event's own time.

Lines come from the session's events as they are recorded — orders, fills, risk denials,
trading-state changes, dry-run requests, the venue's answers, kills — framed by a start line with
the session's settings and the summary at every checkpoint. Bars without fills are left out.
Times are the events' own, so a replay's are the data's and its run.log repeats byte for byte; the
start line has none (no bar has arrived yet). Every line goes through :func:`logos.redact.redact`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from logos.redact import redact, redact_text

NO_TIME = "-"  # before the first bar: nothing to stamp a line with but the wall clock, which a replay must not use


def _fills(symbol: str, fills: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    lines = []
    for fill in fills:
        text = f"fill {fill['order_id']} {fill['side']} {fill['quantity']} {symbol} at {fill['price']}"
        lines.append((str(fill["ts"]), "INFO", f"{text}, fee {fill['fee']}"))
    return lines


def _bar(fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    return _fills(str(fields["bar"]["symbol"]), fields.get("fills") or [])


def _order(fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    when = str(fields["ts"])
    if fields.get("id") is None:
        return []  # the decision's target was already held: nothing ordered
    what = f"order {fields['id']} {fields['side']} {fields['quantity']} {fields['symbol']} ({fields['order_type']}"
    what += f" at {fields['limit_price']})" if fields.get("limit_price") else ")"
    lines = [(when, "INFO", what + (f", cancelling {', '.join(fields['canceled'])}" if fields.get("canceled") else ""))]
    if fields.get("rejection"):
        lines.append((when, "WARN", f"order {fields['id']} rejected: {fields['rejection']}"))
    return lines + _fills(str(fields["symbol"]), fields.get("fills") or [])


def _denied(fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    denial = fields["denial"]
    return [(str(denial["ts"]), "WARN", f"denied {denial['symbol']} by {denial['reason']}: {denial['detail']}")]


def _trading_state(fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    change = fields["change"]
    kill = ", kill switch on" if change["kill_switch"] else ""
    text = f"trading state {change['trading_state']}{kill} ({change['cause']}): {change['detail']}"
    return [(str(change["ts"]), "WARN", text)]


def _dry_run(fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    level = "INFO" if fields["outcome"] == "dry_run" else "WARN"
    text = f"dry run {fields['client_order_id']} {fields['side']} {fields['quantity']} {fields['symbol']}: "
    return [(str(fields["ts"]), level, text + str(fields["reason"]))]


def _venue(fields: dict[str, Any], kind: str) -> list[tuple[str, str, str]]:
    when = str(fields.get("ts", NO_TIME))
    if kind == "venue_fill":
        text = f"venue fill {fields['order_id']} {fields['side']} {fields['quantity']} at {fields['price']}, fee "
        return [(when, "INFO", text + str(fields["fee"]))]
    if kind in ("venue_submit", "venue_resolve"):
        level = "INFO" if fields["outcome"] == "accepted" else "WARN"
        return [(when, level, f"{kind} {fields['order_id']}: {fields['outcome']}: {fields['reason']}")]
    if kind == "venue_status":
        return [(when, "WARN", f"venue reports {fields['order_id']} {fields['status']}")]
    if kind == "venue_denied":
        return [(when, "WARN", f"denied before sending: {fields['reason']}")]
    if kind == "reconciled":
        found = "; ".join(fields.get("differences") or []) or "no difference"
        return [(when, "WARN" if fields.get("differences") else "INFO", f"reconciled with {fields['venue']}: {found}")]
    if kind in ("kill", "venue_kill"):
        cancelled = fields.get("canceled") or list(fields.get("outcomes") or {})
        return [(when, "WARN", f"kill switch ({fields['reason']}): cancelled {', '.join(cancelled) or 'nothing'}")]
    return []


_DESCRIBE: dict[str, Callable[[dict[str, Any]], list[tuple[str, str, str]]]] = {
    "bar": _bar,
    "order": _order,
    "denied": _denied,
    "trading_state": _trading_state,
    "dry_run": _dry_run,
}


def describe(kind: str, fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Return the run.log lines (time, level, text) of one session event; none for a quiet bar."""
    describer = _DESCRIBE.get(kind)
    return describer(fields) if describer is not None else _venue(fields, kind)


def _same_format(when: str) -> str:
    """One spelling of a time (events hold both ``...Z`` and ``...+00:00``)."""
    try:
        return datetime.fromisoformat(when).isoformat()
    except ValueError:
        return when


class RunLog:
    """Appends lines to one session's run.log, flushed as written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def open(self) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def line(self, when: str, level: str, text: str) -> None:
        """Write one line, its secrets masked."""
        self.open()
        assert self._file is not None
        self._file.write(f"{_same_format(when)} {level:<4} {redact_text(text)}\n")
        self._file.flush()

    def event(self, kind: str, fields: dict[str, Any]) -> None:
        """Write the lines of one session event."""
        for when, level, text in describe(kind, fields):
            self.line(when, level, text)

    def settings(self, when: str, text: str, settings: dict[str, Any]) -> None:
        """Write a line with the session's settings, as JSON with every secret-named value masked."""
        self.line(when, "INFO", f"{text}: {json.dumps(redact(settings), sort_keys=True, default=str)}")
