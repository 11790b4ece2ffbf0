"""Extract the bundled daily price fixture from the S&P 500 data set that skfolio ships in its wheel.

Writes ``data/fixtures/prices/sp500_daily.csv``: the 20 stocks of skfolio's ``load_sp500_dataset()``
(adjusted daily closes), the ten years 2013-01-02 to 2022-12-28, rounded to the cent.

    .venv/bin/python data/extract_price_fixture.py [--output-dir DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skfolio.datasets import load_sp500_dataset

FIRST_DAY = "2013-01-01"
NAME = "sp500_daily.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "fixtures" / "prices")
    arguments = parser.parse_args()
    prices = load_sp500_dataset()  # read from the installed package, no download
    prices = prices.loc[prices.index >= FIRST_DAY].round(2)
    prices.index = prices.index.strftime("%Y-%m-%d")
    prices.index.name = "date"
    arguments.output_dir.mkdir(parents=True, exist_ok=True)
    prices.to_csv(arguments.output_dir / NAME, lineterminator="\n", float_format="%.2f")


if __name__ == "__main__":
    main()
