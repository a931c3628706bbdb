"""Backtest benchmark (SPEC section 10, issue 16): the scan rate over one practice's stored
events among many practices', and the live pipeline's p99 with and without a backtest running."""
