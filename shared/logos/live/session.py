"""A paper session's files: the append-only event log while it runs, the artifact set when it ends.

runs/live/sessions/<id>/  state.jsonl (every order, fill, denial, account and trading-state change,
appended as it happens), state.json (the latest account), orders.csv, trades.csv (same columns as a
backtest's), positions.csv, account.csv, session.md (the summary first), plots/equity.png, and
logs/run.log (a readable line per order, fill, denial and state change, as it happens).

Memory stays flat however long the session runs: account rows, finished orders and fills go to
spool/ as they happen (:mod:`logos.live.session_spool`), and every ``snapshot_every`` events
snapshot.json holds the restorable state, so a restart reads it and only the tail of state.jsonl.

runs/live/latest_session points at the newest session from the moment it starts (a symlink moved
atomically), so a running session is never hidden behind an older finished one; its files appear at
each checkpoint and at the end, and readers take a session without them as running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from logos.backtest.artifacts import EXECUTION_COLUMNS, table
from logos.contracts import AccountSnapshot, Bar, OrderDenied, TradingState, TradingStateChanged
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.files import atomic_write_text
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.live.run_log import NO_TIME, RunLog
from logos.live.session_markdown import session_markdown
from logos.live.session_spool import (
    RowSpool,
    SessionCorrupt,
    cells,
    read_snapshot,
    read_tail,
    write_snapshot,
)
from logos.live.summary import SessionSummary, summarize
from logos.paths import Paths

__all__ = ["DENIAL_ROWS", "DryRunOrder", "SessionCorrupt", "SessionRecorder", "read_events"]
DENIAL_ROWS = 200  # denials kept as rows for session.md; beyond them only their counts by rule


def _fill(execution: Execution) -> dict[str, str]:
    return {"order_id": execution.order_id, "ts": execution.ts.isoformat(), "side": execution.side.value,
            "quantity": str(execution.quantity), "price": str(execution.price), "fee": str(execution.fee)}  # fmt: skip


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def read_events(path: Path) -> list[dict[str, Any]]:
    """Read a session's whole event log; a torn last line (a crash mid-write) is dropped, anything else refuses."""
    return read_tail(path)[0]


ACCOUNT_COLUMNS = [
    "ts", "cash", "equity", "realized_pnl", "unrealized_pnl", "fees_paid", "gross_exposure", "net_exposure",
]  # fmt: skip
POSITION_COLUMNS = ["symbol", "quantity", "average_price", "market_price", "unrealized_pnl"]
ORDER_COLUMNS = [
    "id",
    "decision_id",
    "intent_id",
    "symbol",
    "side",
    "quantity",
    "filled",
    "status",
    "decided_at",
    "order_type",
    "reason",  # why it ended short: the venue's rejection, or insufficient_cash (the rest canceled)
]


@dataclass(frozen=True)
class DryRunOrder:
    """An orders.csv row for a venue request a dry run built: status dry_run, or dry_run_denied when refused locally."""

    id: str
    decision_id: str
    intent_id: str
    symbol: str
    side: str
    quantity: str
    filled: str
    status: str
    decided_at: str
    order_type: str
    reason: str  # a locally denied request: why

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DryRunOrder:
        status = "dry_run" if record["outcome"] == "dry_run" else f"dry_run_{record['outcome']}"
        reason = "" if record["outcome"] == "dry_run" else str(record.get("reason") or "")
        return cls(record["client_order_id"], record["decision_id"], record["intent_id"], record["symbol"],
                   record["side"], str(record["quantity"]), "0", status, record["decided_at"],
                   record["order_type"], reason)  # fmt: skip


@dataclass
class SessionRecorder:
    """Writes one session's events as they happen and its artifacts at the end.

    ``snapshot_every`` > 0 takes a snapshot (and retires the broker's finished orders and fills to
    the spool) every that many events, at the first :meth:`settle` after them; 0 never does, and a
    restart then replays the whole event log.
    """

    paths: Paths
    session_id: str
    configuration: dict[str, Any]
    snapshot_every: int = 0
    denials: list[OrderDenied] = field(default_factory=list)  # the first DENIAL_ROWS
    denied: int = 0  # every denial recorded
    denied_by: dict[str, tuple[int, str]] = field(default_factory=dict)  # rule: its count, its first detail
    bars: int = 0  # bars handled (each an account row in account.csv)
    first_account: AccountSnapshot | None = None
    last_account: AccountSnapshot | None = None
    state_changes: list[TradingStateChanged] = field(default_factory=list)
    dry_runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the venue's side of a routed session, for session.md
    decisions: set[str] = field(default_factory=set)  # risk's approvals the executor handled
    refusals: dict[str, str] = field(default_factory=dict)  # decisions the executor's hard limits refused: why
    refused_by: dict[str, tuple[int, str]] = field(default_factory=dict)  # hard limit: its count, its first detail
    trading_state: TradingState = TradingState.ACTIVE  # the last one risk reported
    kill_switch: bool = False
    summary: SessionSummary | None = None  # as of the last write
    events: int = 0  # lines of state.jsonl, restored ones included
    last_read: dict[str, Any] = field(default_factory=dict)  # what restore() read: snapshot or not, offset, events
    _events: BinaryIO | None = None
    _run_log: RunLog | None = None
    _denial_ids: set[str] = field(default_factory=set)
    _broker: PaperBroker | None = None  # the broker restore() rebuilt, whose state a snapshot holds
    _since_snapshot: int = 0

    def __post_init__(self) -> None:
        spool = self.directory / "spool"
        self._account_rows = RowSpool(spool / "account.csv", ACCOUNT_COLUMNS)
        self._order_rows = RowSpool(spool / "orders.csv", ORDER_COLUMNS)
        self._trade_rows = RowSpool(spool / "trades.csv", EXECUTION_COLUMNS)

    @property
    def directory(self) -> Path:
        return self.paths.live_session(self.session_id)

    @property
    def snapshot_path(self) -> Path:
        return self.directory / "snapshot.json"

    @property
    def run_log(self) -> RunLog:
        if self._run_log is None:
            self._run_log = RunLog(self.directory / "logs" / "run.log")
        return self._run_log

    def open(self) -> None:
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        (self.directory / "plots").mkdir(exist_ok=True)
        self._events = (self.directory / "state.jsonl").open("ab")

    def start(self, resumed_events: int = 0) -> None:
        """Open the session, log its start (or resumption) with its settings, and point latest_session at it."""
        if self._events is None:
            self.open()
        how = f"resumed from {resumed_events} events" if resumed_events else "started"
        self.run_log.settings(NO_TIME, f"session {self.session_id} {how}", self.configuration)
        self._point_latest()

    def event(self, kind: str, **fields: Any) -> None:
        """Append one event line; flushed at once so a crash loses at most the line being written."""
        if self._events is None:
            self.open()
        assert self._events is not None
        line = json.dumps({"event": kind, **fields}, default=str, sort_keys=True)
        self._events.write(line.encode("utf-8") + b"\n")
        self._events.flush()
        self.events += 1
        self._since_snapshot += 1
        if kind == "order" and fields.get("decision_id"):
            self.decisions.add(str(fields["decision_id"]))
        if kind != "bar" or fields.get("fills"):  # a quiet bar has no line in run.log
            self.run_log.event(kind, json.loads(line))

    def bar(self, bar: Bar, executions: list[Execution], snapshot: AccountSnapshot) -> None:
        """Record a handled bar — its fills and the account after it — as one line (all or nothing)."""
        self._note_bar(snapshot)
        self.event("bar", bar=bar.model_dump(mode="json"), fills=[_fill(e) for e in executions],
                   account=snapshot.model_dump(mode="json"))  # fmt: skip

    def order(
        self,
        decision_id: str,
        paper: PaperOrder | None,
        canceled: list[str],
        executions: list[Execution],
        rejection: str | None,
        ts: datetime,
    ) -> None:
        """Record an accepted decision: the order it opened (if any), what it cancelled, immediate fills.

        ``rejection`` is the venue's reason when it refused the order; ``ts`` the decision's time, for a
        decision that opened no order.
        """
        self.event(
            "order",
            ts=(paper.history[0][0] if paper else ts).isoformat(),
            decision_id=decision_id,
            id=paper.id if paper else None,
            intent_id=paper.intent_id if paper else None,
            symbol=paper.symbol if paper else None,
            side=paper.side.value if paper else None,
            quantity=str(paper.quantity) if paper else None,
            decided_at=paper.decided_at.isoformat() if paper else None,
            order_type=paper.order_type.value if paper else None,
            limit_price=str(paper.limit_price) if paper and paper.limit_price else None,
            canceled=canceled,
            fills=[_fill(e) for e in executions],
            rejection=rejection,
        )

    def dry_run(self, decision_id: str, paper: PaperOrder, broker: str, outcome: str, reason: str,
                client_order_id: str, request: dict[str, Any]) -> None:  # fmt: skip
        """Record the venue request a dry run built for ``paper`` (never sent); ``request`` holds no secret."""
        record = {"ts": paper.history[0][0].isoformat(), "decision_id": decision_id, "order_id": paper.id,
                  "intent_id": paper.intent_id, "client_order_id": client_order_id, "broker": broker,
                  "symbol": paper.symbol, "side": paper.side.value, "quantity": request.get("quantity")
                  or request.get("qty") or request.get("amount") or str(paper.quantity),
                  "decided_at": paper.decided_at.isoformat(), "order_type": paper.order_type.value,
                  "outcome": outcome, "reason": reason, "request": request}  # fmt: skip
        self.dry_runs.append(record)
        self.event("dry_run", **record)

    def dry_run_orders(self) -> list[DryRunOrder]:
        """The would-be venue orders, as rows for orders.csv after the paper orders that stood in for them."""
        return [DryRunOrder.from_record(record) for record in self.dry_runs]

    def denial(self, denial: OrderDenied) -> None:
        """Record an intent risk denied (once: a redelivery carries the same id)."""
        if denial.id in self._denial_ids:
            return
        self._note_denial(denial)
        self.event("denied", denial=denial.model_dump(mode="json"))

    def refusal(self, decision_id: str, ts: datetime, limit: str, detail: str, **order: Any) -> None:
        """Record a decision the executor's own hard limits refused (nothing was sent for it)."""
        self._note_refusal({"decision_id": decision_id, "limit": limit, "detail": detail})
        self.event("refused", ts=ts.isoformat(), decision_id=decision_id, limit=limit, detail=detail, **order)
        self.run_log.line(ts.isoformat(), "CRIT", f"decision {decision_id} refused by hard limit {limit}: {detail}")

    def _note_refusal(self, record: dict[str, Any]) -> None:
        limit, detail = str(record["limit"]), str(record["detail"])
        self.refusals[str(record["decision_id"])] = f"executor hard limit {limit}: {detail}"
        count, first = self.refused_by.get(limit, (0, detail))
        self.refused_by[limit] = (count + 1, first)

    def _note_denial(self, denial: OrderDenied) -> None:
        if len(self.denials) < DENIAL_ROWS:
            self.denials.append(denial)
        self.denied += 1
        count, first = self.denied_by.get(denial.reason.value, (0, denial.detail))
        self.denied_by[denial.reason.value] = (count + 1, first)
        self._denial_ids.add(denial.id)
        self.trading_state = denial.trading_state

    def _note_bar(self, snapshot: AccountSnapshot) -> None:
        self.bars += 1
        self.first_account = self.first_account or snapshot
        self.last_account = snapshot
        self._account_rows.append([cells(snapshot, ACCOUNT_COLUMNS)])

    def state_change(self, change: TradingStateChanged) -> None:
        """Record a change of risk's trading state or kill switch (a breaker, the kill switch, an operator)."""
        if any(recorded.id == change.id for recorded in self.state_changes):
            return  # delivered again after a restart
        self._note_state_change(change)
        self.event("trading_state", change=change.model_dump(mode="json"))

    def _note_state_change(self, change: TradingStateChanged) -> None:
        self.state_changes.append(change)
        self.trading_state, self.kill_switch = change.trading_state, change.kill_switch

    def write(self, orders: list[Any], executions: list[Execution], realized: Decimal, fees: Decimal) -> Path:
        """Write the artifact set, file by file atomically, and its summary to run.log; the logs stay open.

        A running session writes it at a checkpoint (the end of a replay), so readers see complete files.
        """
        return self._write(orders, executions, realized, fees, "checkpoint")

    def _write(
        self, orders: list[Any], executions: list[Execution], realized: Decimal, fees: Decimal, moment: str
    ) -> Path:
        if self._events is None:
            self.open()
        directory = self.directory
        self.summary = self._summarize(orders, executions)
        self._trade_rows.write_table(directory / "trades.csv", [cells(e, EXECUTION_COLUMNS) for e in executions])
        self._write_orders(orders, directory / "orders.csv")
        self._account_rows.write_table(directory / "account.csv")
        last = self.last_account
        _write_csv(table(last.positions if last else (), POSITION_COLUMNS), directory / "positions.csv")
        if last is not None:
            atomic_write_text(directory / "state.json", last.model_dump_json(indent=2) + "\n")
        self._plot()
        total_orders, total_fills = self._order_rows.rows + len(orders), self._trade_rows.rows + len(executions)
        markdown = session_markdown(self, total_orders, total_fills, realized, fees, last)
        atomic_write_text(directory / "session.md", markdown)
        self._log_summary(self.summary, moment, last)
        return directory

    def _write_orders(self, orders: list[Any], target: Path) -> None:
        """orders.csv: the paper orders by number (the retired ones from the spool), then the dry run's requests."""
        paper = [cells(order, ORDER_COLUMNS) for order in orders if isinstance(order, PaperOrder)]
        others = [cells(order, ORDER_COLUMNS) for order in orders if not isinstance(order, PaperOrder)]
        if not self._order_rows.rows:
            self._order_rows.write_table(target, paper + others)
            return
        placed = sorted(self._order_rows.read() + paper, key=lambda row: int(row[0][1:]))  # ids o1, o2, ...
        self._order_rows.write_table(target, others, replace=placed)

    def finish(self, orders: list[Any], executions: list[Execution], realized: Decimal, fees: Decimal) -> Path:
        """Write the artifact set and close the logs: the session is over."""
        directory = self._write(orders, executions, realized, fees, "end")
        if self.snapshot_every and self._broker is not None:
            self.snapshot()  # a restart of a finished session reads it, not the whole log
        if self._events is not None:
            self._events.close()
            self._events = None
        for spool in (self._account_rows, self._order_rows, self._trade_rows):
            spool.close()
        self.run_log.close()
        return directory

    def _summarize(self, orders: list[Any], executions: list[Execution]) -> SessionSummary:
        placed = sum(1 for order in orders if isinstance(order, PaperOrder))  # not a dry run's venue requests
        return summarize(
            bars=self.bars,
            fills=self._trade_rows.rows + len(executions),
            orders=self._order_rows.rows + placed,
            approved=len(self.decisions),
            denials=self.denials,
            denied_by=self.denied_by,
            trading_state=self.trading_state,
            kill_switch=self.kill_switch,
            dry_runs=self.dry_runs,
            refused_by=self.refused_by,
        )

    def _log_summary(self, summary: SessionSummary, moment: str, last: AccountSnapshot | None) -> None:
        when = last.bar_ts.isoformat() if last is not None and last.bar_ts is not None else NO_TIME
        for line in summary.lines():
            self.run_log.line(when, "INFO", f"summary ({moment}): {line}")
        for line in summary.warnings():
            self.run_log.line(when, "WARN", f"summary ({moment}): {line}")

    def restore(self, broker: PaperBroker, other: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Rebuild ``broker`` and this recorder from the snapshot and the event log after it; return the events.

        Without a snapshot the whole log is read. ``other`` gets, in their place in the log, the events
        this recorder does not know (a venue's). A line torn by a crash is cut off the log, and the
        spooled rows go back to where the snapshot left them: what follows is rebuilt from the log.
        """
        self._broker = broker
        log = self.directory / "state.jsonl"
        snapshot = read_snapshot(self.snapshot_path)
        offset = 0
        if snapshot is None:
            for spool in (self._account_rows, self._order_rows, self._trade_rows):
                spool.cut(0, 0)
        else:
            broker.load_state(snapshot["broker"])
            self._load_state(snapshot["recorder"])
            offset, self.events = snapshot["log_offset"], snapshot["events"]
            for spool, name in (
                (self._account_rows, "account"),
                (self._order_rows, "orders"),
                (self._trade_rows, "trades"),
            ):
                spool.cut(*snapshot["spools"][name])
        records, end = read_tail(log, offset)
        if log.exists() and log.stat().st_size > end:
            os.truncate(log, end)  # the torn line of a crash: its message comes again
        self.last_read = {"snapshot": snapshot is not None, "offset": offset, "events": len(records)}
        for record in records:
            kind = record["event"]
            if kind == "bar":
                snapshot_ = AccountSnapshot.model_validate(record["account"])
                broker.restore_bar(Bar.model_validate(record["bar"]), record["fills"])
                self._note_bar(snapshot_)
            elif kind == "order":
                broker.restore_order(record)
                self.decisions.add(record["decision_id"])
            elif kind == "denied":
                self._note_denial(OrderDenied.model_validate(record["denial"]))
            elif kind == "refused":
                self._note_refusal(record)
            elif kind == "trading_state":
                self._note_state_change(TradingStateChanged.model_validate(record["change"]))
            elif kind == "dry_run":
                self.dry_runs.append({key: value for key, value in record.items() if key != "event"})
            elif kind == "kill":
                for order_id in record["canceled"]:
                    broker.orders[order_id].move(datetime.fromisoformat(record["ts"]), OrderStatus.CANCELED)
            elif other is not None:
                other(record)
        self.events += len(records)
        if self.snapshot_every and records:
            self.snapshot()
        return self.events

    def settle(self) -> None:
        """Between two messages: take a snapshot when ``snapshot_every`` events have passed since the last one."""
        if self.snapshot_every and self._broker is not None and self._since_snapshot >= self.snapshot_every:
            self.snapshot()

    def snapshot(self) -> None:
        """Retire the broker's finished orders and fills to the spool, then write snapshot.json atomically.

        The spools and the log are made durable before the snapshot that points into them is renamed
        into place; a crash at any step leaves the previous snapshot, whose offsets cut off whatever
        was appended after it.
        """
        broker = self._broker
        assert broker is not None, "restore() binds the broker a snapshot holds"
        if self._events is None:
            self.open()
        assert self._events is not None
        finished, executions = broker.retire()
        self._order_rows.append([cells(paper, ORDER_COLUMNS) for paper in finished])
        self._trade_rows.append([cells(execution, EXECUTION_COLUMNS) for execution in executions])
        spools = {"account": self._account_rows, "orders": self._order_rows, "trades": self._trade_rows}
        for spool in spools.values():
            spool.sync()
        self._events.flush()
        os.fsync(self._events.fileno())
        write_snapshot(
            self.snapshot_path,
            {
                "events": self.events,
                "log_offset": self._events.tell(),
                "spools": {name: [spool.offset(), spool.rows] for name, spool in spools.items()},
                "broker": broker.state(),
                "recorder": self._state(),
            },
        )
        self._since_snapshot = 0

    def _state(self) -> dict[str, Any]:
        """The recorder's restorable state, as JSON values."""
        return {
            "bars": self.bars,
            "first_account": self.first_account.model_dump(mode="json") if self.first_account else None,
            "last_account": self.last_account.model_dump(mode="json") if self.last_account else None,
            "denials": [denial.model_dump(mode="json") for denial in self.denials],
            "denied": self.denied,
            "denied_by": {rule: list(entry) for rule, entry in self.denied_by.items()},
            "denial_ids": sorted(self._denial_ids),
            "state_changes": [change.model_dump(mode="json") for change in self.state_changes],
            "dry_runs": self.dry_runs,
            "decisions": sorted(self.decisions),
            "refusals": self.refusals,
            "refused_by": {limit: list(entry) for limit, entry in self.refused_by.items()},
            "trading_state": self.trading_state.value,
            "kill_switch": self.kill_switch,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        accounts = [
            None if state[key] is None else AccountSnapshot.model_validate(state[key])
            for key in ("first_account", "last_account")
        ]
        self.bars, (self.first_account, self.last_account) = state["bars"], accounts
        self.denials = [OrderDenied.model_validate(denial) for denial in state["denials"]]
        self.denied = state["denied"]
        self.denied_by = {rule: (count, first) for rule, (count, first) in state["denied_by"].items()}
        self._denial_ids = set(state["denial_ids"])
        self.state_changes = [TradingStateChanged.model_validate(change) for change in state["state_changes"]]
        self.dry_runs = state["dry_runs"]
        self.decisions = set(state["decisions"])
        self.refusals = dict(state.get("refusals", {}))  # a snapshot from before hard limits has none
        self.refused_by = {limit: (count, first) for limit, (count, first) in state.get("refused_by", {}).items()}
        self.trading_state, self.kill_switch = TradingState(state["trading_state"]), state["kill_switch"]

    def _plot(self) -> None:
        if not self.bars:
            return
        times, equity = [], []
        for row in self._account_rows.rows_of():  # two columns of every row, never all of them at once
            times.append(row[0])
            equity.append(row[2])
        accounts = pd.DataFrame({"ts": times, "equity": equity})
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        figure, axis = plt.subplots(figsize=(11, 4), layout="constrained")
        axis.plot(pd.to_datetime(accounts["ts"]), accounts["equity"].astype(float), color="#1f5fbf", linewidth=1.2)
        axis.set_title(f"session {self.session_id}: equity")
        axis.grid(alpha=0.3)
        target = self.directory / "plots" / "equity.png"
        temporary = target.with_name(f".{target.name}.{os.getpid()}.png")
        figure.savefig(temporary, dpi=100, metadata={"Software": None})
        plt.close(figure)
        os.replace(temporary, target)

    def _point_latest(self) -> None:
        """Move latest_session to this session: a new symlink renamed over the old one, never a missing pointer."""
        pointer = self.paths.latest_session
        temporary = pointer.with_name(f".{pointer.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path("sessions") / self.session_id)
        os.replace(temporary, pointer)
