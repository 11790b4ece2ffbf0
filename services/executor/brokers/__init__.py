"""Broker adapters behind one interface: paper, ccxt, Alpaca and an IB stub."""
