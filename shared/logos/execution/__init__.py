"""Execution simulation: the order state machine, the fill model and the FIFO ledger."""
