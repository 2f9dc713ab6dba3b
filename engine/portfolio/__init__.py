"""Vectorised robo-advisor backtests over real and synthetic price paths."""

from engine.portfolio.backtest import (
    METRICS,
    BacktestResult,
    required_history,
    run_backtest,
    summarize,
)
from engine.portfolio.strategies import (
    DEFAULT_GRID,
    KINDS,
    Strategy,
    default_grid,
    parse_strategy,
)

__all__ = ["DEFAULT_GRID", "KINDS", "METRICS", "BacktestResult", "Strategy", "default_grid",
           "parse_strategy", "required_history", "run_backtest", "summarize"]
