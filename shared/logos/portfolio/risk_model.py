"""Volatility and covariance estimates from a returns frame (rows are periods, columns assets).

Annualization: an estimate per period is scaled by ``periods_per_year`` (252 for daily data by
default): variances and covariances by ``periods_per_year``, volatilities by its square root. Means
of returns are not used here, so the estimates do not depend on the drift of the window.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import pandas as pd

from logos.backtest.metrics import TRADING_DAYS_PER_YEAR

DEFAULT_EWMA_HALFLIFE = 20.0


class CovarianceMethod(StrEnum):
    SAMPLE = "sample"
    LEDOIT_WOLF = "ledoit_wolf"


def _matrix(returns: pd.DataFrame | np.ndarray) -> np.ndarray:
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"need a 2-D returns matrix with at least two periods, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("returns hold NaN or infinite values")
    return values


def realized_volatility(
    returns: pd.DataFrame | np.ndarray, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> np.ndarray:
    """Annualized standard deviation of each column (ddof=1)."""
    return np.asarray(np.std(_matrix(returns), axis=0, ddof=1) * math.sqrt(periods_per_year))


def ewma_volatility(
    returns: pd.DataFrame | np.ndarray,
    halflife: float = DEFAULT_EWMA_HALFLIFE,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
) -> np.ndarray:
    """Annualized exponentially weighted volatility (RiskMetrics style: zero mean, weights halve every ``halflife``).

    sigma^2 = sum_k w_k r_{T-k}^2 / sum_k w_k with w_k = 0.5 ** (k / halflife), k = 0 for the newest period.
    """
    if halflife <= 0:
        raise ValueError(f"halflife must be > 0, got {halflife}")
    values = _matrix(returns)
    ages = np.arange(values.shape[0] - 1, -1, -1, dtype=np.float64)
    weights = 0.5 ** (ages / halflife)
    variance = weights @ (values**2) / weights.sum()
    return np.asarray(np.sqrt(variance * periods_per_year))


def sample_covariance(
    returns: pd.DataFrame | np.ndarray, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> np.ndarray:
    """Annualized sample covariance (ddof=1)."""
    return np.asarray(np.cov(_matrix(returns), rowvar=False, ddof=1) * periods_per_year)


def ledoit_wolf_covariance(
    returns: pd.DataFrame | np.ndarray, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> np.ndarray:
    """Annualized Ledoit-Wolf shrinkage covariance (scikit-learn's estimator, toward a scaled identity)."""
    from sklearn.covariance import LedoitWolf  # imported here: every `logos` command would pay for scikit-learn

    return np.asarray(LedoitWolf().fit(_matrix(returns)).covariance_ * periods_per_year)


def covariance(
    returns: pd.DataFrame | np.ndarray,
    method: CovarianceMethod = CovarianceMethod.LEDOIT_WOLF,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
) -> np.ndarray:
    """The annualized covariance of ``returns`` by ``method``."""
    if method is CovarianceMethod.SAMPLE:
        return sample_covariance(returns, periods_per_year)
    return ledoit_wolf_covariance(returns, periods_per_year)


def risk_contributions(weights: np.ndarray, covariance_matrix: np.ndarray) -> np.ndarray:
    """Each asset's share of the portfolio variance: w_i (Σw)_i / w'Σw (they sum to 1)."""
    marginal = covariance_matrix @ weights
    variance = float(weights @ marginal)
    if variance <= 0:
        return np.zeros_like(weights)
    return np.asarray(weights * marginal / variance)


def effective_number_of_assets(weights: np.ndarray) -> float:
    """1 / Σ w_i² of the normalized absolute weights (n for equal weights, 1 for a single asset)."""
    absolute = np.abs(weights)
    total = absolute.sum()
    if total <= 0:
        return 0.0
    return float(1.0 / np.sum((absolute / total) ** 2))
