from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import LedoitWolf

from logos.portfolio.prices import PriceDataError, load_prices
from logos.portfolio.risk_model import (
    effective_number_of_assets,
    ewma_volatility,
    ledoit_wolf_covariance,
    realized_volatility,
    risk_contributions,
    sample_covariance,
)


def test_realized_volatility_when_daily_returns_then_std_times_root_252(sp500_returns: pd.DataFrame) -> None:
    expected = sp500_returns.std(ddof=1).to_numpy() * math.sqrt(252)
    np.testing.assert_allclose(realized_volatility(sp500_returns), expected, rtol=1e-12)


def test_ewma_volatility_when_halflife_is_huge_then_root_mean_square(sp500_returns: pd.DataFrame) -> None:
    rms = np.sqrt((sp500_returns.to_numpy() ** 2).mean(axis=0) * 252)
    np.testing.assert_allclose(ewma_volatility(sp500_returns, halflife=1e12), rms, rtol=1e-9)


def test_ewma_volatility_when_recent_returns_are_wild_then_it_reacts_faster_than_realized() -> None:
    calm = np.full((200, 1), 0.001) * np.resize([1, -1], (200, 1))
    wild = np.vstack([calm, np.resize([0.05, -0.05], (10, 1))])
    assert ewma_volatility(wild, halflife=5)[0] > 2 * realized_volatility(wild)[0]


def test_covariances_when_annualized_then_match_numpy_and_scikit_learn(sp500_returns: pd.DataFrame) -> None:
    values = sp500_returns.to_numpy()
    np.testing.assert_allclose(sample_covariance(values), np.cov(values, rowvar=False) * 252, rtol=1e-12)
    np.testing.assert_allclose(ledoit_wolf_covariance(values), LedoitWolf().fit(values).covariance_ * 252)


def test_ledoit_wolf_when_window_is_short_then_better_conditioned_than_sample(sp500_returns: pd.DataFrame) -> None:
    short = sp500_returns.iloc[-30:]
    assert np.linalg.cond(ledoit_wolf_covariance(short)) < np.linalg.cond(sample_covariance(short)) / 5


def test_risk_contributions_and_effective_assets_when_equal_weights_then_sum_to_one_and_n() -> None:
    weights = np.full(4, 0.25)
    contributions = risk_contributions(weights, np.diag([1.0, 2.0, 3.0, 4.0]))
    assert contributions.sum() == pytest.approx(1.0)
    assert effective_number_of_assets(weights) == pytest.approx(4.0)
    assert effective_number_of_assets(np.array([1.0, 0, 0])) == pytest.approx(1.0)


def test_load_prices_when_a_column_is_not_numeric_then_error_names_the_file(tmp_path: pd.DataFrame) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,A,B\n2024-01-01,1,x\n2024-01-02,2,3\n")
    with pytest.raises(PriceDataError, match=r"bad\.csv: an asset column"):
        load_prices(path)


def test_load_prices_when_no_date_column_then_error_says_so(tmp_path: pd.DataFrame) -> None:
    path = tmp_path / "nodate.csv"
    path.write_text("A,B\n1,2\n")
    with pytest.raises(PriceDataError, match="needs a date column"):
        load_prices(path)


def test_bundled_prices_when_loaded_then_20_assets_over_ten_years(sp500_prices: pd.DataFrame) -> None:
    assert sp500_prices.shape == (2516, 20)
    assert str(sp500_prices.index[0].date()) == "2013-01-02"
