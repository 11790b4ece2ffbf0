"""The live side of the kernel: strategies on rolling windows and the paper broker (pure, no I/O)."""
