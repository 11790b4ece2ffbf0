"""Multi-asset portfolios: risk model, allocators, constraints, cost-aware rebalancing, walk-forward backtest.

Weights and estimation are floats (numpy); quantities, cash and fees are ``Decimal`` and go through
``SymbolSpec`` quantization, the fill model and the FIFO ledger, like every other backtest.
"""
