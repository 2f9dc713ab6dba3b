"""Pricing metrics on hand-worked cases: the ordered Lorenz curve and its Gini, the
Tweedie / Gamma deviance, calibration by decile and the double-lift chart."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_gamma_deviance, mean_tweedie_deviance

from engine.insurance import (
    calibration_table,
    double_lift,
    gini,
    lorenz_curve,
    mean_deviance,
    normalized_gini,
    unit_deviance,
)
from engine.insurance.pricing_metrics import gini_weighted
from features.errors import DataValidationError


def test_lorenz_curve_hand_case() -> None:
    # sorted by prediction: losses 4, 1, 3, 2 (total 10)
    x, y = lorenz_curve([1, 2, 3, 4], [2.0, 4.0, 3.0, 1.0])
    assert x.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert np.allclose(y, [0.0, 0.4, 0.5, 0.8, 1.0])
    # area = 0.25 * (0.2 + 0.45 + 0.65 + 0.9) = 0.55 -> Gini = 1 - 1.1
    assert gini([1, 2, 3, 4], [2.0, 4.0, 3.0, 1.0]) == pytest.approx(-0.1)


def test_lorenz_ties_are_one_step_and_exposure_is_the_x_axis() -> None:
    x, y = lorenz_curve([1, 3, 6], [1.0, 1.0, 2.0], exposure=[1.0, 1.0, 2.0])
    assert x.tolist() == [0.0, 0.5, 1.0] and np.allclose(y, [0.0, 0.4, 1.0])


def test_gini_of_perfect_ordering_is_the_max() -> None:
    rng = np.random.default_rng(0)
    actual = rng.gamma(2.0, 1000.0, 500)
    best = gini(actual, actual)
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert best > 0.3
    for _ in range(20):  # no ordering beats sorting by the losses themselves
        assert gini(actual, actual + rng.normal(0, 500, 500)) <= best + 1e-12
    assert gini(actual, -actual) == pytest.approx(-best)


def test_gini_of_random_ordering_is_about_zero() -> None:
    rng = np.random.default_rng(1)
    actual = rng.gamma(2.0, 1000.0, 20_000)
    assert abs(gini(actual, rng.random(20_000))) < 0.02
    assert gini(actual, np.ones(20_000)) == pytest.approx(0.0, abs=1e-12)


def test_gini_weighted_rows_match_resampled_gini() -> None:
    rng = np.random.default_rng(2)
    actual, pred = rng.gamma(2.0, 1.0, 50), rng.random(50)
    counts = rng.multinomial(50, np.full(50, 1 / 50), size=3).astype(float)
    got = gini_weighted(actual, pred, np.vstack([np.ones(50), counts]))
    assert got[0] == pytest.approx(gini(actual, pred))
    for row, value in zip(counts, got[1:], strict=True):
        idx = np.repeat(np.arange(50), row.astype(int))
        assert value == pytest.approx(gini(actual[idx], pred[idx]))


def test_deviance_by_hand_and_against_sklearn() -> None:
    # Gamma: 2 * ((y - mu) / mu - log(y / mu)); y=2, mu=1 -> 2 * (1 - ln 2)
    assert unit_deviance([2.0], [1.0])[0] == pytest.approx(2 * (1 - np.log(2)))
    # Poisson: 2 * (y log(y / mu) - (y - mu)); y=2, mu=1 -> 2 * (2 ln 2 - 1)
    assert unit_deviance([2.0], [1.0], power=1.0)[0] == pytest.approx(2 * (2 * np.log(2) - 1))
    assert unit_deviance([3.0], [3.0], power=1.5)[0] == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(3)
    y, mu = rng.gamma(2.0, 1.0, 100), rng.gamma(2.0, 1.0, 100)
    assert mean_deviance(y, mu) == pytest.approx(mean_gamma_deviance(y, mu))
    assert mean_deviance(y, mu, 1.5) == pytest.approx(mean_tweedie_deviance(y, mu, power=1.5))
    with pytest.raises(DataValidationError, match="Gamma deviance needs actual costs > 0"):
        unit_deviance([0.0], [1.0])
    with pytest.raises(ValueError, match="'power' parameter of unit_deviance"):
        unit_deviance([1.0], [1.0], power=0.5)


def test_calibration_by_decile() -> None:
    pred = np.arange(1.0, 21.0)
    table = calibration_table(2 * pred, pred, n_bins=10)
    assert table["policies"].tolist() == [2] * 10
    assert np.allclose(table["ratio"], 2.0)
    assert table["predicted"].tolist() == [1.5 + 2 * i for i in range(10)]


def test_double_lift_model_a_right_model_b_flat() -> None:
    rng = np.random.default_rng(4)
    truth = rng.gamma(2.0, 1000.0, 1000)
    actual = truth  # model A predicts the true expected cost exactly
    flat = np.full(1000, truth.mean())
    table = double_lift(actual, truth, flat, n_bins=5)
    assert len(table) == 5 and table["policies"].sum() == 1000
    assert np.allclose(table["model_a"], table["actual"])  # A follows actual
    assert np.allclose(table["model_b"], 1.0)  # B is flat
    assert table["actual"].is_monotonic_increasing
    assert table["error_a"].max() < 1e-12 < table["error_b"].mean()


def test_bad_metric_input() -> None:
    with pytest.raises(DataValidationError, match="differ in length"):
        gini([1, 2], [1, 2, 3])
    with pytest.raises(DataValidationError, match="must be >= 0"):
        gini([-1, 2], [1, 2])
    with pytest.raises(DataValidationError, match="non-finite"):
        gini([1, 2], [np.nan, 2])
