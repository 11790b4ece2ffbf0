"""Backtests: the engine, its metrics and its artifacts."""
