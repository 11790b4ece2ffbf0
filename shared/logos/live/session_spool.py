"""What keeps a long session's memory flat: its rows on disk as they happen, its state in a snapshot.

A session's account rows (one a bar), finished orders and fills are appended to ``spool/*.csv``
(the rows of account.csv, orders.csv and trades.csv, without the header) instead of lists that
grow with every bar; the tables are the header plus those rows, written in the same bytes as a
table of the same objects (:func:`cells` mirrors :func:`logos.backtest.artifacts.table`).

Every so many events the executor writes ``snapshot.json``: everything a restart needs (the
broker's cash, lots, working orders, marks and last bars, the recorder's counts, the byte offset
of state.jsonl and of each spool it covers). ``state.jsonl`` stays the full append-only history;
a restart reads the snapshot and only the events after its offset.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

from logos.files import atomic_write_text

SNAPSHOT_VERSION = 1


class SessionCorrupt(RuntimeError):
    """A session's event log cannot be read back; the message names the file, the line and what to do."""


def _text(value: Any) -> str:
    if value is None:  # e.g. the reason of an order that ended as asked
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value.value if isinstance(value, Enum) else value)


def cells(item: object, columns: list[str]) -> list[str]:
    """One table row of ``item``: its ``columns`` attributes as exact strings, as a session's tables write them."""
    return [_text(getattr(item, column)) for column in columns]


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


class RowSpool:
    """Table rows appended to a file as they happen (no header): the table is the header plus these rows."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        self.rows = 0
        self._file: BinaryIO | None = None

    def append(self, rows: list[list[str]]) -> None:
        if not rows:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(_csv(rows))
        self.rows += len(rows)

    def offset(self) -> int:
        """The spool's length in bytes, everything appended so far included."""
        if self._file is not None:
            self._file.flush()
            return self._file.tell()
        return self.path.stat().st_size if self.path.exists() else 0

    def sync(self) -> None:
        """Make everything appended so far durable (before a snapshot points past it)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def cut(self, offset: int, rows: int) -> None:
        """Go back to ``offset`` bytes holding ``rows`` rows (a restart: what follows is rebuilt from the log)."""
        self.close()
        if self.path.exists():
            if self.path.stat().st_size < offset:
                raise SessionCorrupt(
                    f"{self.path} is shorter than the snapshot says ({offset} bytes); move the "
                    f"session directory {self.path.parent.parent} aside to start a new session"
                )
            os.truncate(self.path, offset)
        elif offset:
            raise SessionCorrupt(f"{self.path} is missing; the snapshot counts {rows} rows in it")
        self.rows = rows

    def read(self) -> list[list[str]]:
        """Every row appended so far."""
        return list(self.rows_of())

    def rows_of(self) -> Iterator[list[str]]:
        """Every row appended so far, one at a time."""
        self.offset()
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", newline="") as handle:
            yield from csv.reader(handle)

    def write_table(self, target: Path, extra: list[list[str]] = (), replace: list[list[str]] | None = None) -> None:  # type: ignore[assignment]
        """Write ``target`` atomically: the header, the spooled rows (or ``replace``), then ``extra``."""
        self.offset()
        temporary = target.with_name(f".{target.name}.{os.getpid()}")
        with temporary.open("wb") as handle:
            handle.write(_csv([self.columns]))
            if replace is not None:
                handle.write(_csv(replace))
            elif self.path.exists():
                with self.path.open("rb") as spooled:
                    while chunk := spooled.read(1 << 20):
                        handle.write(chunk)
            handle.write(_csv(list(extra)))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_tail(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Read a session's event log from byte ``offset``; return its records and where its last whole line ends.

    A torn last line (a crash mid-write) is left out (the caller cuts it off before appending);
    anything else unreadable refuses.
    """
    if not path.exists():
        if offset:
            raise SessionCorrupt(f"{path} is missing; its snapshot covers {offset} bytes of it")
        return [], 0
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size < offset:
            raise SessionCorrupt(
                f"{path} holds {size} bytes, fewer than the {offset} its snapshot covers; move "
                f"{path.parent} aside to start a new session"
            )
        if offset:
            handle.seek(offset - 1)
            if handle.read(1) != b"\n":
                raise SessionCorrupt(f"{path}: the snapshot's offset {offset} is not the end of a line")
        handle.seek(offset)
        data = handle.read()
    records = []
    end = offset
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if number == len(lines):
            # after the last newline: nothing, or a line the process died writing; its message was not
            # acknowledged, so it is delivered again and the line written again
            break
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SessionCorrupt(
                    f"{path} line {number} after byte {offset} is not valid JSON ({exc.msg}); the session cannot "
                    f"be reconciled. Move {path.parent} aside to start a new session, or repair the line if you "
                    "know what it held."
                ) from None
        end += len(line) + 1
    return records, end


def write_snapshot(path: Path, document: dict[str, Any]) -> None:
    """Write the snapshot atomically: a crash leaves the previous one or this one, never half of either."""
    atomic_write_text(path, json.dumps({"version": SNAPSHOT_VERSION, **document}, sort_keys=True) + "\n")


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The session's last snapshot, or None when it has none yet."""
    if not path.exists():
        return None
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SessionCorrupt(
            f"{path} is not valid JSON ({exc.msg}); delete it to restore from state.jsonl alone"
        ) from None
    if document.get("version") != SNAPSHOT_VERSION:
        raise SessionCorrupt(
            f"{path} has version {document.get('version')}, not {SNAPSHOT_VERSION}; delete it to "
            "restore from state.jsonl alone"
        )
    return document
