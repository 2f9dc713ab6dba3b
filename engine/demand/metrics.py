"""Point and probabilistic forecast metrics: WAPE, MASE, RMSSE, bias, pinball, coverage.

All functions take flat arrays (one entry per forecast: series x period x horizon) and are
vectorised. Definitions, with ``e = y - yhat``:

- WAPE = ``sum|e| / sum|y|`` (weighted absolute percentage error; 0 is perfect).
- bias = ``sum(yhat - y) / sum|y|``: positive means over-forecasting, as a share of
  actual volume.
- MASE (Hyndman & Koehler, 2006), per series ``g``: ``mean_g|e| / s_g`` with
  ``s_g = mean|y_t - y_{t-m}|`` over the series' *in-sample* (training) history
  (:func:`insample_scale` with ``power=1``); the reported value is the unweighted mean
  over series.
- RMSSE (M5 competition), per series: ``sqrt(mean_g(e^2) / s2_g)`` with
  ``s2_g = mean (y_t - y_{t-m})^2`` in sample (:func:`insample_scale` with
  ``power=2``); the mean over series.
- pinball loss for quantile level ``q``: ``mean(max(q * (y - p), (q - 1) * (y - p)))``
  where ``p`` is the predicted ``q``-quantile.
- coverage of an interval ``[lo, hi]``: the share of ``y`` with ``lo <= y <= hi``.

Series whose in-sample scale is 0 or undefined (constant or one observation) get an
infinite / NaN MASE term; they are dropped from the mean with a log message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["wape", "bias", "mase", "rmsse", "pinball", "coverage", "insample_scale"]

ArrayLike: TypeAlias = "np.ndarray | pd.Series | Sequence[float]"


def _pair(y: ArrayLike, yhat: ArrayLike, owner: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y, dtype=float).ravel()
    b = np.asarray(yhat, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{owner}: y and the forecast must have the same length; got "
                         f"{a.size} and {b.size}")
    if a.size == 0:
        raise ValueError(f"{owner}: got empty arrays; there is nothing to score")
    return a, b


def wape(y: ArrayLike, yhat: ArrayLike) -> float:
    """Weighted absolute percentage error ``sum|y - yhat| / sum|y|``.

    Examples
    --------
    >>> wape([10, 0, 30], [12, 1, 27])
    0.15
    """
    a, b = _pair(y, yhat, "wape")
    denom = np.abs(a).sum()
    return float(np.abs(a - b).sum() / denom) if denom > 0 else float("nan")


def bias(y: ArrayLike, yhat: ArrayLike) -> float:
    """Relative bias ``sum(yhat - y) / sum|y|`` (positive = over-forecast).

    Examples
    --------
    >>> bias([10, 30], [12, 32])
    0.1
    """
    a, b = _pair(y, yhat, "bias")
    denom = np.abs(a).sum()
    return float((b - a).sum() / denom) if denom > 0 else float("nan")


def insample_scale(y: ArrayLike, groups: ArrayLike | None = None, *, m: int = 1,
                   power: int = 1) -> pd.Series:
    """Per-series in-sample scale ``mean|y_t - y_{t-m}|^power`` of the naive forecast.

    Parameters
    ----------
    y : array-like
        Training values, ordered by time within each series.
    groups : array-like, optional
        Series label of every value (any hashable); one series when omitted.
    m : int
        Seasonal period of the naive forecast (1 = last value).
    power : {1, 2}
        1 for MASE, 2 for RMSSE.

    Returns
    -------
    Series
        Scale per series label (NaN for a series with at most ``m`` values).

    Examples
    --------
    >>> insample_scale([1, 3, 2, 5, 5], ["a", "a", "a", "b", "b"]).to_dict()
    {'a': 1.5, 'b': 0.0}
    """
    vals = np.asarray(y, dtype=float).ravel()
    labels = np.zeros(vals.size, dtype=int) if groups is None else np.asarray(groups).ravel()
    if labels.size != vals.size:
        raise ValueError("insample_scale: y and groups must have the same length")
    codes, uniques = pd.factorize(labels)
    diff = np.full(vals.size, np.nan)
    same = np.zeros(vals.size, dtype=bool)
    same[m:] = codes[m:] == codes[:-m]
    diff[m:] = np.abs(vals[m:] - vals[:-m])
    diff[~same] = np.nan
    frame = pd.DataFrame({"g": codes, "d": diff ** power})
    scale = frame.groupby("g")["d"].mean().reindex(range(len(uniques)))
    return pd.Series(scale.to_numpy(), index=pd.Index(uniques))


def _per_group_mean(values: np.ndarray, groups: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    codes = (np.zeros(values.size, dtype=np.int64) if groups is None
             else pd.factorize(np.asarray(groups).ravel())[0])
    if codes.size != values.size:
        raise ValueError("groups must have one label per forecast")
    sums = np.bincount(codes, weights=values)
    counts = np.bincount(codes)
    first = np.zeros(counts.size, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.size)[::-1]
    return sums / counts, first


def _scaled_mean(terms: np.ndarray, owner: str) -> float:
    ok = np.isfinite(terms)
    if not ok.all():
        logger.info("%s: %d of %d series have a zero or undefined in-sample scale; "
                    "left out of the mean", owner, int((~ok).sum()), terms.size)
    return float(terms[ok].mean()) if ok.any() else float("nan")


def mase(y: ArrayLike, yhat: ArrayLike, scale: ArrayLike | float,
         groups: ArrayLike | None = None) -> float:
    """Mean absolute scaled error, averaged over series.

    Parameters
    ----------
    y, yhat : array-like
        Actuals and point forecasts.
    scale : float or array-like
        In-sample ``mean|y_t - y_{t-1}|`` of the series of each forecast (one value per
        forecast, constant within a series), or a scalar for a single series.
    groups : array-like, optional
        Series label per forecast; one series when omitted.

    Examples
    --------
    >>> mase([3, 5], [2, 5], 0.5)
    1.0
    """
    return _scaled_mean(_per_series_ratio(y, yhat, scale, groups, "mase", np.abs), "mase")


def rmsse(y: ArrayLike, yhat: ArrayLike, scale: ArrayLike | float,
          groups: ArrayLike | None = None) -> float:
    """Root mean squared scaled error (M5), averaged over series.

    ``scale`` is the in-sample mean *squared* naive difference
    (``insample_scale(..., power=2)``), per forecast or scalar.

    Examples
    --------
    >>> rmsse([3, 5], [1, 5], 2.0)
    1.0
    """
    terms = _per_series_ratio(y, yhat, scale, groups, "rmsse", np.square, root=True)
    return _scaled_mean(terms, "rmsse")


def _per_series_ratio(y: ArrayLike, yhat: ArrayLike, scale: ArrayLike | float,
                      groups: ArrayLike | None, name: str,
                      loss: Callable[[np.ndarray], np.ndarray], *,
                      root: bool = False) -> np.ndarray:
    """Per series, the mean ``loss(y - yhat)`` over the series' ``scale`` (its square
    root with ``root``)."""
    a, b = _pair(y, yhat, name)
    s = np.broadcast_to(np.asarray(scale, dtype=float), a.shape)
    mean, first = _per_group_mean(loss(a - b), groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean / s[first]
        return np.sqrt(ratio) if root else ratio


def pinball(y: ArrayLike, q_pred: ArrayLike, q: float | Sequence[float]) -> float | np.ndarray:
    """Mean pinball (quantile) loss.

    Parameters
    ----------
    y : array-like of shape (n,)
        Actuals.
    q_pred : array-like of shape (n,) or (n, k)
        Predicted quantiles, one column per level in ``q``.
    q : float or sequence of k floats in (0, 1)
        Quantile levels.

    Returns
    -------
    float or ndarray of shape (k,)
        Mean loss (per level when ``q`` is a sequence).

    Examples
    --------
    >>> pinball([10, 10], [8, 12], 0.9)
    1.0
    """
    levels = np.atleast_1d(np.asarray(q, dtype=float))
    if ((levels <= 0) | (levels >= 1)).any():
        raise ValueError(f"pinball: quantile levels must lie in (0, 1); got {levels.tolist()}")
    a = np.asarray(y, dtype=float).ravel()
    p = np.asarray(q_pred, dtype=float)
    p = p.reshape(a.size, -1) if p.size else p
    if p.shape != (a.size, levels.size) or a.size == 0:
        raise ValueError(f"pinball: q_pred must have shape ({a.size}, {levels.size}); got "
                         f"{np.asarray(q_pred).shape}")
    diff = a[:, None] - p
    loss = np.maximum(levels * diff, (levels - 1) * diff).mean(axis=0)
    return float(loss[0]) if np.ndim(q) == 0 else loss


def coverage(y: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> float:
    """Share of actuals inside ``[lo, hi]`` (both ends included).

    Examples
    --------
    >>> coverage([1, 5, 9, 3], [0, 0, 0, 4], [2, 6, 8, 5])
    0.5
    """
    a, low = _pair(y, lo, "coverage")
    _, high = _pair(y, hi, "coverage")
    return float(((a >= low) & (a <= high)).mean())
