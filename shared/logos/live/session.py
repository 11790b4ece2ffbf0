"""A paper session's files: the append-only event log while it runs, the artifact set when it ends.

runs/live/sessions/<id>/  state.jsonl (every order, fill, denial, account and trading-state change,
appended as it happens), state.json (the latest account), orders.csv, trades.csv (same columns as a
backtest's), positions.csv, account.csv, session.md (the summary first), plots/equity.png, and
logs/run.log (a readable line per order, fill, denial and state change, as it happens).

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
from typing import Any, TextIO

import pandas as pd

from logos.backtest.artifacts import EXECUTION_COLUMNS, table
from logos.contracts import AccountSnapshot, Bar, OrderDenied, TradingState, TradingStateChanged
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.files import atomic_write_text
from logos.live.paper_broker import PaperBroker, PaperOrder
from logos.live.run_log import NO_TIME, RunLog
from logos.live.session_markdown import session_markdown
from logos.live.summary import SessionSummary, summarize
from logos.paths import Paths


class SessionCorrupt(RuntimeError):
    """A session's event log cannot be read back; the message names the file, the line and what to do."""


def _fill(execution: Execution) -> dict[str, str]:
    return {"order_id": execution.order_id, "ts": execution.ts.isoformat(), "side": execution.side.value,
            "quantity": str(execution.quantity), "price": str(execution.price), "fee": str(execution.fee)}  # fmt: skip


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def read_events(path: Path) -> list[dict[str, Any]]:
    """Read a session's event log; a torn last line (a crash mid-write) is dropped, anything else refuses."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):  # the last line, unterminated: written when the process died
                break
            raise SessionCorrupt(
                f"{path} line {number} is not valid JSON ({exc.msg}); the session cannot be reconciled. Move "
                f"{path.parent} aside to start a new session, or repair the line if you know what it held."
            ) from None
    return records


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

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DryRunOrder:
        status = "dry_run" if record["outcome"] == "dry_run" else f"dry_run_{record['outcome']}"
        return cls(record["client_order_id"], record["decision_id"], record["intent_id"], record["symbol"],
                   record["side"], str(record["quantity"]), "0", status, record["decided_at"],
                   record["order_type"])  # fmt: skip


@dataclass
class SessionRecorder:
    """Writes one session's events as they happen and its artifacts at the end."""

    paths: Paths
    session_id: str
    configuration: dict[str, Any]
    denials: list[OrderDenied] = field(default_factory=list)
    accounts: list[AccountSnapshot] = field(default_factory=list)
    state_changes: list[TradingStateChanged] = field(default_factory=list)
    dry_runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the venue's side of a routed session, for session.md
    decisions: set[str] = field(default_factory=set)  # risk's approvals the executor handled
    trading_state: TradingState = TradingState.ACTIVE  # the last one risk reported
    kill_switch: bool = False
    summary: SessionSummary | None = None  # as of the last write
    _events: TextIO | None = None
    _run_log: RunLog | None = None
    _denial_ids: set[str] = field(default_factory=set)

    @property
    def directory(self) -> Path:
        return self.paths.live_session(self.session_id)

    @property
    def run_log(self) -> RunLog:
        if self._run_log is None:
            self._run_log = RunLog(self.directory / "logs" / "run.log")
        return self._run_log

    def open(self) -> None:
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        (self.directory / "plots").mkdir(exist_ok=True)
        self._events = (self.directory / "state.jsonl").open("a", encoding="utf-8")

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
        self._events.write(line + "\n")
        self._events.flush()
        if kind == "order" and fields.get("decision_id"):
            self.decisions.add(str(fields["decision_id"]))
        if kind != "bar" or fields.get("fills"):  # a quiet bar has no line in run.log
            self.run_log.event(kind, json.loads(line))

    def bar(self, bar: Bar, executions: list[Execution], snapshot: AccountSnapshot) -> None:
        """Record a handled bar — its fills and the account after it — as one line (all or nothing)."""
        self.accounts.append(snapshot)
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

    def _note_denial(self, denial: OrderDenied) -> None:
        self.denials.append(denial)
        self._denial_ids.add(denial.id)
        self.trading_state = denial.trading_state

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
        _write_csv(table(executions, EXECUTION_COLUMNS), directory / "trades.csv")
        _write_csv(table(orders, ORDER_COLUMNS), directory / "orders.csv")
        accounts = table(self.accounts, ACCOUNT_COLUMNS)
        _write_csv(accounts, directory / "account.csv")
        last = self.accounts[-1] if self.accounts else None
        _write_csv(table(last.positions if last else (), POSITION_COLUMNS), directory / "positions.csv")
        if last is not None:
            atomic_write_text(directory / "state.json", last.model_dump_json(indent=2) + "\n")
        self._plot(accounts)
        markdown = session_markdown(self, len(orders), len(executions), realized, fees, last)
        atomic_write_text(directory / "session.md", markdown)
        self._log_summary(self.summary, moment, last)
        return directory

    def finish(self, orders: list[Any], executions: list[Execution], realized: Decimal, fees: Decimal) -> Path:
        """Write the artifact set and close the logs: the session is over."""
        directory = self._write(orders, executions, realized, fees, "end")
        if self._events is not None:
            self._events.close()
            self._events = None
        self.run_log.close()
        return directory

    def _summarize(self, orders: list[Any], executions: list[Execution]) -> SessionSummary:
        placed = sum(1 for order in orders if isinstance(order, PaperOrder))  # not a dry run's venue requests
        return summarize(
            bars=len(self.accounts),
            fills=len(executions),
            orders=placed,
            approved=len(self.decisions),
            denials=self.denials,
            trading_state=self.trading_state,
            kill_switch=self.kill_switch,
            dry_runs=self.dry_runs,
        )

    def _log_summary(self, summary: SessionSummary, moment: str, last: AccountSnapshot | None) -> None:
        when = last.bar_ts.isoformat() if last is not None and last.bar_ts is not None else NO_TIME
        for line in summary.lines():
            self.run_log.line(when, "INFO", f"summary ({moment}): {line}")
        for line in summary.warnings():
            self.run_log.line(when, "WARN", f"summary ({moment}): {line}")

    def restore(self, broker: PaperBroker, other: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Rebuild ``broker`` and this recorder from the session's event log; return the events read.

        ``other`` gets, in their place in the log, the events this recorder does not know (a venue's).
        """
        records = read_events(self.directory / "state.jsonl")
        for record in records:
            kind = record["event"]
            if kind == "bar":
                snapshot = AccountSnapshot.model_validate(record["account"])
                broker.restore_bar(Bar.model_validate(record["bar"]), record["fills"])
                self.accounts.append(snapshot)
            elif kind == "order":
                broker.restore_order(record)
                self.decisions.add(record["decision_id"])
            elif kind == "denied":
                self._note_denial(OrderDenied.model_validate(record["denial"]))
            elif kind == "trading_state":
                self._note_state_change(TradingStateChanged.model_validate(record["change"]))
            elif kind == "dry_run":
                self.dry_runs.append({key: value for key, value in record.items() if key != "event"})
            elif kind == "kill":
                for order_id in record["canceled"]:
                    broker.orders[order_id].move(datetime.fromisoformat(record["ts"]), OrderStatus.CANCELED)
            elif other is not None:
                other(record)
        return len(records)

    def _plot(self, accounts: pd.DataFrame) -> None:
        if accounts.empty:
            return
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
