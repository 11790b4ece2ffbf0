"""Replayed control commands: a signed command is acted on once, and only while it is fresh.

A signature proves who issued a command, not when: a copy of an old signed ``resume`` appended again
would lift today's kill. Risk therefore acts on a command only within ``max_age`` of its own time
(on the wall clock, whatever clock risk trades on: commands come from operators, now), and only once
per command id. The ids it acted on are kept beside ``risk_state.json``, so a restart does not forget
them; the same stream entry delivered again (a crash before its acknowledgement) is not a replay.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime, timedelta
from pathlib import Path

from logos.contracts import Control
from logos.files import atomic_write_text

REMEMBERED_COMMANDS = 1_000
FUTURE_TOLERANCE = timedelta(seconds=60)


class ControlGuard:
    """Which control commands risk already acted on (id → stream entry), and how old one may be."""

    def __init__(self, path: Path, max_age: timedelta) -> None:
        self.path, self.max_age = path, max_age
        self.applied: OrderedDict[str, str] = OrderedDict()
        if path.exists():
            self.applied.update(json.loads(path.read_text()))

    def problem(self, command: Control, entry_id: str, now: datetime) -> str | None:
        """Why ``command`` must not be acted on, or None; ``redelivered`` means it was acted on from this entry."""
        seen = self.applied.get(command.id)
        if seen == entry_id:
            return "redelivered"
        if seen is not None:
            return f"control command {command.id} was already acted on (entry {seen}): a replayed copy"
        if command.ts < now - self.max_age:
            age = (now - command.ts).total_seconds()
            return (
                f"control command {command.id} was issued {age:.0f}s ago, more than RISK_CONTROL_MAX_AGE_SECONDS="
                f"{self.max_age.total_seconds():.0f}: a replayed copy, or a clock that is off"
            )
        if command.ts > now + FUTURE_TOLERANCE:
            return f"control command {command.id} is dated {command.ts.isoformat()}, in the future"
        return None

    def acted_on(self, command: Control, entry_id: str) -> None:
        self.applied[command.id] = entry_id
        while len(self.applied) > REMEMBERED_COMMANDS:
            self.applied.popitem(last=False)
        atomic_write_text(self.path, json.dumps(self.applied, indent=1) + "\n")
