"""Portfolio constraints: what weights may be, a check that names each violated rule, and a projection.

Weights are fractions of equity, one per asset; their sum is the net exposure (1.0 = fully invested,
the rest is cash) and the sum of their absolute values the gross exposure. Turnover is Σ|w - w_prev|.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

TOLERANCE = 1e-6


class ConstraintError(ValueError):
    """The constraints cannot all hold at once; the message names the one that cannot."""


class PortfolioConstraints(BaseModel):
    """Rules every allocation obeys; the defaults are long-only and fully invested."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    long_only: bool = Field(default=True, description="No weight below 0 (overrides lower bounds below 0).")
    min_weight: float = Field(default=0.0, ge=-10, le=10, description="Lower bound of every asset's weight.")
    max_weight: float = Field(default=1.0, ge=-10, le=10, description="Upper bound of every asset's weight.")
    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Per-asset (lower, upper) weight bounds, overriding the two above."
    )
    max_position: float | None = Field(default=None, gt=0, description="Cap on |w| of any one asset.")
    min_net: float = Field(default=1.0, ge=-10, le=10, description="Lowest net exposure Σw.")
    max_net: float = Field(default=1.0, ge=-10, le=10, description="Highest net exposure Σw.")
    max_gross: float | None = Field(default=None, gt=0, description="Cap on the gross exposure Σ|w|.")
    groups: dict[str, str] = Field(default_factory=dict, description="Asset -> group (sector) name.")
    group_limits: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Group -> (lowest, highest) sum of its assets' weights."
    )
    max_turnover: float | None = Field(
        default=None, gt=0, description="Cap on Σ|w - w_prev| at one rebalance (2.0 = sell all, buy all anew)."
    )

    @model_validator(mode="after")
    def _check_order(self) -> PortfolioConstraints:
        if self.min_net > self.max_net:
            raise ValueError(f"min_net {self.min_net} is above max_net {self.max_net}")
        for name, (low, high) in self.bounds.items():
            if low > high:
                raise ValueError(f"bounds of {name}: lower {low} is above upper {high}")
        for name, (low, high) in self.group_limits.items():
            if low > high:
                raise ValueError(f"group_limits of {name}: lowest {low} is above highest {high}")
        return self

    def box(self, assets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return each asset's (lower, upper) weight bound after long-only and max_position."""
        lower = np.array([self.bounds.get(asset, (self.min_weight, self.max_weight))[0] for asset in assets])
        upper = np.array([self.bounds.get(asset, (self.min_weight, self.max_weight))[1] for asset in assets])
        if self.max_position is not None:
            lower = np.maximum(lower, -self.max_position)
            upper = np.minimum(upper, self.max_position)
        if self.long_only:
            lower = np.maximum(lower, 0.0)
        return lower, upper

    def group_members(self, assets: Sequence[str]) -> dict[str, np.ndarray]:
        """Return a 0/1 membership vector per limited group."""
        return {
            group: np.array([1.0 if self.groups.get(asset) == group else 0.0 for asset in assets])
            for group in sorted(self.group_limits)
        }


def violations(
    weights: np.ndarray,
    assets: Sequence[str],
    constraints: PortfolioConstraints,
    previous: np.ndarray | None = None,
    tolerance: float = TOLERANCE,
) -> list[str]:
    """Return one line per violated constraint (empty when the weights obey them all)."""
    found: list[str] = []
    lower, upper = constraints.box(assets)
    for index in map(int, np.flatnonzero(weights < lower - tolerance)):
        rule = "long_only" if constraints.long_only and lower[index] == 0 else "min_weight/bounds/max_position"
        found.append(f"{rule}: {assets[index]} weight {weights[index]:.6g} is below {lower[index]:.6g}")
    for index in map(int, np.flatnonzero(weights > upper + tolerance)):
        found.append(f"max_weight/bounds/max_position: {assets[index]} weight {weights[index]:.6g} "
                     f"is above {upper[index]:.6g}")  # fmt: skip
    net, gross = float(weights.sum()), float(np.abs(weights).sum())
    if net < constraints.min_net - tolerance:
        found.append(f"min_net: net exposure {net:.6g} is below {constraints.min_net:.6g}")
    if net > constraints.max_net + tolerance:
        found.append(f"max_net: net exposure {net:.6g} is above {constraints.max_net:.6g}")
    if constraints.max_gross is not None and gross > constraints.max_gross + tolerance:
        found.append(f"max_gross: gross exposure {gross:.6g} is above {constraints.max_gross:.6g}")
    for group, members in constraints.group_members(assets).items():
        low, high = constraints.group_limits[group]
        total = float(members @ weights)
        if not low - tolerance <= total <= high + tolerance:
            found.append(f"group_limits: group {group} weight {total:.6g} is outside [{low:.6g}, {high:.6g}]")
    if constraints.max_turnover is not None and previous is not None:
        turnover = float(np.abs(weights - previous).sum())
        if turnover > constraints.max_turnover + tolerance:
            found.append(f"max_turnover: turnover {turnover:.6g} is above {constraints.max_turnover:.6g}")
    return found


def check_feasible(assets: Sequence[str], constraints: PortfolioConstraints) -> None:
    """Raise :class:`ConstraintError` naming a rule that no weights can obey (cheap checks, no solver)."""
    lower, upper = constraints.box(assets)
    for index in map(int, np.flatnonzero(lower > upper + TOLERANCE)):
        raise ConstraintError(
            f"bounds: {assets[index]} must lie in [{lower[index]:.6g}, {upper[index]:.6g}] after long_only and "
            "max_position, which is empty"
        )
    if lower.sum() > constraints.max_net + TOLERANCE:
        raise ConstraintError(
            f"max_net: the lower weight bounds already sum to {lower.sum():.6g}, "
            f"above max_net {constraints.max_net:.6g}"
        )
    if upper.sum() < constraints.min_net - TOLERANCE:
        raise ConstraintError(
            f"min_net: the upper weight bounds (max_weight, bounds, max_position) sum to {upper.sum():.6g}, below "
            f"min_net {constraints.min_net:.6g}; raise max_weight or lower min_net"
        )
    if constraints.max_gross is not None:
        least_gross = max(abs(constraints.min_net), 0.0) if constraints.min_net > 0 else max(-constraints.max_net, 0.0)
        if least_gross > constraints.max_gross + TOLERANCE:
            raise ConstraintError(
                f"max_gross: {constraints.max_gross:.6g} is below the net exposure the net limits require"
            )
    for group, members in constraints.group_members(assets).items():
        low, high = constraints.group_limits[group]
        if not members.any():
            raise ConstraintError(f"group_limits: group {group} has no asset among {', '.join(assets)}")
        if float(members @ lower) > high + TOLERANCE or float(members @ upper) < low - TOLERANCE:
            raise ConstraintError(
                f"group_limits: group {group} must weigh [{low:.6g}, {high:.6g}] but its assets' bounds allow "
                f"[{float(members @ lower):.6g}, {float(members @ upper):.6g}]"
            )


def project(
    target: np.ndarray,
    assets: Sequence[str],
    constraints: PortfolioConstraints,
    previous: np.ndarray | None = None,
) -> np.ndarray:
    """Return the weights nearest ``target`` (least squares) that obey every constraint.

    Weights that already obey them come back unchanged. When no weights can, the error names the
    constraint whose removal makes the problem feasible.
    """
    if not violations(target, assets, constraints, previous):
        return target
    check_feasible(assets, constraints)
    solved = _solve_projection(target, assets, constraints, previous, skip=None)
    if solved is not None:
        return _clean(solved, assets, constraints, previous)
    for rule in ("max_turnover", "group_limits", "max_gross", "net"):
        if _solve_projection(target, assets, constraints, previous, skip=rule) is not None:
            raise ConstraintError(f"{rule}: no weights obey it together with the other constraints")
    raise ConstraintError("the constraints admit no weights")


def _solve_projection(
    target: np.ndarray,
    assets: Sequence[str],
    constraints: PortfolioConstraints,
    previous: np.ndarray | None,
    skip: str | None,
) -> np.ndarray | None:
    cp: Any = importlib.import_module("cvxpy")

    weights = cp.Variable(len(assets))
    lower, upper = constraints.box(assets)
    # a margin well inside the check's tolerance, so the solver's own accuracy cannot break a rule
    margin = TOLERANCE / 10
    rules = [weights >= lower, weights <= upper]
    if skip != "net":
        rules += [cp.sum(weights) >= constraints.min_net, cp.sum(weights) <= constraints.max_net]
    if skip != "max_gross" and constraints.max_gross is not None:
        rules.append(cp.norm1(weights) <= constraints.max_gross - margin)
    if skip != "group_limits":
        for group, members in constraints.group_members(assets).items():
            low, high = constraints.group_limits[group]
            rules += [members @ weights >= low + margin, members @ weights <= high - margin]
    if skip != "max_turnover" and constraints.max_turnover is not None and previous is not None:
        rules.append(cp.norm1(weights - previous) <= constraints.max_turnover - margin)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(weights - target)), rules)
    try:
        problem.solve(solver=cp.CLARABEL)
    except cp.SolverError:
        return None
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or weights.value is None:
        return None
    return np.asarray(weights.value, dtype=np.float64)


def _clean(
    weights: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
) -> np.ndarray:
    """Clip solver noise into the box and drop dust weights, keeping the result valid."""
    lower, upper = constraints.box(assets)
    cleaned = np.clip(weights, lower, upper)
    cleaned[np.abs(cleaned) < 1e-10] = 0.0
    if math.isclose(constraints.min_net, constraints.max_net) and cleaned.sum() != 0:
        # an exact budget: spread the solver's residual over the assets with room in the box
        residual = constraints.min_net - cleaned.sum()
        room = (upper - cleaned) if residual > 0 else (cleaned - lower)
        if room.sum() > abs(residual):
            cleaned = cleaned + residual * room / room.sum()
    return np.asarray(cleaned, dtype=np.float64)
