"""Live bar providers behind one interface; ``build_provider`` picks the one the settings name."""

from __future__ import annotations

from datetime import timedelta

from services.feed.config import FeedSettings
from services.feed.providers.base import BarProvider, Clock, PollingProvider, RawBar

__all__ = ["BarProvider", "Clock", "PollingProvider", "RawBar", "build_provider"]


def build_provider(settings: FeedSettings) -> BarProvider:
    """Return the live provider of ``settings`` (yfinance or ccxt); its library is imported only then."""
    specs = settings.logos.symbol_specs()
    lookback = timedelta(minutes=settings.lookback_minutes)
    if settings.provider == "yfinance":
        from services.feed.providers.yahoo import YfinanceProvider

        return YfinanceProvider(
            symbols=settings.symbols,
            specs=specs,
            lookback=lookback,
            retry=settings.retry,
            symbol_map=settings.yfinance_symbol_map,
            timeout_seconds=settings.request_timeout_seconds,
            cache_dir=settings.logos.paths.data_cache / "yfinance",
        )
    if settings.provider == "ccxt":
        from services.feed.providers.exchange import CcxtProvider, build_exchange

        return CcxtProvider(
            exchange=build_exchange(settings.ccxt_exchange, settings.request_timeout_seconds),
            symbols=settings.symbols,
            specs=specs,
            lookback=lookback,
            retry=settings.retry,
            symbol_map=settings.ccxt_symbol_map,
            page_size=settings.ccxt_page_size,
        )
    raise ValueError(f"provider {settings.provider!r} does not poll")
