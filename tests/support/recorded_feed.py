"""A feed worker that polls Binance through the recorded responses, on a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

from services.feed.providers import BarProvider
from services.feed.providers.exchange import CcxtProvider
from services.feed.worker import FeedWorker
from tests.support.recorded_venues import SESSION_OPEN, FakeClock, binance_exchange, binance_server


class RecordedCcxtFeed(FeedWorker):
    """The feed with a ccxt provider whose HTTP requests the recorded Binance answers."""

    fake_clock = FakeClock(SESSION_OPEN + timedelta(minutes=11, seconds=30))
    clock = staticmethod(fake_clock)

    def make_provider(self) -> BarProvider:
        return CcxtProvider(
            exchange=binance_exchange(binance_server()),
            symbols=self.feed_settings.symbols,
            specs=self.feed_settings.logos.symbol_specs(),
            lookback=timedelta(minutes=self.feed_settings.lookback_minutes),
            retry=self.feed_settings.retry,
            symbol_map=self.feed_settings.ccxt_symbol_map,
            clock=self.fake_clock,
        )
