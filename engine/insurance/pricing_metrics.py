"""Pricing metrics: the ordered Lorenz curve and its Gini (:func:`lorenz_curve`,
:func:`gini`), Tweedie / Gamma / Poisson deviance (:func:`unit_deviance`), the
double-lift chart of two models (:func:`double_lift`) and calibration by decile
(:func:`calibration_table`).

The ordered Lorenz curve (Frees, Meyers & Cummings 2011, "Summarizing insurance scores
using a Gini index") sorts policies by predicted cost, lowest first, and plots the
cumulative share of exposure (x) against the cumulative share of actual losses (y). A
model that orders risks well bows the curve below the diagonal; its Gini is twice the
area between the diagonal and the curve, ``1 - 2 * area under the curve``. Policies with
tied predictions form one step (the curve is straight across them), so a constant
prediction has Gini 0 whatever the row order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.errors import DataValidationError, check_int, check_real

#: Metric name -> True when higher is better.
METRICS: Mapping[str, bool] = {"gini": True, "normalized_gini": True, "deviance": False}


def _arrays(actual: object, predicted: object, weights: object | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float).ravel()
    p = np.asarray(predicted, dtype=float).ravel()
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float).ravel()
    if not (len(y) == len(p) == len(w)):
        raise DataValidationError(
            f"actual ({len(y)}), predicted ({len(p)}) and weights ({len(w)}) differ in "
            "length", fix="pass one value per policy in each")
    if len(y) == 0:
        raise DataValidationError("no policies to evaluate", fix="pass at least one policy")
    for name, arr in (("actual", y), ("predicted", p), ("weights", w)):
        if not np.isfinite(arr).all():
            raise DataValidationError(f"{name} has {int((~np.isfinite(arr)).sum())} missing "
                                      "or non-finite values", column=name,
                                      fix="drop unpriced policies before evaluating")
    if (y < 0).any() or (w < 0).any():
        raise DataValidationError("actual losses and weights must be >= 0",
                                  fix="drop or correct the negative values")
    return y, p, w


def lorenz_curve(actual: object, predicted: object, exposure: object | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The ordered Lorenz curve: ``(x, y)`` from (0, 0) to (1, 1).

    Policies are sorted by ``predicted`` (expected cost per unit of exposure, lowest
    first); ``x`` is the cumulative share of ``exposure`` (ones by default) and ``y``
    the cumulative share of ``actual`` losses (each policy's total), one point per
    distinct prediction.

    Examples
    --------
    >>> x, y = lorenz_curve([1, 2, 3, 4], [1, 2, 3, 4])
    >>> x.tolist(), y.tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.1, 0.3, 0.6, 1.0])
    """
    y, p, w = _arrays(actual, predicted, exposure)
    if y.sum() <= 0 or w.sum() <= 0:
        raise DataValidationError("a Lorenz curve needs some losses and some exposure",
                                  fix="evaluate on policies with claims")
    order = np.argsort(p, kind="stable")
    ps = p[order]
    ends = np.r_[np.flatnonzero(ps[1:] != ps[:-1]), len(ps) - 1]
    cw = np.cumsum(w[order])[ends]
    cy = np.cumsum(y[order])[ends]
    return np.r_[0.0, cw / cw[-1]], np.r_[0.0, cy / cy[-1]]


def gini(actual: object, predicted: object, exposure: object | None = None) -> float:
    """Gini of the ordered Lorenz curve, ``1 - 2 * area under it`` (trapezoids).

    0 for a prediction that orders no better than chance (or a constant), larger for
    a better ordering; the largest value for ``actual`` is reached by sorting by
    ``actual`` itself (:func:`normalized_gini` divides by it).

    Examples
    --------
    >>> round(gini([1, 2, 3, 4], [1, 2, 3, 4]), 4)
    0.25
    >>> gini([1, 2, 3, 4], [5, 5, 5, 5])
    0.0
    """
    x, y = lorenz_curve(actual, predicted, exposure)
    return float(1.0 - np.sum(np.diff(x) * (y[1:] + y[:-1])))


def normalized_gini(actual: object, predicted: object, exposure: object | None = None
                    ) -> float:
    """:func:`gini` divided by the Gini of the perfect ordering (predicted = actual)."""
    best = gini(actual, actual, exposure)
    return gini(actual, predicted, exposure) / best if best > 0 else float("nan")


def gini_weighted(actual: object, predicted: object, weights: np.ndarray) -> np.ndarray:
    """:func:`gini` on every row of a ``(B, n)`` matrix of policy weights at once (a row
    of bootstrap counts is a resample; a row of ones is the plain Gini)."""
    y, p, _ = _arrays(actual, predicted)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    order = np.argsort(p, kind="stable")
    ps = p[order]
    ends = np.r_[np.flatnonzero(ps[1:] != ps[:-1]), len(ps) - 1]
    wo = w[:, order]
    cw = np.cumsum(wo, axis=1)[:, ends]
    cy = np.cumsum(wo * y[order], axis=1)[:, ends]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.hstack([np.zeros((len(w), 1)), cw / cw[:, -1:]])
        z = np.hstack([np.zeros((len(w), 1)), cy / cy[:, -1:]])
    out = 1.0 - np.sum(np.diff(x, axis=1) * (z[:, 1:] + z[:, :-1]), axis=1)
    return np.where((cw[:, -1] > 0) & (cy[:, -1] > 0), out, np.nan)


def unit_deviance(actual: object, predicted: object, power: float = 2.0) -> np.ndarray:
    """Tweedie unit deviance per policy, ``2 * (log-likelihood saturated - fitted)``.

    ``power`` 1 is Poisson, 2 is Gamma, values in (1, 2) compound Poisson-Gamma; other
    values in [0, 1) are refused. Gamma: ``2 * ((y - mu) / mu - log(y / mu))``; it needs
    ``actual > 0``.

    Examples
    --------
    >>> unit_deviance([2.0], [1.0], power=2.0).round(6).tolist()
    [0.613706]
    """
    check_real("unit_deviance", "power", power, 1.0, 3.0)
    y = np.asarray(actual, dtype=float)
    mu = np.asarray(predicted, dtype=float)
    if (mu <= 0).any():
        raise DataValidationError("predicted costs must be > 0 for a deviance",
                                  column="predicted", fix="use a log-link model")
    if power == 2.0:
        if (y <= 0).any():
            raise DataValidationError("the Gamma deviance needs actual costs > 0",
                                      column="actual",
                                      fix="use a Tweedie power in [1, 2) with zero claims")
        return 2.0 * ((y - mu) / mu - np.log(y / mu))
    if power == 1.0:
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(y > 0, y * np.log(y / mu), 0.0)
        return 2.0 * (term - (y - mu))
    p = float(power)
    if p < 2.0 and (y < 0).any() or p > 2.0 and (y <= 0).any():
        raise DataValidationError(f"actual costs out of range for Tweedie power {p:g}",
                                  column="actual", fix="use costs >= 0 (> 0 for power > 2)")
    return 2.0 * (np.power(np.maximum(y, 0), 2 - p) / ((1 - p) * (2 - p))
                  - y * np.power(mu, 1 - p) / (1 - p) + np.power(mu, 2 - p) / (2 - p))


def mean_deviance(actual: object, predicted: object, power: float = 2.0,
                  exposure: object | None = None) -> float:
    """Exposure-weighted mean of :func:`unit_deviance` of the observed cost per unit of
    exposure (``actual / exposure``) against ``predicted`` (a cost per unit)."""
    y, p, w = _arrays(actual, predicted, exposure)
    return float(np.average(unit_deviance(y / w, p, power), weights=w))


def _buckets(score: np.ndarray, w: np.ndarray, n_bins: int) -> np.ndarray:
    """Bucket 0..n_bins-1 of every policy: equal exposure, ordered by ``score`` (ties
    stay together in the bucket where their group starts)."""
    order = np.argsort(score, kind="stable")
    cum = np.cumsum(w[order]) - w[order]
    bucket_sorted = np.minimum((cum / w.sum() * n_bins).astype(int), n_bins - 1)
    ps = score[order]
    first = np.r_[True, ps[1:] != ps[:-1]]
    bucket_sorted = np.maximum.accumulate(np.where(first, bucket_sorted, 0))
    out = np.empty(len(score), dtype=int)
    out[order] = bucket_sorted
    return out


def calibration_table(actual: object, predicted: object, exposure: object | None = None,
                      n_bins: int = 10) -> pd.DataFrame:
    """Actual vs predicted cost per decile of the prediction (equal exposure).

    Returns
    -------
    DataFrame
        ``bin`` (1 = cheapest), ``policies``, ``exposure``, ``predicted`` and ``actual``
        (mean cost per unit exposure) and ``ratio`` = actual / predicted.
    """
    check_int("calibration_table", "n_bins", n_bins, 1)
    y, p, w = _arrays(actual, predicted, exposure)
    b = _buckets(p, w, n_bins)
    frame = pd.DataFrame({"bin": b + 1, "w": w, "yw": y, "pw": p * w})
    g = frame.groupby("bin", sort=True)
    out = pd.DataFrame({"policies": g.size(), "exposure": g["w"].sum(),
                        "predicted": g["pw"].sum() / g["w"].sum(),
                        "actual": g["yw"].sum() / g["w"].sum()}).reset_index()
    out["ratio"] = out["actual"] / out["predicted"]
    return out


def double_lift(actual: object, pred_a: object, pred_b: object,
                exposure: object | None = None, n_bins: int = 10) -> pd.DataFrame:
    """Double-lift chart of model A against model B (Goldburd, Khare & Tevet, CAS
    Monograph 5, section 7.2.2).

    Policies are sorted by the ratio ``pred_a / pred_b`` and cut into ``n_bins`` buckets
    of equal exposure. In each bucket the actual cost and both predictions are averaged
    and divided by their own overall average; the model whose line follows the actual
    line better is the better one where the two disagree.

    Returns
    -------
    DataFrame
        ``bin``, ``policies``, ``sort_ratio`` (mean A / B), ``actual``, ``model_a``,
        ``model_b`` (relative to their overall means), and ``error_a`` / ``error_b``
        (``|model - actual|`` per bucket); the bucket-exposure weighted mean of the errors
        summarises the chart.
    """
    check_int("double_lift", "n_bins", n_bins, 1)
    y, a, w = _arrays(actual, pred_a, exposure)
    _, bb, _ = _arrays(actual, pred_b, exposure)
    if (a <= 0).any() or (bb <= 0).any():
        raise DataValidationError("double_lift needs predictions > 0", fix="use cost models")
    ratio = a / bb
    b = _buckets(ratio, w, n_bins)
    frame = pd.DataFrame({"bin": b + 1, "w": w, "y": y, "a": a * w, "b": bb * w,
                          "r": ratio * w})
    g = frame.groupby("bin", sort=True)
    tot = frame[["y", "a", "b"]].sum() / w.sum()
    out = pd.DataFrame({"policies": g.size(), "exposure": g["w"].sum(),
                        "sort_ratio": g["r"].sum() / g["w"].sum(),
                        "actual": g["y"].sum() / g["w"].sum() / tot["y"],
                        "model_a": g["a"].sum() / g["w"].sum() / tot["a"],
                        "model_b": g["b"].sum() / g["w"].sum() / tot["b"]}).reset_index()
    out["error_a"] = (out["model_a"] - out["actual"]).abs()
    out["error_b"] = (out["model_b"] - out["actual"]).abs()
    return out


def pricing_metrics(actual: object, predicted: object, *, power: float = 2.0,
                    exposure: object | None = None) -> dict[str, float]:
    """Gini, normalized Gini, mean deviance and the overall actual / predicted ratio
    (``mean_ratio``: total losses over total expected cost; 1 is balanced)."""
    y, p, w = _arrays(actual, predicted, exposure)
    return {"gini": gini(y, p, w), "normalized_gini": normalized_gini(y, p, w),
            "deviance": mean_deviance(y, p, power, w),
            "mean_ratio": float(y.sum() / (p * w).sum())}
