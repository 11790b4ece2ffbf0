"""Portfolio allocator speed: logos (skfolio inside) against PyPortfolioOpt and Riskfolio-Lib, one run.

    python bench/portfolio_speed.py [--assets 500] [--days 1000] [--repeat 3]

Every library allocates the same returns matrix (``--assets`` x ``--days``), long-only and fully
invested, with three allocators on the Ledoit-Wolf covariance:

  hrp           hierarchical risk parity, single linkage, variance as the risk measure
  erc           equal risk contribution (risk parity); PyPortfolioOpt has none, so it shows "-"
  min_variance  the least-variance portfolio

The returns are generated before any clock starts, seeded: each asset loads on one of the 20 real
S&P 500 stocks of the bundled fixture (its daily returns of 2019-2022, so the market and sector
structure is real) plus its own noise, which gives a realistic block-correlated covariance. The
timing covers the whole call: covariance estimate, optimizer and the weights (best of --repeat,
after one untimed warm-up run of each). A last line times the bundled 10-year monthly walk-forward
on 20 assets (erc, the full backtest with fills, ledger and metrics; the goal is under 10 s).
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from logos.portfolio.allocators import allocate, get_allocator
from logos.portfolio.prices import load_prices, price_fixture_path, simple_returns
from logos.portfolio.walk_forward import PortfolioBacktestConfig, run_portfolio_backtest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("hrp", "erc", "min_variance")


def synthetic_returns(assets: int, days: int, seed: int = 20240101) -> pd.DataFrame:
    real = simple_returns(load_prices(price_fixture_path("sp500_daily"))).to_numpy()[-days:]
    rng = np.random.default_rng(seed)
    parents = rng.integers(0, real.shape[1], size=assets)
    betas = rng.uniform(0.5, 1.5, size=assets)
    noise = rng.normal(0, 1, size=(real.shape[0], assets)) * rng.uniform(0.005, 0.02, size=assets)
    values = real[:, parents] * betas + noise
    return pd.DataFrame(values, columns=[f"A{number:03d}" for number in range(assets)])


def logos_runner(method: str) -> Callable[[pd.DataFrame], np.ndarray]:
    allocator = get_allocator(method)
    return lambda returns: allocate(allocator, returns).weights


def pypfopt_runner(method: str) -> Callable[[pd.DataFrame], np.ndarray] | None:
    from pypfopt import EfficientFrontier, HRPOpt, risk_models

    if method == "hrp":

        def run(returns: pd.DataFrame) -> np.ndarray:
            covariance = risk_models.CovarianceShrinkage(returns, returns_data=True).ledoit_wolf()
            weights = HRPOpt(returns, covariance).optimize(linkage_method="single")
            return np.array([weights[column] for column in returns.columns])

        return run
    if method == "min_variance":

        def run(returns: pd.DataFrame) -> np.ndarray:
            covariance = risk_models.CovarianceShrinkage(returns, returns_data=True).ledoit_wolf()
            weights = EfficientFrontier(None, covariance).min_volatility()
            return np.array([weights[column] for column in returns.columns])

        return run
    return None


def riskfolio_runner(method: str) -> Callable[[pd.DataFrame], np.ndarray]:
    import riskfolio as rp

    def run(returns: pd.DataFrame) -> np.ndarray:
        if method == "hrp":
            portfolio = rp.HCPortfolio(returns=returns)
            weights = portfolio.optimization(model="HRP", codependence="pearson", method_cov="ledoit",
                                             rm="MV", linkage="single", leaf_order=False)  # fmt: skip
        else:
            portfolio = rp.Portfolio(returns=returns)
            portfolio.assets_stats(method_mu="hist", method_cov="ledoit")
            if method == "erc":
                weights = portfolio.rp_optimization(model="Classic", rm="MV", b=None, hist=True)
            else:
                weights = portfolio.optimization(model="Classic", rm="MV", obj="MinRisk", hist=True)
        return weights.to_numpy().ravel()

    return run


def best_time(run: Callable[[pd.DataFrame], np.ndarray], returns: pd.DataFrame, repeat: int) -> tuple[float, float]:
    weights = run(returns)  # warm-up: imports, solver set-up
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        weights = run(returns)
        timings.append(time.perf_counter() - started)
    return min(timings), float(np.sum(weights))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    returns = synthetic_returns(arguments.assets, arguments.days)
    print(f"allocators on {arguments.assets} assets x {len(returns)} days (best of {arguments.repeat}, seconds)")
    print(f"  {'method':<14} {'logos':>9} {'pypfopt':>9} {'riskfolio':>10}  verdict")
    for method in METHODS:
        cells: dict[str, float | None] = {}
        for library, factory in (("logos", logos_runner), ("pypfopt", pypfopt_runner), ("riskfolio", riskfolio_runner)):
            runner = factory(method)
            if runner is None:
                cells[library] = None
                continue
            try:
                cells[library], _total = best_time(runner, returns, arguments.repeat)
            except Exception as exc:  # a peer that fails on this problem is reported, not fatal
                print(f"  {method}: {library} failed: {type(exc).__name__}: {str(exc)[:120]}")
                cells[library] = None
        peers = [value for key, value in cells.items() if key != "logos" and value is not None]
        ours = cells["logos"]
        verdict = "-" if ours is None or not peers else (
            "no slower than the fastest peer" if ours <= min(peers) else f"{ours / min(peers):.2f}x the fastest peer"
        )  # fmt: skip
        shown = ["-" if cells[key] is None else f"{cells[key]:.3f}" for key in ("logos", "pypfopt", "riskfolio")]
        print(f"  {method:<14} {shown[0]:>9} {shown[1]:>9} {shown[2]:>10}  {verdict}")
    prices = load_prices(price_fixture_path("sp500_daily"))
    started = time.perf_counter()
    result = run_portfolio_backtest(prices, get_allocator("erc"), PortfolioBacktestConfig(method="erc"))
    seconds = time.perf_counter() - started
    print(f"walk-forward: erc, {prices.shape[1]} assets, {len(prices):,} days, monthly, {len(result.targets)} "
          f"rebalances: {seconds:.2f} s (goal < 10 s: {'met' if seconds < 10 else 'missed'})")  # fmt: skip


if __name__ == "__main__":
    main()
