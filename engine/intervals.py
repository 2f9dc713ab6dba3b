"""Confidence intervals over repeated cross-validation folds, shared by the credit and
insurance model comparisons."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["corrected_interval", "paired_differences"]


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


def paired_differences(table: pd.DataFrame, models: Sequence[str], baseline: str | None,
                       metrics: Mapping[str, bool], test_over_train: float
                       ) -> dict[str, dict[str, Any]]:
    """Each model minus ``baseline``, paired over the same (repeat, fold) rows of
    ``table`` (columns ``model``, ``repeat``, ``fold`` and one per metric): the
    corrected interval of the differences and a verdict per metric (``metrics`` maps a
    metric to whether higher is better). Empty when ``baseline`` is None or not among
    ``models``.
    """
    paired: dict[str, dict[str, Any]] = {}
    if baseline is None or baseline not in models:
        return paired
    base = table[table.model == baseline].set_index(["repeat", "fold"])
    for name in models:
        if name == baseline:
            continue
        other = table[table.model == name].set_index(["repeat", "fold"])
        block = {}
        for metric, higher in metrics.items():
            res = corrected_interval((other[metric] - base[metric]).to_numpy(),
                                     test_over_train)
            good = res["ci_low"] > 0 if higher else res["ci_high"] < 0
            bad = res["ci_high"] < 0 if higher else res["ci_low"] > 0
            res["higher_is_better"] = higher
            res["verdict"] = "better" if good else "worse" if bad else \
                "no significant difference"
            block[metric] = res
        paired[f"{name} - {baseline}"] = block
    return paired
