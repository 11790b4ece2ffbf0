"""Real daily prices (the bundled S&P 500 extract) shared by the portfolio tests."""

from __future__ import annotations

import pandas as pd
import pytest

from logos.portfolio.prices import load_prices, price_fixture_path, simple_returns


@pytest.fixture(scope="session")
def sp500_prices() -> pd.DataFrame:
    return load_prices(price_fixture_path("sp500_daily"))


@pytest.fixture(scope="session")
def sp500_returns(sp500_prices: pd.DataFrame) -> pd.DataFrame:
    """The last two years of daily returns of all 20 stocks."""
    return simple_returns(sp500_prices).iloc[-504:]
