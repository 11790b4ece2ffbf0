"""What a session did, in a few lines: fills, intents, denials by rule, the trading state, dry runs.

The same summary ends every session: on the console of ``logos trade``, at the top of session.md
and at the end of logs/run.log. A session that never filled, or whose intents risk mostly denied,
says so with the rule and the setting to change (:mod:`logos.risk.remedies`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from logos.contracts import DenialReason, OrderDenied, TradingState
from logos.risk.remedies import remedy


@dataclass(frozen=True)
class RuleCount:
    """How often one rule refused, with the explanation of its first refusal."""

    rule: str
    count: int
    first: str


@dataclass(frozen=True)
class SessionSummary:
    """The counts a session ends with; ``lines`` and ``warnings`` say them in words."""

    bars: int
    fills: int
    orders: int
    approved: int
    denials: tuple[RuleCount, ...]  # by risk rule, the most frequent first
    trading_state: TradingState
    kill_switch: bool
    dry_runs: int = 0  # venue requests a dry run built (none sent)
    dry_run_denials: tuple[RuleCount, ...] = ()  # requests the venue's rules refused before sending
    refusals: tuple[RuleCount, ...] = ()  # approved orders the executor's hard limits refused, by limit

    @property
    def denied(self) -> int:
        return sum(item.count for item in self.denials)

    @property
    def intents(self) -> int:
        """Intents risk decided on: approved and denied."""
        return self.approved + self.denied

    @property
    def refused(self) -> int:
        return sum(item.count for item in self.refusals)

    @property
    def dry_run_denied(self) -> int:
        return sum(item.count for item in self.dry_run_denials)

    def state_text(self) -> str:
        return self.trading_state.value + (", kill switch on" if self.kill_switch else "")

    def lines(self) -> list[str]:
        """The summary: one headline, then one line per denying rule and one for a dry run's requests."""
        lines = [
            f"{_count(self.fills, 'fill')} from {_count(self.intents, 'intent')} ({self.approved:,} approved, "
            f"{self.denied:,} denied), {_count(self.orders, 'order')}, {self.bars:,} bars; "
            f"trading state at the end: {self.state_text()}"
        ]
        lines += [
            f"denied by {item.rule}: {item.count:,} (first: {item.first}); {remedy(DenialReason(item.rule))}"
            for item in self.denials
        ]
        if self.refusals:
            lines.append(f"refused by the executor's hard limits: {_count(self.refused, 'order')} risk had approved "
                         f"({_rule_list(self.refusals)}); nothing was sent for them")  # fmt: skip
        if self.dry_runs or self.dry_run_denials:
            line = f"dry run: {_count(self.dry_runs, 'venue request')} built, none sent"
            if self.dry_run_denials:
                first = self.dry_run_denials[0].first
                line += f"; {self.dry_run_denied:,} denied by the venue's rules before sending (first: {first})"
            lines.append(line)
        return lines

    def warnings(self) -> list[str]:
        """What a user must hear: no fill at all, most intents denied, most venue requests refused."""
        found = []
        top = self.denials[0] if self.denials else None
        if self.fills == 0:
            if top is not None:
                others = f", {self.denied - top.count:,} more by other rules" if self.denied > top.count else ""
                found.append(
                    f"no fill: {top.count:,} of {_count(self.intents, 'intent')} denied by {top.rule} "
                    f"({top.first}){others}: {remedy(DenialReason(top.rule))}"
                )
            elif self.approved == 0:
                found.append(
                    f"no fill: the strategy asked for no position in {self.bars:,} bars; check its parameters "
                    "(--param) against the data (a window longer than the data never trades)"
                )
            else:
                found.append(f"no fill: {self.approved:,} intents approved but no order filled; see session.md")
        elif top is not None and 2 * self.denied > self.intents:
            found.append(
                f"{self.denied:,} of {_count(self.intents, 'intent')} denied, {top.count:,} by {top.rule} "
                f"({top.first}): {remedy(DenialReason(top.rule))}"
            )
        requests = self.dry_runs + self.dry_run_denied
        if self.dry_run_denials and 2 * self.dry_run_denied > requests:
            found.append(
                f"dry run: {self.dry_run_denied:,} of {_count(requests, 'venue request')} denied by the "
                f"venue's rules ({self.dry_run_denials[0].first})"
            )
        if self.refusals:
            first = self.refusals[0]
            found.append(
                f"the executor refused {_count(self.refused, 'order')} risk had approved, first by its hard limit "
                f"{first.rule} ({first.first}): a sign of a fault upstream; see docs/RUNBOOK.md, Executor hard limits"
            )
        if self.trading_state is not TradingState.ACTIVE:
            found.append(f"trading state at the end: {self.state_text()} (see the trading-state changes in session.md)")
        return found

    def markdown(self) -> list[str]:
        """The summary as session.md's first section."""
        return [
            "## Summary",
            "",
            *(f"- {line}" for line in self.lines()),
            *(f"- **warning:** {line}" for line in self.warnings()),
            "",
        ]


def _rule_list(counts: tuple[RuleCount, ...]) -> str:
    return ", ".join(f"{item.rule}: {item.count:,}, first: {item.first}" for item in counts)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def rule_counts(pairs: Sequence[tuple[str, str]]) -> tuple[RuleCount, ...]:
    """Count ``(rule, explanation)`` pairs by rule, the most frequent first (ties: by name)."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for rule, detail in pairs:
        counts[rule] = counts.get(rule, 0) + 1
        first.setdefault(rule, detail)
    ranked = sorted(counts, key=lambda rule: (-counts[rule], rule))
    return tuple(RuleCount(rule, counts[rule], first[rule]) for rule in ranked)


def summarize(
    bars: int,
    fills: int,
    orders: int,
    approved: int,
    denials: Sequence[OrderDenied],
    trading_state: TradingState,
    kill_switch: bool,
    dry_runs: Sequence[dict[str, Any]] = (),
    denied_by: Mapping[str, tuple[int, str]] | None = None,
    refused_by: Mapping[str, tuple[int, str]] | None = None,
) -> SessionSummary:
    """Summarize a session from its counts, its denials and its dry run's records.

    ``denied_by`` (rule: its count and first explanation), when given, counts the denials instead of
    ``denials``: a long session keeps only its first denials. ``refused_by`` counts the orders the
    executor's hard limits refused the same way.
    """
    built = sum(1 for record in dry_runs if record["outcome"] == "dry_run")
    refused = [("venue rules", str(record["reason"])) for record in dry_runs if record["outcome"] != "dry_run"]
    if denied_by is None:
        by_rule = rule_counts([(denial.reason.value, denial.detail) for denial in denials])
    else:
        ranked = sorted(denied_by, key=lambda rule: (-denied_by[rule][0], rule))
        by_rule = tuple(RuleCount(rule, *denied_by[rule]) for rule in ranked)
    return SessionSummary(
        bars=bars,
        fills=fills,
        orders=orders,
        approved=approved,
        denials=by_rule,
        trading_state=trading_state,
        kill_switch=kill_switch,
        dry_runs=built,
        dry_run_denials=rule_counts(refused),
        refusals=_ranked(refused_by or {}),
    )


def _ranked(counted: Mapping[str, tuple[int, str]]) -> tuple[RuleCount, ...]:
    ranked = sorted(counted, key=lambda rule: (-counted[rule][0], rule))
    return tuple(RuleCount(rule, *counted[rule]) for rule in ranked)
