"""Build the broker the executor's settings name."""

from __future__ import annotations

from logos.live.paper_broker import PaperBroker
from services.executor.brokers.interface import Broker
from services.executor.brokers.paper import PaperVenue
from services.executor.config import ExecutorSettings


def build_broker(settings: ExecutorSettings, paper: PaperBroker | None = None) -> Broker:
    """Return the paper venue, a ccxt or Alpaca adapter, or refuse (IB, an unknown exchange) with ValueError."""
    if settings.broker == "paper":
        return PaperVenue(paper or PaperBroker(settings.cash, dict(settings.logos.symbol_specs()), settings.fills))
    if settings.broker == "ccxt":
        from services.executor.brokers.ccxt_broker import CcxtBroker, new_exchange

        if not settings.exchange:
            raise ValueError("EXECUTOR_BROKER=ccxt needs EXECUTOR_EXCHANGE (e.g. binance)")
        exchange = new_exchange(settings.exchange, settings.ccxt_api_key, settings.ccxt_secret,
                                settings.ccxt_password, settings.sandbox and not settings.live)  # fmt: skip
        return CcxtBroker(exchange, dry_run=settings.dry_run, symbol_map=settings.symbol_map)
    if settings.broker == "alpaca":
        from services.executor.brokers.alpaca_broker import AlpacaBroker, new_trading_client

        client = new_trading_client(settings.alpaca_api_key, settings.alpaca_secret_key, live=settings.live)
        return AlpacaBroker(client, dry_run=settings.dry_run, symbol_map=settings.symbol_map)
    from services.executor.brokers.ib_broker import IB_NOT_SUPPORTED

    raise ValueError(IB_NOT_SUPPORTED)
