"""Confidence intervals over repeated cross-validation folds, shared by the credit and
insurance model comparisons."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["corrected_interval"]


def corrected_interval(values: np.ndarray, test_over_train: float) -> dict[str, Any]:
    """Mean, std and 95% t-intervals: naive and Nadeau-Bengio corrected.

    Repeated CV folds share training rows, so their scores are correlated and the naive
    ``s / sqrt(n)`` is too small. The corrected resampled t (Nadeau & Bengio 2003;
    Bouckaert & Frank 2004) uses ``s^2 (1/n + n_test/n_train)``; it is the one reported
    as ``ci_low``/``ci_high`` and used for verdicts.
    """
    n = len(values)
    mean = float(np.mean(values))
    sd = float(np.std(values, ddof=1)) if n > 1 else 0.0
    tq = float(stats.t.ppf(0.975, n - 1)) if n > 1 else float("nan")
    naive = sd * math.sqrt(1 / n)
    corr = sd * math.sqrt(1 / n + test_over_train)
    out: dict[str, Any] = {
        "mean": mean, "std": sd, "ci_low": mean - tq * corr, "ci_high": mean + tq * corr,
        "naive_ci_low": mean - tq * naive, "naive_ci_high": mean + tq * naive}
    if n > 1 and corr > 0:
        out["p_value"] = float(2 * stats.t.sf(abs(mean) / corr, n - 1))
    return out
