"""A session's session.md: the summary, the result, denials with the setting behind each, trading states, data."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING

from logos.contracts import AccountSnapshot, DenialReason
from logos.risk.remedies import remedy

if TYPE_CHECKING:
    from logos.live.session import SessionRecorder


def session_markdown(
    recorder: SessionRecorder, orders: int, fills: int, realized: Decimal, fees: Decimal, last: AccountSnapshot | None
) -> str:
    """Render session.md from what ``recorder`` holds and the ledger's totals."""
    start = recorder.first_account.equity if recorder.first_account else None
    lines = [f"# Paper session {recorder.session_id}", ""]
    lines += recorder.summary.markdown() if recorder.summary is not None else []
    lines += ["## Result", ""]
    if last is not None and start is not None:
        change = (last.equity / start - 1) * 100 if start else Decimal(0)
        lines += [f"- equity: {start} → {last.equity} ({change:.2f} %)", f"- cash: {last.cash}"]
    lines += [f"- realized PnL: {realized}", f"- fees: {fees}", f"- orders: {orders}", f"- fills: {fills}"]
    lines += [f"- denied intents: {recorder.denied}", "", "## Risk", ""]
    if recorder.denials:
        for reason, (count, _) in sorted(recorder.denied_by.items()):
            lines.append(f"- {reason}: {count} denied; {remedy(DenialReason(reason))}")
        lines += ["", "| time | symbol | reason | detail |", "|---|---|---|---|"]
        lines += [f"| {d.ts.isoformat()} | {d.symbol} | {d.reason.value} | {d.detail} |" for d in recorder.denials]
    else:
        lines.append("- no intent was denied")
    lines += ["", "### Trading state", ""]
    if recorder.state_changes:
        lines += ["| time | state | kill switch | cause | detail |", "|---|---|---|---|---|"]
        lines += [
            f"| {c.ts.isoformat()} | {c.trading_state.value} | {'on' if c.kill_switch else 'off'} | {c.cause} "
            f"| {c.detail} |"
            for c in recorder.state_changes
        ]
    else:
        lines.append("- no change of trading state during the session")
    lines += ["", "## Data", ""]
    if recorder.first_account and recorder.last_account:
        first, final = recorder.first_account.bar_ts, recorder.last_account.bar_ts
        lines.append(f"- bars from {first} to {final} ({recorder.bars} handled)")
    if recorder.notes:
        lines += ["", "## Venue", "", *recorder.notes]
    configuration = json.dumps(recorder.configuration, indent=2, sort_keys=True, default=str)
    lines += ["", "## Configuration", "", "```json", configuration, "```", ""]
    return "\n".join(lines)
