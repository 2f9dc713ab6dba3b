"""Forecast metrics (engine/demand/metrics.py): WAPE, bias, MASE, RMSSE, pinball loss and
coverage, each checked by hand on a few numbers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.demand.metrics import bias, coverage, insample_scale, mase, pinball, rmsse, wape


def test_point_metrics_hand_computed() -> None:
    y, f = np.array([10.0, 0.0, 30.0]), np.array([12.0, 1.0, 27.0])
    assert wape(y, f) == pytest.approx(6 / 40)
    assert bias(y, f) == pytest.approx(0 / 40)
    assert bias([10, 30], [12, 32]) == pytest.approx(0.1)
    # in-sample scales: series a = 1, 3, 2 -> |2|, |1|; series b = 5, 9 -> |4|
    s1 = insample_scale([1, 3, 2, 5, 9], ["a", "a", "a", "b", "b"])
    s2 = insample_scale([1, 3, 2, 5, 9], ["a", "a", "a", "b", "b"], power=2)
    assert s1.to_dict() == {"a": 1.5, "b": 4.0}
    assert s2.to_dict() == {"a": 2.5, "b": 16.0}
    # MASE per series: a errors 3, 0 -> 1.5 / 1.5 = 1; b error 2 -> 2 / 4 = 0.5; mean 0.75
    y2, f2 = np.array([4.0, 4.0, 10.0]), np.array([1.0, 4.0, 8.0])
    groups = ["a", "a", "b"]
    scale1 = s1.reindex(groups).to_numpy()
    assert mase(y2, f2, scale1, groups) == pytest.approx(0.75)
    # RMSSE: a sqrt((9 + 0) / 2 / 2.5) = sqrt(1.8); b sqrt(4 / 16) = 0.5
    scale2 = s2.reindex(groups).to_numpy()
    assert rmsse(y2, f2, scale2, groups) == pytest.approx((np.sqrt(1.8) + 0.5) / 2)


def test_quantile_metrics_hand_computed() -> None:
    # y=10: q=0.9 pred 8 -> 0.9 * 2 = 1.8; pred 12 -> 0.1 * 2 = 0.2
    assert pinball([10, 10], [8, 12], 0.9) == pytest.approx(1.0)
    losses = pinball([10, 10], [[8, 8], [12, 12]], [0.1, 0.9])
    np.testing.assert_allclose(losses, [(0.2 + 1.8) / 2, (1.8 + 0.2) / 2])
    assert coverage([1, 5, 9, 3], [0, 0, 0, 4], [2, 6, 8, 5]) == 0.5
    with pytest.raises(ValueError, match="same length"):
        wape([1, 2], [1])
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        pinball([1], [1], 1.5)
