"""Building blocks the pages share: empty states, metric cards, charts, the trades table, the log viewer."""
