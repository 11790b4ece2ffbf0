"""`logos stack watch` beside a replay asks the executor for the session's files once, when the replay has ended."""

from __future__ import annotations

from typing import Any

import pytest

from logos.contracts import ControlCommand
from services.cli import stack_replay


class Stack:
    """The /status details feed and executor report, moving on with each read, and the commands sent."""

    def __init__(self) -> None:
        self.reads = 0
        self.sent: list[tuple[ControlCommand, str]] = []

    def details(self, client: object, name: str, compose: bool) -> dict[str, Any]:
        self.reads += 1
        if name == "feed":
            return {"replay_finished": self.reads > 3, "replayed": 500}
        bars = min(500, self.reads * 100)
        checkpoint = {"bars": 500, "directory": "/srv/session"} if self.sent else None
        return {"bars": bars, "checkpoint": checkpoint}

    async def send(self, settings: object, command: ControlCommand, reason: str) -> None:
        self.sent.append((command, reason))


def test_watch_when_replay_ends_then_one_signed_checkpoint_and_the_directory_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = Stack()
    monkeypatch.setattr(stack_replay, "_details", stack.details)
    monkeypatch.setattr("services.cli.bus_control.send_control", stack.send)
    monkeypatch.setattr(stack_replay.time, "sleep", lambda seconds: None)
    stack_replay.checkpoint_when_replayed(False)
    assert stack.sent == [(ControlCommand.CHECKPOINT, "replay finished: 500 bars")]
    assert "replay finished: 500 bars; the session's files are in /srv/session" in capsys.readouterr().out


def test_checkpoint_when_executor_already_covers_the_replay_then_nothing_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = Stack()
    stack.sent.append((ControlCommand.CHECKPOINT, "earlier"))
    monkeypatch.setattr(stack_replay, "_details", stack.details)
    monkeypatch.setattr("services.cli.bus_control.send_control", stack.send)
    checkpoint = stack_replay.checkpoint_replay(object(), False, 500, float("inf"))  # type: ignore[arg-type]
    assert checkpoint == {"bars": 500, "directory": "/srv/session"} and len(stack.sent) == 1
