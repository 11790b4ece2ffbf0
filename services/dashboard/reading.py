"""Defensive file reads for the dashboard: cached by modification time, retried on half-written files.

Writers rename complete files into place, but a reader can still meet a file another process is
writing (a session's event log, a log file, an artifact copied by hand). Every read here is
read-only, tolerates a torn last line, retries a parse that fails, and reports instead of raising.
Tails and event logs are followed by offset, so a refresh reads only the bytes appended since the
previous one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml

log = logging.getLogger("services.dashboard")

T = TypeVar("T")

ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.05
CACHE_ENTRIES = 256
TAIL_BLOCK_BYTES = 64 * 1024
PARSE_ERRORS = (
    ValueError,  # json.JSONDecodeError, pandas' ParserError and EmptyDataError, UnicodeDecodeError
    yaml.YAMLError,
    KeyError,
    TypeError,
)


class Unreadable(RuntimeError):
    """A file that still could not be parsed after every attempt; the message says which and why."""


@dataclass(frozen=True)
class FileStamp:
    """What identifies one version of a file: a rewrite changes at least one of these."""

    inode: int
    size: int
    mtime_ns: int


def stamp(path: Path) -> FileStamp | None:
    """Return the file's stamp, or None when it does not exist (or is not a regular file)."""
    try:
        status = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return FileStamp(status.st_ino, status.st_size, status.st_mtime_ns)


class StampCache:
    """Parsed files keyed by path and parser, reused while the file's stamp is unchanged (LRU-bounded)."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._values: OrderedDict[tuple[str, str], tuple[FileStamp, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.parses = 0

    def get(self, path: Path, kind: str, parse: Callable[[Path], T]) -> T | None:
        """Return ``parse(path)``, from the cache when the file is unchanged; None when the file is absent.

        Raises :class:`Unreadable` when every attempt fails; the failure is remembered until the file
        changes, so an unchanged broken file is not retried on every refresh.
        """
        current = stamp(path)
        if current is None:
            return None
        key = (str(path), kind)
        with self._lock:
            cached = self._values.get(key)
            if cached is not None and cached[0] == current:
                self._values.move_to_end(key)
                if isinstance(cached[1], Unreadable):  # unchanged since it failed: no point retrying
                    raise cached[1]
                return cached[1]  # type: ignore[no-any-return]
        self.parses += 1
        try:
            value: T | Unreadable = read_with_retry(path, parse)
        except Unreadable as exc:
            value = exc
        with self._lock:
            self._values[key] = (current, value)
            self._values.move_to_end(key)
            while len(self._values) > self._entries:
                self._values.popitem(last=False)
        if isinstance(value, Unreadable):
            raise value
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def read_with_retry(path: Path, parse: Callable[[Path], T]) -> T:
    """Parse ``path``, retrying a few times when it looks half-written; raise :class:`Unreadable` at the end."""
    problem: Exception | None = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return parse(path)
        except FileNotFoundError:
            raise
        except PARSE_ERRORS as exc:
            problem = exc
            log.warning("%s is not readable yet (attempt %d of %d): %s", path, attempt, ATTEMPTS, exc)
            if attempt < ATTEMPTS:
                time.sleep(RETRY_DELAY_SECONDS)
    raise Unreadable(f"{path.name} could not be read after {ATTEMPTS} attempts (being written?): {problem}")


def complete_lines(data: bytes) -> bytes:
    """Cut a torn last line (bytes after the last newline): writers always end a line before the next."""
    if not data or data.endswith(b"\n"):
        return data
    cut = data.rfind(b"\n")
    return data[: cut + 1] if cut >= 0 else b""


def parse_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def parse_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def parse_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def csv_parser(required: tuple[str, ...] = ()) -> Callable[[Path], pd.DataFrame]:
    """Return a parser of a CSV with a header, reading only whole lines (column types inferred)."""

    def parse(path: Path) -> pd.DataFrame:
        data = complete_lines(path.read_bytes())
        if not data.strip():
            raise ValueError("the file is empty")
        frame = pd.read_csv(BytesIO(data), engine="c")
        missing = [column for column in required if column not in frame.columns]
        if missing:
            raise ValueError(f"missing columns {', '.join(missing)}")
        return frame

    return parse


def parquet_parser(required: tuple[str, ...] = ()) -> Callable[[Path], pd.DataFrame]:
    """Return a parser of a Parquet file (a torn or half-written one raises ValueError, like a bad CSV)."""

    def parse(path: Path) -> pd.DataFrame:
        from pyarrow import parquet

        frame: pd.DataFrame = parquet.read_table(path).to_pandas()
        missing = [column for column in required if column not in frame.columns]
        if missing:
            raise ValueError(f"missing columns {', '.join(missing)}")
        return frame

    return parse


@dataclass
class _Followed:
    inode: int
    offset: int
    pending: bytes = b""


@dataclass
class LogTail:
    """The last lines of a log file, followed by offset: each refresh reads only the appended bytes."""

    keep: int = 2000
    bytes_read: int = 0
    _state: dict[str, _Followed] = field(default_factory=dict)
    _lines: dict[str, deque[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lines(self, path: Path) -> list[str]:
        """Return up to ``keep`` last complete lines of ``path`` (empty when absent)."""
        with self._lock:
            try:
                status = os.stat(path)
            except OSError:
                self._forget(path)
                return []
            key = str(path)
            followed = self._state.get(key)
            if followed is None or followed.inode != status.st_ino or status.st_size < followed.offset:
                self._start(path, status.st_ino, status.st_size)
            else:
                self._advance(path, followed, status.st_size)
            return list(self._lines[key])

    def _forget(self, path: Path) -> None:
        self._state.pop(str(path), None)
        self._lines.pop(str(path), None)

    def _start(self, path: Path, inode: int, size: int) -> None:
        """First read (or the file was rotated or truncated): read only the end of it."""
        start = max(0, size - max(TAIL_BLOCK_BYTES, self.keep * 160))
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(size - start)
        self.bytes_read += len(data)
        if start > 0:  # the block starts mid-line
            data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
        whole = complete_lines(data)
        key = str(path)
        self._lines[key] = deque(_decode_lines(whole), maxlen=self.keep)
        self._state[key] = _Followed(inode=inode, offset=size, pending=data[len(whole) :])

    def _advance(self, path: Path, followed: _Followed, size: int) -> None:
        if size == followed.offset:
            return
        with path.open("rb") as handle:
            handle.seek(followed.offset)
            data = handle.read(size - followed.offset)
        self.bytes_read += len(data)
        followed.offset += len(data)
        data = followed.pending + data
        whole = complete_lines(data)
        followed.pending = data[len(whole) :]
        self._lines[str(path)].extend(_decode_lines(whole))


def _decode_lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


@dataclass
class _Events:
    inode: int
    offset: int
    records: list[dict[str, Any]]
    pending: bytes = b""
    skipped: int = 0


@dataclass
class EventFollower:
    """The records of an append-only JSON-lines file, read incrementally; a torn last line waits."""

    bytes_read: int = 0
    _state: dict[str, _Events] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def records(self, path: Path) -> tuple[list[dict[str, Any]], int]:
        """Return every complete record so far and how many lines were skipped as unreadable."""
        with self._lock:
            try:
                status = os.stat(path)
            except OSError:
                self._state.pop(str(path), None)
                return [], 0
            key = str(path)
            state = self._state.get(key)
            if state is None or state.inode != status.st_ino or status.st_size < state.offset:
                state = self._state[key] = _Events(inode=status.st_ino, offset=0, records=[])
            if status.st_size > state.offset:
                with path.open("rb") as handle:
                    handle.seek(state.offset)
                    data = handle.read(status.st_size - state.offset)
                self.bytes_read += len(data)
                state.offset += len(data)
                data = state.pending + data
                whole = complete_lines(data)
                state.pending = data[len(whole) :]
                for line in whole.splitlines():
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError:
                        state.skipped += 1
                        continue
                    if isinstance(record, dict):
                        state.records.append(record)
            return state.records, state.skipped
