"""Symbol metadata: what a venue accepts for a symbol, and quantization to it.

Quantization happens once, at the translator, from a :class:`SymbolSpec`: prices round to the tick,
quantities floor to the lot (never more than was asked for).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from logos.contracts import NonNegativeDecimal, PositiveDecimal


class AssetClass(StrEnum):
    CRYPTO = "crypto"
    EQUITY = "equity"
    FX = "fx"
    FUTURE = "future"


class SymbolSpec(BaseModel):
    """Trading rules of one symbol: increments, limits and precision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    asset_class: AssetClass = AssetClass.EQUITY
    tick_size: PositiveDecimal = Decimal("0.01")
    lot_size: PositiveDecimal = Decimal("1")
    min_quantity: NonNegativeDecimal = Decimal("0")
    max_quantity: PositiveDecimal | None = None
    min_notional: NonNegativeDecimal = Decimal("0")
    fractionable: bool = False
    quote_currency: str = "USD"

    @model_validator(mode="after")
    def _check_limits(self) -> SymbolSpec:
        if self.max_quantity is not None and self.max_quantity < self.min_quantity:
            raise ValueError(f"max_quantity {self.max_quantity} is below min_quantity {self.min_quantity}")
        return self

    @property
    def price_precision(self) -> int:
        """Decimal places of a price (from the tick size)."""
        return max(0, -int(self.tick_size.normalize().as_tuple().exponent))

    @property
    def quantity_precision(self) -> int:
        """Decimal places of a quantity (from the lot size)."""
        return max(0, -int(self.lot_size.normalize().as_tuple().exponent))

    def quantize_price(self, price: Decimal) -> Decimal:
        """Round ``price`` to the nearest tick (half to even)."""
        return quantize_price(price, self.tick_size)

    def quantize_quantity(self, quantity: Decimal) -> Decimal:
        """Floor ``quantity`` (toward zero) to a whole number of lots."""
        return quantize_quantity(quantity, self.lot_size)


def quantize_price(price: Decimal, tick_size: Decimal) -> Decimal:
    """Round ``price`` to the nearest multiple of ``tick_size`` (half to even)."""
    if tick_size in _POWERS_OF_TEN:  # one operation for the common 0.01-style ticks
        return price.quantize(tick_size, rounding=ROUND_HALF_EVEN)
    return (price / tick_size).to_integral_value(rounding=ROUND_HALF_EVEN) * tick_size


_POWERS_OF_TEN = frozenset(Decimal(1).scaleb(-digits) for digits in range(-6, 13))


def quantize_quantity(quantity: Decimal, lot_size: Decimal) -> Decimal:
    """Truncate ``quantity`` toward zero to a multiple of ``lot_size``, so no order exceeds its intent."""
    if lot_size in _POWERS_OF_TEN:
        return quantity.quantize(lot_size, rounding=ROUND_DOWN)
    return (quantity / lot_size).to_integral_value(rounding=ROUND_DOWN) * lot_size


class CatalogError(ValueError):
    """A symbol catalog that cannot be read; the message names the file and the entry."""


def load_catalog(path: Path) -> dict[str, SymbolSpec]:
    """Read a JSON list of symbol specs (the bundled data's catalog) keyed by symbol."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the symbol catalog: {exc}") from None
    if not isinstance(entries, list):
        raise CatalogError(f"{path}: a symbol catalog is a JSON list of specs")
    catalog: dict[str, SymbolSpec] = {}
    for index, entry in enumerate(entries):
        try:
            spec = SymbolSpec.model_validate(entry)
        except ValidationError as exc:
            raise CatalogError(f"{path}: entry {index}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        catalog[spec.symbol] = spec
    return catalog


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def _step_from_precision(precision: Any, mode: str | None) -> Decimal | None:
    """ccxt precision is a step (TICK_SIZE mode) or a number of decimals (DECIMAL_PLACES mode)."""
    if precision is None:
        return None
    value = Decimal(str(precision))
    if mode == "decimal_places" or (mode is None and value == value.to_integral_value() and value >= 1):
        return Decimal(1).scaleb(-int(value))
    return value


def spec_from_ccxt_market(market: Mapping[str, Any], precision_mode: str | None = None) -> SymbolSpec:
    """Build a spec from a ccxt unified market dict (``exchange.markets[symbol]``).

    ``precision_mode`` is ``"tick_size"`` or ``"decimal_places"`` (ccxt's ``exchange.precisionMode``);
    without it a whole number >= 1 is read as a count of decimals and anything else as a step.
    """
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    tick = _step_from_precision(precision.get("price"), precision_mode) or Decimal("0.00000001")
    lot = _step_from_precision(precision.get("amount"), precision_mode) or Decimal("0.00000001")
    kind = market.get("type") or "spot"
    asset_class = AssetClass.CRYPTO if kind in ("spot", "margin") else AssetClass.FUTURE
    return SymbolSpec(
        symbol=str(market["symbol"]),
        asset_class=asset_class,
        tick_size=tick,
        lot_size=lot,
        min_quantity=_decimal(amount_limits.get("min")) or Decimal(0),
        max_quantity=_decimal(amount_limits.get("max")),
        min_notional=_decimal(cost_limits.get("min")) or Decimal(0),
        fractionable=lot < 1,
        quote_currency=str(market.get("quote") or "USD"),
    )


def spec_from_alpaca_asset(asset: Any) -> SymbolSpec:
    """Build a spec from an alpaca-py ``Asset`` (or its dict form).

    Fractionable US equities trade in 1e-9 share steps with a $1 minimum notional; others in whole
    shares. Alpaca's ``price_increment`` and ``min_order_size``/``min_trade_increment`` win when set.
    """
    get = asset.get if isinstance(asset, Mapping) else lambda name, default=None: getattr(asset, name, default)
    fractionable = bool(get("fractionable", False))
    asset_class_value = str(getattr(get("asset_class"), "value", get("asset_class")) or "us_equity")
    asset_class = AssetClass.CRYPTO if asset_class_value == "crypto" else AssetClass.EQUITY
    lot = _decimal(get("min_trade_increment")) or (Decimal("0.000000001") if fractionable else Decimal(1))
    return SymbolSpec(
        symbol=str(get("symbol")),
        asset_class=asset_class,
        tick_size=_decimal(get("price_increment")) or Decimal("0.01"),
        lot_size=lot,
        min_quantity=_decimal(get("min_order_size")) or Decimal(0),
        min_notional=Decimal(1) if fractionable and asset_class is AssetClass.EQUITY else Decimal(0),
        fractionable=fractionable,
    )


class SpecCatalog(dict[str, SymbolSpec]):
    """Symbol specs by symbol; a symbol it does not list gets the default spec (0.01 tick, whole lots)."""

    def __missing__(self, symbol: str) -> SymbolSpec:
        spec = SymbolSpec(symbol=symbol)
        self[symbol] = spec
        return spec
