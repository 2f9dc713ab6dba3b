"""Credit metrics: population stability (:func:`psi`, :func:`psi_table`), KS, recall at a
fixed false-positive rate and :func:`credit_metrics` (AUC, KS, Brier, PR-AUC, recall)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from engine.credit.data import row_list
from features.errors import DataValidationError, check_int, check_real

#: Metric name -> True when higher is better.
METRICS: Mapping[str, bool] = {
    "auc": True, "ks": True, "brier": False, "pr_auc": True, "recall_at_fpr": True,
}
_PSI_FLOOR = 1e-4  # share given to an empty PSI bin, so ln(a/e) stays finite


def _finite(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise DataValidationError(f"psi: {name} is empty", column=name,
                                  fix="compare two non-empty samples")
    bad = ~np.isfinite(arr)
    if bad.any():
        n, rows, text = row_list(bad)
        raise DataValidationError(
            f"psi: {name} has {n} missing or non-finite values (rows {text})", column=name,
            n_rows=n, rows=rows, fix="drop unscored rows (error != '') before comparing")
    return arr


def psi_table(expected: object, actual: object, bins: int = 10) -> pd.DataFrame:
    """Per-bin population stability index of ``actual`` against ``expected``.

    Bins are cut at the inner quantiles of ``expected`` (tied cuts merge, so there may be
    fewer than ``bins``); the outer bins are open. A bin's share is floored at 1e-4 so
    an empty bin gives a large but finite term. Its term is
    ``(actual% - expected%) * ln(actual% / expected%)``.

    Returns
    -------
    DataFrame
        ``lower, upper, expected_count, actual_count, expected_pct, actual_pct, psi``.
    """
    check_int("psi", "bins", bins, 1)
    e, a = _finite(expected, "expected"), _finite(actual, "actual")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1])) if bins > 1 else \
        np.zeros(0)
    m = len(edges) + 1
    ec = np.bincount(np.searchsorted(edges, e, side="right"), minlength=m)
    ac = np.bincount(np.searchsorted(edges, a, side="right"), minlength=m)
    ep = np.maximum(ec / ec.sum(), _PSI_FLOOR)
    ap = np.maximum(ac / ac.sum(), _PSI_FLOOR)
    return pd.DataFrame({
        "lower": np.concatenate([[-np.inf], edges]), "upper": np.concatenate([edges, [np.inf]]),
        "expected_count": ec, "actual_count": ac, "expected_pct": ec / ec.sum(),
        "actual_pct": ac / ac.sum(), "psi": (ap - ep) * np.log(ap / ep),
    })


def psi(expected: object, actual: object, bins: int = 10) -> float:
    """Population stability index (sum of :func:`psi_table`'s terms).

    Rule of thumb: < 0.1 stable, 0.1 - 0.25 some shift, > 0.25 a significant shift.

    Examples
    --------
    >>> round(psi([1, 2, 3, 4], [1, 1, 1, 4], bins=2), 4)
    0.2747
    """
    return float(psi_table(expected, actual, bins)["psi"].sum())


def ks_statistic(y: object, p: object) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the defaults' and the
    non-defaults' cumulative score distributions (``max(TPR - FPR)``)."""
    fpr, tpr, _ = roc_curve(np.asarray(y), np.asarray(p), drop_intermediate=False)
    return float(np.max(tpr - fpr))


def recall_at_fpr(y: object, p: object, fpr: float = 0.1) -> float:
    """Share of defaults caught when at most ``fpr`` of non-defaults are flagged.

    The best ROC point with false-positive rate <= ``fpr``: the threshold is read off the
    evaluated sample itself (as an ROC curve is), not fixed beforehand.
    """
    check_real("recall_at_fpr", "fpr", fpr, 0.0, 1.0)
    f, t, _ = roc_curve(np.asarray(y), np.asarray(p), drop_intermediate=False)
    return float(t[f <= fpr + 1e-12].max())


def credit_metrics(y: object, p: object, *, fpr: float = 0.1) -> dict[str, float]:
    """AUC, KS, Brier, PR-AUC (average precision) and recall at ``fpr`` of PDs ``p``."""
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    return {"auc": float(roc_auc_score(y, p)), "ks": ks_statistic(y, p),
            "brier": float(brier_score_loss(y, p)),
            "pr_auc": float(average_precision_score(y, p)),
            "recall_at_fpr": recall_at_fpr(y, p, fpr)}
