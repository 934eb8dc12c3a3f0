"""Market data built from committed events: depth, candles, tickers."""
