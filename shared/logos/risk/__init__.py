"""Risk: limits, pre-trade checks, breakers, trading state and the kill switch (pure, no I/O)."""
