"""Credit metrics (engine/credit/metrics.py): PSI, KS, recall at a false-positive rate,
AUC and Brier, each checked by hand on a few numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.credit import credit_metrics, ks_statistic, psi, psi_table, recall_at_fpr
from features.errors import DataValidationError


def test_psi_hand_checked_identical_and_shifted() -> None:
    expected = 0.25 * math.log(1.5) + 0.25 * math.log(2.0)
    assert psi([1, 2, 3, 4], [1, 1, 1, 4], bins=2) == pytest.approx(expected)
    table = psi_table([1, 2, 3, 4], [1, 1, 1, 4], bins=2)
    assert table["expected_count"].tolist() == [2, 2]
    assert table["actual_count"].tolist() == [3, 1]
    rng = np.random.default_rng(3)
    x = rng.normal(size=5000)
    assert psi(x, x) == pytest.approx(0.0, abs=1e-12)
    assert psi(x, rng.normal(size=5000)) < 0.02
    assert psi(x, rng.normal(1.0, 1.0, 5000)) > 0.25
    with pytest.raises(DataValidationError, match="actual has 1 missing"):
        psi(x, [0.1, np.nan])


def test_metrics_hand_checked() -> None:
    y = [0, 0, 0, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.35, 0.9]
    assert ks_statistic(y, p) == pytest.approx(0.75)
    assert recall_at_fpr(y, p, 0.25) == pytest.approx(1.0)
    assert recall_at_fpr(y, p, 0.0) == pytest.approx(0.5)
    m = credit_metrics(y, p)
    assert m["auc"] == pytest.approx(7 / 8)
    assert m["brier"] == pytest.approx(np.mean((np.array(p) - y) ** 2))
