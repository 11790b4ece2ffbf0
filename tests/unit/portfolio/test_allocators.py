from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.cluster.hierarchy as sch
from scipy.spatial.distance import squareform

from logos.portfolio.allocators import (
    ALLOCATORS,
    Allocator,
    AllocatorError,
    FallbackRefused,
    MeanVariance,
    allocate,
    get_allocator,
)
from logos.portfolio.constraints import ConstraintError, PortfolioConstraints, violations
from logos.portfolio.prices import load_sectors, price_fixture_path
from logos.portfolio.risk_model import ledoit_wolf_covariance, risk_contributions

ALL = ["hrp", "erc", "min_variance", "max_sharpe", "target_return", "equal_weight", "inverse_vol"]


def _allocator(name: str) -> Allocator:
    if name == "target_return":
        return get_allocator(name, ALLOCATORS[name].params_model.model_validate({"target_return": 0.05}))
    return get_allocator(name)


def test_registry_when_listed_then_every_method_is_there() -> None:
    assert sorted(ALLOCATORS) == sorted(ALL)
    with pytest.raises(AllocatorError, match="unknown allocator 'nope'"):
        get_allocator("nope")


def test_erc_when_unconstrained_then_risk_contributions_are_equal(sp500_returns: pd.DataFrame) -> None:
    allocation = allocate(get_allocator("erc"), sp500_returns)
    contributions = risk_contributions(allocation.weights, ledoit_wolf_covariance(sp500_returns))
    np.testing.assert_allclose(contributions, 1 / 20, atol=1e-6)
    assert allocation.weights.sum() == pytest.approx(1.0)
    assert allocation.fallback_reason is None


def test_min_variance_when_compared_with_sampled_feasible_portfolios_then_lowest(sp500_returns: pd.DataFrame) -> None:
    covariance = ledoit_wolf_covariance(sp500_returns)
    for constraints in (PortfolioConstraints(), PortfolioConstraints(max_weight=0.25)):
        weights = allocate(get_allocator("min_variance"), sp500_returns, constraints).weights
        best = float(weights @ covariance @ weights)
        samples = np.random.default_rng(7).dirichlet(np.full(20, 1.0), size=20_000)
        feasible = samples[samples.max(axis=1) <= constraints.max_weight]
        assert len(feasible) > 1000
        sampled = np.einsum("ij,jk,ik->i", feasible, covariance, feasible)
        assert best <= sampled.min()
        # and no nearby feasible portfolio does better
        for _ in range(200):
            nudged = np.clip(weights + np.random.default_rng(_).normal(0, 0.005, 20), 0, constraints.max_weight)
            nudged /= nudged.sum()
            if nudged.max() <= constraints.max_weight:
                assert best <= float(nudged @ covariance @ nudged) + 1e-12


def test_min_variance_when_only_box_and_net_rules_then_the_qp_is_no_worse_than_skfolio_conic_model(
    sp500_returns: pd.DataFrame,
) -> None:
    covariance = ledoit_wolf_covariance(sp500_returns)
    assets = list(sp500_returns.columns)
    allocator = get_allocator("min_variance")
    for constraints in (
        PortfolioConstraints(),
        PortfolioConstraints(max_weight=0.08),
        PortfolioConstraints(min_net=0.5, max_net=0.8, max_weight=0.1),
    ):
        quadratic = allocate(allocator, sp500_returns, constraints).weights
        conic = MeanVariance.weights(allocator, sp500_returns.to_numpy(), assets, constraints, None)
        assert violations(quadratic, assets, constraints) == []
        assert quadratic @ covariance @ quadratic <= (conic @ covariance @ conic) * (1 + 1e-7)


def _quasi_diagonal(link: np.ndarray) -> list[int]:
    """getQuasiDiag of López de Prado (2016), as published."""
    link = link.astype(int)
    order = pd.Series([link[-1, 0], link[-1, 1]])
    items = link[-1, 3]
    while order.max() >= items:
        order.index = range(0, order.shape[0] * 2, 2)
        clusters = order[order >= items]
        rows = clusters.to_numpy() - items
        order[clusters.index] = link[rows, 0]
        order = pd.concat([order, pd.Series(link[rows, 1], index=clusters.index + 1)]).sort_index()
        order.index = range(order.shape[0])
    return [int(item) for item in order]


def _cluster_variance(covariance: np.ndarray, items: list[int]) -> float:
    sub = covariance[np.ix_(items, items)]
    inverse = 1 / np.diag(sub)
    weights = inverse / inverse.sum()
    return float(weights @ sub @ weights)


def _published_hrp(covariance: np.ndarray) -> tuple[list[int], np.ndarray]:
    deviation = np.sqrt(np.diag(covariance))
    correlation = covariance / np.outer(deviation, deviation)
    distance = np.sqrt(np.clip(0.5 * (1 - correlation), 0, None))  # step 1: correlation distance
    np.fill_diagonal(distance, 0)
    link = sch.linkage(squareform(distance, checks=False), "single")  # step 2: single-linkage tree
    order = _quasi_diagonal(link)  # step 3: quasi-diagonalization
    weights = np.ones(len(order))  # step 4: recursive bisection
    clusters = [order]
    while clusters:
        clusters = [
            half
            for cluster in clusters
            if len(cluster) > 1
            for half in (cluster[: len(cluster) // 2], cluster[len(cluster) // 2 :])
        ]
        for left, right in zip(clusters[::2], clusters[1::2], strict=True):
            left_variance, right_variance = _cluster_variance(covariance, left), _cluster_variance(covariance, right)
            alpha = 1 - left_variance / (left_variance + right_variance)
            weights[left] *= alpha
            weights[right] *= 1 - alpha
    return order, weights


def test_hrp_when_small_example_then_matches_the_published_algorithm(sp500_returns: pd.DataFrame) -> None:
    small = sp500_returns[["AAPL", "JPM", "KO", "XOM", "PFE", "MSFT", "BAC"]]
    order, expected = _published_hrp(ledoit_wolf_covariance(small))
    assert sorted(order) == list(range(7)) and order != list(range(7))  # the tree reorders the assets
    allocation = allocate(get_allocator("hrp"), small)
    np.testing.assert_allclose(allocation.weights, expected, rtol=1e-9, atol=1e-12)
    # correlated pairs sit next to each other in the quasi-diagonal order
    names = [small.columns[index] for index in order]
    assert abs(names.index("JPM") - names.index("BAC")) == 1


SECTORS = load_sectors(price_fixture_path("sp500_daily"))
CONSTRAINT_SETS = {
    "box": PortfolioConstraints(max_weight=0.08),
    "per_asset_bounds": PortfolioConstraints(bounds={"AAPL": (0.03, 0.05), "XOM": (0.0, 0.02)}),
    "max_position": PortfolioConstraints(max_position=0.07),
    "sectors": PortfolioConstraints(groups=SECTORS, group_limits={"health_care": (0.0, 0.15), "energy": (0.1, 0.3)}),
    "turnover": PortfolioConstraints(max_turnover=0.2),
    "long_short": PortfolioConstraints(
        long_only=False, min_weight=-0.1, max_weight=0.2, max_gross=1.4, min_net=0.9, max_net=1.0
    ),
    "partly_invested": PortfolioConstraints(min_net=0.5, max_net=0.8, max_weight=0.1),
}


@pytest.mark.parametrize("name", ALL)
def test_every_allocator_when_constraints_are_active_then_each_one_holds(
    name: str, sp500_returns: pd.DataFrame
) -> None:
    previous = np.zeros(20)
    previous[:5] = 0.2  # a concentrated book, so the turnover cap binds
    assets = list(sp500_returns.columns)
    for label, constraints in CONSTRAINT_SETS.items():
        allocation = allocate(_allocator(name), sp500_returns, constraints, previous)
        assert violations(allocation.weights, assets, constraints, previous) == [], (name, label)


def test_constraints_when_infeasible_then_error_names_the_constraint(sp500_returns: pd.DataFrame) -> None:
    with pytest.raises(ConstraintError, match=r"^min_net: the upper weight bounds"):
        allocate(get_allocator("hrp"), sp500_returns, PortfolioConstraints(max_weight=0.04))
    with pytest.raises(ConstraintError, match=r"^group_limits: group energy"):
        allocate(
            get_allocator("erc"),
            sp500_returns,
            PortfolioConstraints(groups=SECTORS, group_limits={"energy": (0.5, 1.0)}, max_weight=0.1),
        )
    previous = np.zeros(20)
    previous[0] = 1.0
    with pytest.raises(ConstraintError, match=r"^max_turnover"):
        allocate(
            get_allocator("min_variance"),
            sp500_returns,
            PortfolioConstraints(max_weight=0.1, max_turnover=0.5),
            previous,
        )
    with pytest.raises(ValueError, match=r"min_net 1\.0 is above max_net 0\.5"):
        PortfolioConstraints(max_net=0.5)


def test_optimizer_when_its_problem_is_infeasible_then_falls_back_to_inverse_vol_with_reason(
    sp500_returns: pd.DataFrame,
) -> None:
    params = ALLOCATORS["target_return"].params_model.model_validate({"target_return": 9.0})
    allocation = allocate(get_allocator("target_return", params), sp500_returns)
    expected = allocate(get_allocator("inverse_vol"), sp500_returns).weights
    np.testing.assert_allclose(allocation.weights, expected)
    assert allocation.fallback == "inverse_vol"
    assert allocation.fallback_reason is not None
    assert allocation.fallback_reason.startswith("the target 900.0 % a year is above the highest mean return")
    assert allocation.fallback_note == f"target_return fell back to inverse_vol: {allocation.fallback_reason}"


def test_target_return_when_target_is_unreachable_and_strict_then_fallback_refused(
    sp500_returns: pd.DataFrame,
) -> None:
    params = ALLOCATORS["target_return"].params_model.model_validate({"target_return": 9.0})
    with pytest.raises(FallbackRefused, match="target_return failed and strict allocation allows no fallback: the"):
        allocate(get_allocator("target_return", params), sp500_returns, strict=True)


def test_target_return_when_target_is_reachable_and_strict_then_no_fallback(sp500_returns: pd.DataFrame) -> None:
    params = ALLOCATORS["target_return"].params_model.model_validate({"target_return": 0.1})
    allocation = allocate(get_allocator("target_return", params), sp500_returns, strict=True)
    assert allocation.fallback is None and allocation.fallback_note is None
    mean = float(sp500_returns.mean().to_numpy() @ allocation.weights) * 252
    assert mean >= 0.1 - 1e-6


def test_target_return_when_no_target_is_given_then_parameter_error() -> None:
    with pytest.raises(AllocatorError, match="target_return needs"):
        get_allocator("target_return")


def test_max_sharpe_when_fitted_then_sharpe_beats_equal_and_min_variance(sp500_returns: pd.DataFrame) -> None:
    covariance = ledoit_wolf_covariance(sp500_returns)
    mean = sp500_returns.mean().to_numpy() * 252

    def sharpe(weights: np.ndarray) -> float:
        return float(mean @ weights / np.sqrt(weights @ covariance @ weights))

    best = sharpe(allocate(get_allocator("max_sharpe"), sp500_returns).weights)
    assert best >= sharpe(np.full(20, 0.05))
    assert best >= sharpe(allocate(get_allocator("min_variance"), sp500_returns).weights)
