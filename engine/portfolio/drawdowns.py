"""Drawdowns compared like for like: the real history cut into windows as long as the
synthetic paths.

A maximum drawdown grows with the length of the period it is measured over: the worst
fall of 32 years is not comparable with the worst fall of each 10-year synthetic path.
:func:`window_max_drawdowns` measures the real history over windows of the synthetic
path length, and :func:`drawdown_comparison` sets their percentiles beside the paths'."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.portfolio.strategies import TRADING_DAYS
from features.errors import DataValidationError


def max_drawdown(returns: np.ndarray) -> np.ndarray:
    """Maximum drawdown (<= 0) of daily simple ``returns`` along the last axis, the
    equity starting at 1 (the same definition as the backtest's ``max_drawdown``)."""
    equity = np.cumprod(1.0 + np.asarray(returns, dtype=float), axis=-1)
    peak = np.maximum(np.maximum.accumulate(equity, axis=-1), 1.0)
    return np.minimum((equity / peak - 1.0).min(axis=-1), 0.0)


def window_max_drawdowns(returns: np.ndarray, window: int, *,
                         stride: int = TRADING_DAYS // 12) -> np.ndarray:
    """Max drawdown of every ``window``-day window of ``returns`` (strategies, days),
    windows starting every ``stride`` days (the last one ending on the last day).

    Returns
    -------
    ndarray (n_windows, n_strategies)
        Empty (0 rows) when the history is shorter than ``window``.

    Examples
    --------
    >>> r = np.zeros((1, 10)); r[0, 4] = -0.5
    >>> window_max_drawdowns(r, 5, stride=5)[:, 0].tolist()
    [-0.5, 0.0]
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2:
        raise DataValidationError(f"returns must be (strategies, days); got shape {r.shape}",
                                  table="returns", fix="pass one row of daily returns per "
                                                       "strategy")
    for name, value in (("window", window), ("stride", stride)):
        if int(value) != value or value < 1:
            raise ValueError(f"The {name!r} parameter of window_max_drawdowns must be an int "
                             f"in the range [1, inf). Got {value!r} instead.")
    days = r.shape[1]
    if days < window:
        return np.empty((0, r.shape[0]))
    starts = list(range(0, days - window + 1, stride))
    if starts[-1] != days - window:  # the most recent window is always measured
        starts.append(days - window)
    return np.stack([max_drawdown(r[:, s:s + window]) for s in starts])


def drawdown_comparison(real_returns: np.ndarray, synthetic_mdd: np.ndarray, window: int,
                        names: Sequence[str], *, stride: int = TRADING_DAYS // 12,
                        thresholds: Sequence[float] = (0.2, 0.3)) -> dict[str, Any]:
    """Real-history drawdowns over windows of the synthetic path length beside the paths'.

    Parameters
    ----------
    real_returns : ndarray (n_strategies, n_days_real)
        Daily returns of each strategy on the real history.
    synthetic_mdd : ndarray (n_paths, n_strategies)
        Max drawdown of each synthetic path.
    window : int
        Traded days of a synthetic path: the real windows' length.
    names : strategy names.
    stride : days between the starts of two real windows (default a month).

    Returns
    -------
    dict
        ``window``, ``real_days``, ``stride``, ``n_windows``, ``n_disjoint`` (how many
        windows would not overlap: the effective sample is about this small), and
        ``per_strategy`` rows: the full-history max drawdown, the windows' p5 / p50 /
        worst and share beyond each threshold, the paths' p5 / p50 and share beyond each
        threshold (None where there is no window).
    """
    real = np.asarray(real_returns, dtype=float)
    syn = np.asarray(synthetic_mdd, dtype=float)
    if syn.ndim != 2 or syn.shape[1] != real.shape[0] or len(names) != real.shape[0]:
        raise ValueError(f"real_returns {real.shape}, synthetic_mdd {syn.shape} and "
                         f"{len(names)} names do not describe the same strategies")
    wins = window_max_drawdowns(real, window, stride=stride)
    full = max_drawdown(real)
    rows = []
    for j, name in enumerate(names):
        w = wins[:, j]
        s = syn[:, j][np.isfinite(syn[:, j])]
        row: dict[str, Any] = {
            "strategy": name, "real_full": float(full[j]),
            "real_window_p5": _pct(w, 5), "real_window_p50": _pct(w, 50),
            "real_window_worst": float(w.min()) if w.size else None,
            "synthetic_p5": _pct(s, 5), "synthetic_p50": _pct(s, 50)}
        for thr in thresholds:
            row[f"real_window_p_dd_{thr:g}"] = float((w < -thr).mean()) if w.size else None
            row[f"synthetic_p_dd_{thr:g}"] = float((s < -thr).mean()) if s.size else None
        rows.append(row)
    return {"window": int(window), "real_days": int(real.shape[1]), "stride": int(stride),
            "n_windows": int(len(wins)), "n_disjoint": int(real.shape[1] // window),
            "per_strategy": rows}


def _pct(v: np.ndarray, q: float) -> float | None:
    return float(np.percentile(v, q)) if v.size else None


__all__ = ["drawdown_comparison", "max_drawdown", "window_max_drawdowns"]
