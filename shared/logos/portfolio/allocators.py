"""Allocators: one interface over skfolio's optimizers and two baselines, with constraints and a fallback.

Every allocator turns a returns window into weights through :func:`allocate`, which checks the
constraints, runs the allocator, falls back to inverse volatility (recording the reason on the
allocation) when an optimizer fails, or refuses to when strict, and projects the result onto the
constraints an optimizer could not express.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from logos.backtest.metrics import TRADING_DAYS_PER_YEAR
from logos.portfolio.constraints import PortfolioConstraints, check_feasible, project
from logos.portfolio.min_variance import minimum_variance_weights
from logos.portfolio.risk_model import CovarianceMethod, ewma_volatility, realized_volatility

log = logging.getLogger("logos.portfolio")


class AllocatorError(ValueError):
    """An unknown allocator or parameters it does not accept."""


class UnreachableTarget(ValueError):
    """A target return above the highest mean return the constraints allow."""


class FallbackRefused(ValueError):
    """An optimizer failed while strict allocation forbids the inverse-volatility fallback."""


class Linkage(StrEnum):
    SINGLE = "single"
    AVERAGE = "average"
    COMPLETE = "complete"
    WARD = "ward"


class VolatilityMethod(StrEnum):
    REALIZED = "realized"
    EWMA = "ewma"


class AllocatorParams(BaseModel):
    """Parameters every allocator accepts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    covariance: CovarianceMethod = Field(
        default=CovarianceMethod.LEDOIT_WOLF, description="Covariance estimate the optimizer uses."
    )


class HrpParams(AllocatorParams):
    linkage: Linkage = Field(default=Linkage.SINGLE, description="Linkage of the clustering (the paper: single).")


class MeanVarianceParams(AllocatorParams):
    risk_free_rate: float = Field(default=0.0, ge=-1, le=1, description="Annual risk-free rate (max Sharpe).")
    target_return: float | None = Field(
        default=None, ge=-1, le=10, description="Annual return to reach at least (target_return only)."
    )
    periods_per_year: float = Field(default=TRADING_DAYS_PER_YEAR, gt=0, description="Annualization of returns.")


class InverseVolatilityParams(AllocatorParams):
    volatility: VolatilityMethod = Field(default=VolatilityMethod.REALIZED, description="Volatility estimate.")
    halflife: float = Field(default=20.0, gt=0, description="EWMA half-life in periods (volatility=ewma).")


@dataclass(frozen=True)
class Allocation:
    """Weights per asset from one allocator and, when it failed, the allocator used instead and why."""

    assets: tuple[str, ...]
    weights: np.ndarray
    method: str
    fallback_reason: str | None = None
    fallback: str | None = None

    @property
    def fallback_note(self) -> str | None:
        """One line naming the method, the fallback and the reason; None when the method's own weights stand."""
        if self.fallback_reason is None:
            return None
        return f"{self.method} fell back to {self.fallback}: {self.fallback_reason}"

    def as_series(self) -> pd.Series:
        return pd.Series(self.weights, index=list(self.assets), name="weight")


class Allocator(ABC):
    """Turns a window of returns into raw weights; :func:`allocate` adds constraints and the fallback."""

    name: ClassVar[str]
    summary: ClassVar[str]
    params_model: ClassVar[type[AllocatorParams]] = AllocatorParams

    def __init__(self, params: AllocatorParams | None = None) -> None:
        self.params = params or self.params_model()

    @abstractmethod
    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        """Return one weight per column of ``returns`` (per-period simple returns, oldest row first)."""

    @classmethod
    def parse_params(cls, pairs: Sequence[str]) -> AllocatorParams:
        """Read ``key=value`` pairs into this allocator's parameter model, or raise naming the bad one."""
        values: dict[str, Any] = {}
        for pair in pairs:
            key, separator, value = pair.partition("=")
            if not separator:
                raise AllocatorError(f"--param takes key=value, got {pair!r}")
            values[key.strip()] = value.strip()
        try:
            return cls.params_model.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise AllocatorError(f"{cls.name} parameter {first['loc'][0]}: {first['msg']}") from None


def _prior(params: AllocatorParams) -> Any:
    from skfolio.moments import EmpiricalCovariance, LedoitWolf
    from skfolio.prior import EmpiricalPrior

    estimator = LedoitWolf() if params.covariance is CovarianceMethod.LEDOIT_WOLF else EmpiricalCovariance()
    return EmpiricalPrior(covariance_estimator=estimator)


def _box(assets: Sequence[str], constraints: PortfolioConstraints) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = constraints.box(assets)
    return lower, upper


def _fitted_weights(model: Any, returns: np.ndarray) -> np.ndarray:
    model.fit(returns)
    return np.asarray(model.weights_, dtype=np.float64)


class EqualWeight(Allocator):
    name = "equal_weight"
    summary = "1/n in every asset (baseline)."

    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        return np.full(returns.shape[1], 1.0 / returns.shape[1])


class InverseVolatility(Allocator):
    name = "inverse_vol"
    summary = "Weights proportional to 1/volatility (baseline, and the fallback of every optimizer)."
    params_model = InverseVolatilityParams

    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        params = self.params
        assert isinstance(params, InverseVolatilityParams)
        if params.volatility is VolatilityMethod.EWMA:
            volatility = ewma_volatility(returns, params.halflife)
        else:
            volatility = realized_volatility(returns)
        if not np.all(volatility > 0):
            raise ValueError("an asset has zero volatility in the window")
        inverse = 1.0 / volatility
        return np.asarray(inverse / inverse.sum())


class HierarchicalRiskParity(Allocator):
    name = "hrp"
    summary = "Hierarchical risk parity (López de Prado 2016): cluster, quasi-diagonalize, bisect by variance."
    params_model = HrpParams

    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        from skfolio.cluster import HierarchicalClustering, LinkageMethod
        from skfolio.measures import RiskMeasure
        from skfolio.optimization import HierarchicalRiskParity as Hrp
        from skfolio.seriation import HierarchicalSeriation

        params = self.params
        assert isinstance(params, HrpParams)
        lower, upper = _box(assets, constraints)
        clustering = HierarchicalClustering(linkage_method=LinkageMethod(params.linkage.value))
        model = Hrp(
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=_prior(params),
            seriation_estimator=HierarchicalSeriation(
                hierarchical_clustering_estimator=clustering, optimal_ordering=False
            ),
            min_weights=np.maximum(lower, 0.0),
            max_weights=np.clip(upper, 0.0, 1.0),
        )
        return _fitted_weights(model, returns)


class EqualRiskContribution(Allocator):
    name = "erc"
    summary = "Equal risk contribution (risk parity): every asset adds the same share of the variance."

    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        lower, upper = _box(assets, constraints)
        rules = _extra_rules(assets, constraints, previous, budget=False)
        if rules is None:
            # Newton steps finish a rough interior-point answer when the box lets the plain ERC point through
            model = self._model(lower, upper, rules, _ROUGH_CLARABEL)
            polished = _polish_equal_risk(_fitted_weights(model, returns), _covariance(model))
            if polished is not None and np.all(polished >= lower) and np.all(polished <= upper):
                return polished
        model = self._model(lower, upper, rules, None)
        weights = _fitted_weights(model, returns)
        if rules is not None or np.any(weights <= lower + 1e-9) or np.any(weights >= upper - 1e-9):
            return weights  # a bound or an extra rule is active: the constrained optimum is what we want
        polished = _polish_equal_risk(weights, _covariance(model))
        return weights if polished is None else polished

    def _model(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        rules: Callable[[Any], list[Any]] | None,
        solver_params: dict[str, float] | None,
    ) -> Any:
        from skfolio.measures import RiskMeasure
        from skfolio.optimization import RiskBudgeting

        return RiskBudgeting(
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=_prior(self.params),
            min_weights=np.maximum(lower, 0.0),
            max_weights=np.clip(upper, 0.0, None),
            add_constraints=rules,
            solver_params=solver_params,
        )


# Clarabel stops near 1e-6 in risk-contribution spread instead of skfolio's 1e-9 gap: four times fewer
# seconds on 500 assets, and the Newton steps after it reach machine precision from there all the same
_ROUGH_CLARABEL = {"tol_gap_abs": 1e-6, "tol_gap_rel": 1e-6, "tol_feas": 1e-6}


def _covariance(model: Any) -> np.ndarray:
    return np.asarray(model.prior_estimator_.return_distribution_.covariance, dtype=np.float64)


def _polish_equal_risk(weights: np.ndarray, covariance: np.ndarray, steps: int = 3) -> np.ndarray | None:
    """Sharpen an interior ERC solution with Newton steps on its optimality condition Σx = b/x (Spinu 2013).

    The interior-point solver stops near 1e-6 in risk-contribution spread; three Newton steps from its
    answer reach machine precision. None when a step leaves the positive orthant or the steps fall short.
    """
    budget = np.full(weights.size, 1.0 / weights.size)
    scale = np.sqrt(float(weights @ covariance @ weights))
    point = weights / scale  # Σx = b/x has its root at this scale
    for _ in range(steps):
        gradient = covariance @ point - budget / point
        hessian = covariance + np.diag(budget / point**2)
        point = point - np.linalg.solve(hessian, gradient)
        if not np.all(point > 0):
            return None
    contributions = point * (covariance @ point)  # at the root each is b_i, and they sum to 1
    if np.max(np.abs(contributions / contributions.sum() - budget)) > 1e-9:
        return None
    return np.asarray(point / point.sum())


def _has_extra_rules(assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None) -> bool:
    """Whether a rule beyond the box and the net exposure applies: gross cap, group limits, turnover."""
    turnover = constraints.max_turnover if previous is not None else None
    return constraints.max_gross is not None or bool(constraints.group_members(assets)) or turnover is not None


def _extra_rules(
    assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None, budget: bool
) -> Callable[[Any], list[Any]] | None:
    """CVXPY constraints skfolio has no parameter for: gross cap, group limits, turnover."""
    if not _has_extra_rules(assets, constraints, previous):
        return None
    cp: Any = importlib.import_module("cvxpy")

    groups = constraints.group_members(assets)
    turnover = constraints.max_turnover if previous is not None else None

    def rules(weights: Any) -> list[Any]:
        found: list[Any] = []
        if constraints.max_gross is not None:
            found.append(cp.norm1(weights) <= constraints.max_gross)
        for group, members in groups.items():
            low, high = constraints.group_limits[group]
            found += [members @ weights >= low, members @ weights <= high]
        if turnover is not None and budget:
            # risk budgeting rescales its weights after solving, so only mean-variance can hold turnover exactly
            found.append(cp.norm1(weights - previous) <= turnover)
        return found

    return rules


class MeanVariance(Allocator):
    """Markowitz on the chosen covariance (Ledoit-Wolf by default); the objective is set by the subclass."""

    objective: ClassVar[str]
    params_model = MeanVarianceParams

    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        from skfolio.optimization import ObjectiveFunction

        params = self.params
        assert isinstance(params, MeanVarianceParams)
        options: dict[str, Any] = {}
        if self.objective == "max_sharpe":
            options["objective_function"] = ObjectiveFunction.MAXIMIZE_RATIO
            options["risk_free_rate"] = params.risk_free_rate / params.periods_per_year
        else:
            options["objective_function"] = ObjectiveFunction.MINIMIZE_RISK
        if self.objective == "target_return":
            assert params.target_return is not None
            options["min_return"] = params.target_return / params.periods_per_year
        return _fitted_weights(self._model(assets, constraints, previous, options), returns)

    def _model(
        self,
        assets: Sequence[str],
        constraints: PortfolioConstraints,
        previous: np.ndarray | None,
        options: dict[str, Any],
    ) -> Any:
        from skfolio.measures import RiskMeasure
        from skfolio.optimization import MeanRisk

        lower, upper = _box(assets, constraints)
        exact_budget = constraints.min_net == constraints.max_net
        return MeanRisk(
            risk_measure=RiskMeasure.VARIANCE,
            prior_estimator=_prior(self.params),
            min_weights=lower,
            max_weights=upper,
            budget=constraints.min_net if exact_budget else None,
            min_budget=None if exact_budget else constraints.min_net,
            max_budget=None if exact_budget else constraints.max_net,
            add_constraints=_extra_rules(assets, constraints, previous, budget=True),
            **options,
        )


class MinimumVariance(MeanVariance):
    name = "min_variance"
    summary = "The least-variance portfolio under the constraints."
    objective = "min_variance"

    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        if _has_extra_rules(assets, constraints, previous):
            return super().weights(returns, assets, constraints, previous)  # skfolio's model takes every rule
        lower, upper = _box(assets, constraints)
        covariance = _prior(self.params).fit(returns).return_distribution_.covariance
        return minimum_variance_weights(covariance, lower, upper, constraints.min_net, constraints.max_net)


class MaximumSharpe(MeanVariance):
    name = "max_sharpe"
    summary = "The tangency portfolio: highest (mean - risk-free) / volatility."
    objective = "max_sharpe"


class TargetReturn(MeanVariance):
    name = "target_return"
    summary = "The least-variance portfolio whose mean return reaches target_return (annual)."
    objective = "target_return"

    def __init__(self, params: AllocatorParams | None = None) -> None:
        super().__init__(params)
        if getattr(self.params, "target_return", None) is None:
            raise AllocatorError("target_return needs --param target_return=ANNUAL_RETURN (0.08 = 8 % a year)")

    def weights(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> np.ndarray:
        try:
            return super().weights(returns, assets, constraints, previous)
        except Exception as exc:
            params = self.params
            assert isinstance(params, MeanVarianceParams)
            assert params.target_return is not None
            highest = self._highest_return(returns, assets, constraints, previous)
            if highest is None or params.target_return <= highest:
                raise
            raise UnreachableTarget(
                f"the target {params.target_return * 100:.1f} % a year is above the highest mean return the "
                f"constraints allow on this window, {highest * 100:.1f} % a year"
            ) from exc

    def _highest_return(
        self, returns: np.ndarray, assets: Sequence[str], constraints: PortfolioConstraints, previous: np.ndarray | None
    ) -> float | None:
        """The highest annual mean return any weights allowed by the constraints reach, or None if none solve."""
        from skfolio.optimization import ObjectiveFunction

        params = self.params
        assert isinstance(params, MeanVarianceParams)
        model = self._model(assets, constraints, previous, {"objective_function": ObjectiveFunction.MAXIMIZE_RETURN})
        try:
            weights = _fitted_weights(model, returns)
        except Exception:
            return None
        mean = np.asarray(model.prior_estimator_.return_distribution_.mu, dtype=np.float64)
        return float(mean @ weights) * params.periods_per_year


ALLOCATORS: dict[str, type[Allocator]] = {
    allocator.name: allocator
    for allocator in (
        HierarchicalRiskParity,
        EqualRiskContribution,
        MinimumVariance,
        MaximumSharpe,
        TargetReturn,
        EqualWeight,
        InverseVolatility,
    )
}


def get_allocator(name: str, params: AllocatorParams | None = None) -> Allocator:
    """Return the allocator called ``name``."""
    try:
        allocator = ALLOCATORS[name]
    except KeyError:
        raise AllocatorError(f"unknown allocator {name!r} (known: {', '.join(sorted(ALLOCATORS))})") from None
    return allocator(params)


def allocate(
    allocator: Allocator,
    returns: pd.DataFrame,
    constraints: PortfolioConstraints | None = None,
    previous: np.ndarray | None = None,
    strict: bool = False,
) -> Allocation:
    """Weights for the window ``returns`` that obey ``constraints`` (and turnover from ``previous``).

    Raises :class:`~logos.portfolio.constraints.ConstraintError` when the constraints admit no weights;
    an optimizer that fails or finds its own problem infeasible falls back to inverse volatility (equal
    weights if an asset has no volatility), or with ``strict`` raises :class:`FallbackRefused`.
    """
    constraints = constraints or PortfolioConstraints()
    assets = tuple(str(column) for column in returns.columns)
    values = returns.to_numpy(dtype=np.float64)
    check_feasible(assets, constraints)
    reason: str | None = None
    fallback: str | None = None
    try:
        raw = allocator.weights(values, assets, constraints, previous)
        if not np.isfinite(raw).all():
            raise ValueError("the optimizer returned non-finite weights")
    except Exception as exc:  # any optimizer failure (solver status, numerics) takes the documented fallback
        reason = str(exc) if isinstance(exc, UnreachableTarget) else f"{type(exc).__name__}: {_first_line(exc)}"
        if strict:
            raise FallbackRefused(
                f"{allocator.name} failed and strict allocation allows no fallback: {reason}"
            ) from exc
        try:
            raw = InverseVolatility().weights(values, assets, constraints, previous)
            fallback = InverseVolatility.name
        except ValueError:
            raw = EqualWeight().weights(values, assets, constraints, previous)
            fallback = EqualWeight.name
        log.debug("%s fell back to %s: %s", allocator.name, fallback, reason)
    if constraints.min_net == constraints.max_net and allocator.name in _UNIT_BUDGET and raw.sum() != 0:
        raw = raw * constraints.min_net / raw.sum()
    weights = project(raw, assets, constraints, previous)
    return Allocation(assets, weights, allocator.name, reason, fallback)


# allocators whose raw weights sum to one, rescaled to an exact budget other than one
_UNIT_BUDGET = frozenset({"hrp", "erc", "equal_weight", "inverse_vol"})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"
