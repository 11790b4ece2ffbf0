from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from logos.orders.sizing import EquityFraction
from logos.orders.translator import to_intent, translate
from logos.symbols import (
    AssetClass,
    CatalogError,
    SymbolSpec,
    load_catalog,
    quantize_price,
    quantize_quantity,
    spec_from_alpaca_asset,
    spec_from_ccxt_market,
)

D = Decimal


@given(
    quantity=st.decimals(min_value=D(-1_000_000), max_value=D(1_000_000), places=9),
    lot=st.sampled_from([D("1"), D("0.001"), D("0.00001"), D("5"), D("0.25")]),
)
def test_quantize_quantity_when_any_amount_then_on_grid_and_never_larger(quantity: Decimal, lot: Decimal) -> None:
    result = quantize_quantity(quantity, lot)
    assert abs(result) <= abs(quantity) and abs(quantity) - abs(result) < lot
    assert result % lot == 0 and (result == 0 or (result > 0) == (quantity > 0))


@given(
    price=st.decimals(min_value=D("0.0001"), max_value=D(100_000), places=6),
    tick=st.sampled_from([D("0.01"), D("0.05"), D("0.5"), D("0.0001")]),
)
def test_quantize_price_when_any_price_then_nearest_tick(price: Decimal, tick: Decimal) -> None:
    result = quantize_price(price, tick)
    assert result % tick == 0 and abs(result - price) <= tick / 2


def test_quantize_price_when_exactly_between_ticks_then_half_to_even() -> None:
    assert quantize_price(D("100.125"), D("0.01")) == D("100.12")
    assert quantize_price(D("100.135"), D("0.01")) == D("100.14")


def test_spec_when_built_then_precisions_from_steps_and_limits_checked() -> None:
    spec = SymbolSpec(symbol="BTC/USDT", tick_size=D("0.01"), lot_size=D("0.00001"))
    assert (spec.price_precision, spec.quantity_precision) == (2, 5)
    with pytest.raises(ValidationError, match="below min_quantity"):
        SymbolSpec(symbol="X", min_quantity=D(5), max_quantity=D(1))


def test_ccxt_market_when_tick_size_mode_then_steps_and_limits_copied() -> None:
    market = {
        "symbol": "BTC/USDT", "type": "spot", "quote": "USDT",
        "precision": {"price": 0.01, "amount": 0.00001},
        "limits": {"amount": {"min": 0.00001, "max": 9000.0}, "cost": {"min": 5.0}},
    }  # fmt: skip
    spec = spec_from_ccxt_market(market, precision_mode="tick_size")
    assert spec.tick_size == D("0.01") and spec.lot_size == D("0.00001")
    assert spec.min_quantity == D("0.00001") and spec.max_quantity == D("9000.0") and spec.min_notional == D("5.0")
    assert spec.asset_class is AssetClass.CRYPTO and spec.fractionable and spec.quote_currency == "USDT"


def test_ccxt_market_when_decimal_places_mode_then_digits_become_steps() -> None:
    market = {"symbol": "ETH/BTC", "type": "swap", "precision": {"price": 6, "amount": 3}, "limits": {}}
    spec = spec_from_ccxt_market(market, precision_mode="decimal_places")
    assert spec.tick_size == D("0.000001") and spec.lot_size == D("0.001")
    assert spec.asset_class is AssetClass.FUTURE and spec.min_notional == 0


def test_alpaca_asset_when_fractionable_or_not_then_lot_and_minimum_follow() -> None:
    fractional = spec_from_alpaca_asset({"symbol": "AAPL", "fractionable": True, "asset_class": "us_equity"})
    assert fractional.lot_size == D("1e-9") and fractional.min_notional == D(1) and fractional.fractionable
    whole = spec_from_alpaca_asset(SimpleNamespace(symbol="BRK.A", fractionable=False, asset_class="us_equity"))
    assert whole.lot_size == D(1) and whole.min_notional == 0
    crypto = spec_from_alpaca_asset(
        {
            "symbol": "BTC/USD",
            "asset_class": "crypto",
            "min_order_size": "0.0001",
            "min_trade_increment": "0.0001",
            "price_increment": "1",
        }
    )
    assert crypto.asset_class is AssetClass.CRYPTO and crypto.lot_size == D("0.0001") and crypto.tick_size == D(1)


def test_catalog_when_valid_then_keyed_by_symbol_and_when_broken_then_names_file_and_entry(tmp_path: Path) -> None:
    good = tmp_path / "symbols.json"
    good.write_text(json.dumps([{"symbol": "AAPL"}, {"symbol": "BTC-USD", "lot_size": "0.0001"}]))
    assert set(load_catalog(good)) == {"AAPL", "BTC-USD"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"symbol": "AAPL"}, {"symbol": "X", "tick_size": "-1"}]))
    with pytest.raises(CatalogError, match=r"bad.json: entry 1: \('tick_size',\)"):
        load_catalog(bad)
    (tmp_path / "not.json").write_text("{")
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "not.json")


def test_to_intent_when_translation_accepted_then_quantized_wire_intent() -> None:
    spec = SymbolSpec(symbol="AAPL", tick_size=D("0.01"), lot_size=D(1))
    translation = translate(0.5, D("190.123"), D(10_000), D(0), spec, EquityFraction())
    intent = to_intent(translation, spec, D("190.123"), datetime(2024, 1, 2, tzinfo=UTC), "sma_cross", "i-1")
    assert intent.target_quantity == D(26) and intent.reference_price == D("190.12") and intent.id == "i-1"
    refused = translate(0.0, D(100), D(1000), D(0), spec, EquityFraction())
    with pytest.raises(ValueError, match="no intent"):
        to_intent(refused, spec, D(100), datetime(2024, 1, 2, tzinfo=UTC), "s", "i-2")
