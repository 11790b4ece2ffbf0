"""A paper session's files: the append-only event log while it runs, the artifact set when it ends.

runs/live/sessions/<id>/  state.jsonl (every order, fill, denial, account and trading-state change,
appended as it happens), state.json (the latest account), orders.csv, trades.csv (same columns as a
backtest's), positions.csv, account.csv, session.md, plots/equity.png, logs/run.log;
runs/live/latest_session points at the newest session once its files are complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from logos.backtest.artifacts import EXECUTION_COLUMNS, table
from logos.contracts import AccountSnapshot, Bar, OrderDenied, TradingStateChanged
from logos.execution.ledger import Execution
from logos.execution.order_states import OrderStatus
from logos.files import atomic_write_text
from logos.live.paper_broker import PaperBroker, PaperOrder
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
    _events: TextIO | None = None

    @property
    def directory(self) -> Path:
        return self.paths.live_session(self.session_id)

    def open(self) -> None:
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        (self.directory / "plots").mkdir(exist_ok=True)
        self._events = (self.directory / "state.jsonl").open("a", encoding="utf-8")

    def event(self, kind: str, **fields: Any) -> None:
        """Append one event line; flushed at once so a crash loses at most the line being written."""
        if self._events is None:
            self.open()
        assert self._events is not None
        self._events.write(json.dumps({"event": kind, **fields}, default=str, sort_keys=True) + "\n")
        self._events.flush()

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
        rejection: str | None = None,
    ) -> None:
        """Record an accepted decision: the order it opened (if any), what it cancelled, immediate fills.

        ``rejection`` is the venue's reason when it refused the order.
        """
        self.event(
            "order",
            ts=(paper.history[0][0] if paper else datetime.now(UTC)).isoformat(),
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
        self.denials.append(denial)
        self.event("denied", denial=denial.model_dump(mode="json"))

    def state_change(self, change: TradingStateChanged) -> None:
        """Record a change of risk's trading state or kill switch (a breaker, the kill switch, an operator)."""
        if any(recorded.id == change.id for recorded in self.state_changes):
            return  # delivered again after a restart
        self.state_changes.append(change)
        self.event("trading_state", change=change.model_dump(mode="json"))

    def write(self, orders: list[PaperOrder], executions: list[Execution], realized: Decimal, fees: Decimal) -> Path:
        """Write the artifact set, file by file atomically, and point latest_session at it; the log stays open.

        A running session writes it at a checkpoint (the end of a replay), so readers see complete files.
        """
        if self._events is None:
            self.open()
        directory = self.directory
        _write_csv(table(executions, EXECUTION_COLUMNS), directory / "trades.csv")
        _write_csv(table(orders, ORDER_COLUMNS), directory / "orders.csv")
        accounts = table(self.accounts, ACCOUNT_COLUMNS)
        _write_csv(accounts, directory / "account.csv")
        last = self.accounts[-1] if self.accounts else None
        _write_csv(table(last.positions if last else (), POSITION_COLUMNS), directory / "positions.csv")
        if last is not None:
            atomic_write_text(directory / "state.json", last.model_dump_json(indent=2) + "\n")
        self._plot(accounts)
        atomic_write_text(directory / "session.md", self._summary(orders, executions, realized, fees, last))
        self._point_latest()
        return directory

    def finish(self, orders: list[PaperOrder], executions: list[Execution], realized: Decimal, fees: Decimal) -> Path:
        """Write the artifact set and close the event log: the session is over."""
        directory = self.write(orders, executions, realized, fees)
        if self._events is not None:
            self._events.close()
            self._events = None
        return directory

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
            elif kind == "denied":
                self.denials.append(OrderDenied.model_validate(record["denial"]))
            elif kind == "trading_state":
                self.state_changes.append(TradingStateChanged.model_validate(record["change"]))
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

    def _summary(
        self,
        orders: list[PaperOrder],
        executions: list[Execution],
        realized: Decimal,
        fees: Decimal,
        last: AccountSnapshot | None,
    ) -> str:
        start = self.accounts[0].equity if self.accounts else None
        lines = [f"# Paper session {self.session_id}", "", "## Result", ""]
        if last is not None and start is not None:
            change = (last.equity / start - 1) * 100 if start else Decimal(0)
            lines += [f"- equity: {start} → {last.equity} ({change:.2f} %)", f"- cash: {last.cash}"]
        lines += [f"- realized PnL: {realized}", f"- fees: {fees}", f"- orders: {len(orders)}",
                  f"- fills: {len(executions)}", f"- denied intents: {len(self.denials)}", ""]  # fmt: skip
        lines += ["## Risk", ""]
        if self.denials:
            counts: dict[str, int] = {}
            for denial in self.denials:
                counts[denial.reason.value] = counts.get(denial.reason.value, 0) + 1
            lines += [f"- {reason}: {count} denied" for reason, count in sorted(counts.items())]
            lines += ["", "| time | symbol | reason | detail |", "|---|---|---|---|"]
            lines += [
                f"| {d.ts.isoformat()} | {d.symbol} | {d.reason.value} | {d.detail} |" for d in self.denials[:200]
            ]
        else:
            lines.append("- no intent was denied")
        lines += ["", "### Trading state", ""]
        if self.state_changes:
            lines += ["| time | state | kill switch | cause | detail |", "|---|---|---|---|---|"]
            lines += [
                f"| {c.ts.isoformat()} | {c.trading_state.value} | {'on' if c.kill_switch else 'off'} | {c.cause} "
                f"| {c.detail} |"
                for c in self.state_changes
            ]
        else:
            lines.append("- no change of trading state during the session")
        lines += ["", "## Data", ""]
        if self.accounts:
            lines.append(
                f"- bars from {self.accounts[0].bar_ts} to {self.accounts[-1].bar_ts} ({len(self.accounts)} handled)"
            )
        if self.notes:
            lines += ["", "## Venue", "", *self.notes]
        configuration = json.dumps(self.configuration, indent=2, sort_keys=True, default=str)
        lines += ["", "## Configuration", "", "```json", configuration, "```", ""]
        return "\n".join(lines)

    def _point_latest(self) -> None:
        pointer = self.paths.latest_session
        temporary = pointer.with_name(f".{pointer.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path("sessions") / self.session_id)
        os.replace(temporary, pointer)
