"""BG/NBD and Gamma-Gamma (engine.customers.btyd): the published CDNOW-sample fits, known
answers on data simulated from known parameters, the closed forms' boundary cases and a
reference comparison with the lifetimes package.

tests/fixtures/cdnow_sample_summary.csv is the per-customer calibration summary of the
2,357-customer CDNOW sample (39 weeks to 1997-09-30), in the sample's customer order:
repeat purchase days x, t_x and T in days, and the repeat purchases' total value. It is
derived from CDNOW_sample.txt of the lifetimes 0.11.3 wheel, which also ships this
summary (cdnow_customers_summary*.csv, weeks to 2 decimals);
tests/engine/test_clv.py::test_real_cdnow_sample_summary re-derives it from the wheel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.customers.btyd import (
    BetaGeoModel,
    GammaGammaModel,
    check_summary,
    sample_bgnbd,
    sample_gamma_gamma,
)
from features.errors import DataValidationError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow_sample_summary.csv"
#: Fader, Hardie & Lee (2005), Marketing Science 24(2), section 4
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
#: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value", on the same sample
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow_sample() -> pd.DataFrame:
    frame = pd.read_csv(FIXTURE)
    assert len(frame) == 2_357 and int(frame["x"].sum()) == 2_457
    return frame.assign(t_x=frame["t_x_days"] / 7, T=frame["T_days"] / 7,
                        zbar=np.where(frame["x"] > 0, frame["repeat_spend"]
                                      / frame["x"].clip(lower=1), 0.0))


def test_published_bgnbd_parameters_reproduced(cdnow_sample: pd.DataFrame) -> None:
    model = BetaGeoModel().fit(cdnow_sample["x"], cdnow_sample["t_x"], cdnow_sample["T"])
    got = {k: round(v, 3) for k, v in model.params_.items()}
    assert got == PUBLISHED_BGNBD
    assert round(model.log_likelihood_, 1) == PUBLISHED_LL


def test_published_gamma_gamma_parameters_reproduced(cdnow_sample: pd.DataFrame) -> None:
    model = GammaGammaModel().fit(cdnow_sample["x"], cdnow_sample["zbar"])
    assert model.n_customers_ == 946  # the repeat buyers
    assert {k: round(v, 2) for k, v in model.params_.items()} == PUBLISHED_GG


def test_bgnbd_recovers_simulated_parameters() -> None:
    truth = {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 3.0}
    # times in whole days, as a purchase log gives them (and fewer distinct rows to fit)
    big_t = np.round(np.random.default_rng(1).uniform(26, 52, 6_000) * 7) / 7
    x, t_x = sample_bgnbd(big_t, **truth, random_state=7)
    t_x = np.round(t_x * 7) / 7
    model = BetaGeoModel().fit(x, t_x, big_t)
    for name, value in truth.items():  # 6,000 customers: a and b within about 10%
        assert model.params_[name] == pytest.approx(value, rel=0.15), name
    # the fit beats the truth on its own data, and the truth beats a far-off guess
    true_ll = BetaGeoModel.from_params(**truth).log_likelihood(x, t_x, big_t).sum()
    off_ll = BetaGeoModel.from_params(r=1.0, alpha=4.0, a=0.8, b=3.0).log_likelihood(
        x, t_x, big_t).sum()
    assert model.log_likelihood_ >= true_ll > off_ll


def test_simulated_purchases_match_the_closed_form_mean() -> None:
    truth = {"r": 0.4, "alpha": 3.0, "a": 0.7, "b": 2.5}
    x, _ = sample_bgnbd(np.full(40_000, 39.0), **truth, random_state=3)
    expected = float(BetaGeoModel.from_params(**truth).expected_purchases(39.0))
    assert x.mean() == pytest.approx(expected, rel=0.03)


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    truth = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    x = np.random.default_rng(2).integers(1, 12, 6_000)
    m = sample_gamma_gamma(x, **truth, random_state=5)
    model = GammaGammaModel().fit(x, m)
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.12), name
    # the expected spend of a customer without repeat purchases is the population mean
    mean = model.params_["p"] * model.params_["gamma"] / (model.params_["q"] - 1)
    assert model.expected_spend([0], [0.0])[0] == pytest.approx(mean)


def test_p_alive_boundary_cases() -> None:
    model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    # no repeat purchase: dropout happens only after one, so alive with certainty
    assert model.p_alive([0, 0], [0.0, 0.0], [1.0, 78.0]).tolist() == [1.0, 1.0]
    # a repeat purchase right at T: alive unless she dropped right after it,
    # 1 / (1 + a / (b + x - 1)) = (b + x - 1) / (a + b + x - 1)
    a, b = 0.793, 2.426
    got = model.p_alive([2, 10], [20.0, 30.0], [20.0, 30.0])
    np.testing.assert_allclose(got, [(b + 1) / (a + b + 1), (b + 9) / (a + b + 9)])
    # the longer the silence since the last purchase, the less likely she is alive
    silence = model.p_alive([3, 3, 3], [30.0, 20.0, 5.0], [39.0, 39.0, 39.0])
    assert silence[0] > silence[1] > silence[2] > 0


def test_conditional_expectation_of_a_new_customer_is_the_unconditional_one() -> None:
    model = BetaGeoModel.from_params(r=0.3, alpha=5.0, a=1.4, b=2.0)
    for t in (1.0, 13.0, 52.0):
        assert model.conditional_expected_purchases(t, [0], [0.0], [0.0])[0] == \
            pytest.approx(float(model.expected_purchases(t)), rel=1e-10)


def test_matches_lifetimes_reference_values() -> None:
    """Numbers printed by lifetimes 0.11.3 (BetaGeoFitter on its CDNOW summary) for the
    same parameters: an independent implementation of the same closed forms."""
    model = BetaGeoModel.from_params(r=0.24259292827982148, alpha=4.413532265271809,
                                     a=0.7928859664406578, b=2.4257523826257374)
    x, t_x, big_t = [0, 1, 5, 30], [0.0, 10.0, 20.0, 38.0], [38.86] * 4
    np.testing.assert_allclose(model.conditional_expected_purchases(39, x, t_x, big_t),
                               [0.19478086, 0.41980988, 1.09386158, 20.12101721], rtol=1e-6)
    np.testing.assert_allclose(model.p_alive(x, t_x, big_t),
                               [1.0, 0.43835119, 0.28730903, 0.95574921], rtol=1e-6)
    np.testing.assert_allclose(model.expected_purchases([39.0, 78.0]),
                               [1.19501623, 1.8579717], rtol=1e-6)


def test_homogeneous_dropout_limit() -> None:
    """a, b -> inf with a / (a + b) = p fixed: every customer drops out with chance p, and
    E[Y(t) | alive] = (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p. The closed form's 2F1
    overflows there; the quadrature fallback gives the limit."""
    a, b, r, alpha = 5e5, 5e7, 1.0, 2.0
    model = BetaGeoModel.from_params(r=r, alpha=alpha, a=a, b=b)
    p = a / (a + b)
    x, t_x, big_t = np.array([0, 5, 30]), np.array([0.0, 20.0, 38.0]), np.full(3, 39.0)
    got = model.conditional_expected_purchases(52.0, x, t_x, big_t)
    alive = (1 - ((alpha + big_t) / (alpha + big_t + p * 52.0)) ** (r + x)) / p
    np.testing.assert_allclose(got, alive * model.p_alive(x, t_x, big_t), rtol=1e-4)


def test_fit_without_dropout_heterogeneity_stays_usable() -> None:
    """Customers who never drop out: a and b run off to the bound, and the predictions
    stay finite (a Poisson-gamma customer base)."""
    rng = np.random.default_rng(4)
    big_t = np.round(rng.uniform(20, 40, 300) * 7) / 7
    x = rng.poisson(rng.gamma(1.0, 0.5, 300) * big_t)
    t_x = np.where(x > 0, np.round(big_t * rng.beta(np.maximum(x, 1), 1) * 7) / 7, 0.0)
    model = BetaGeoModel().fit(x, t_x, big_t)
    assert model.params_["b"] > 1e3
    got = model.conditional_expected_purchases(26.0, x, t_x, big_t)
    assert np.all(np.isfinite(got)) and np.all(got >= 0)


def test_heavy_buyers_stay_finite() -> None:
    model = BetaGeoModel.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    got = model.conditional_expected_purchases(52.0, [400, 2000], [77.0, 77.9], [78.0, 78.0])
    assert np.all(np.isfinite(got)) and got[1] > got[0] > 100


@pytest.mark.parametrize(("x", "t_x", "T", "pattern"), [
    ([-1], [0.0], [5.0], r"summary\.frequency has 1 impossible values \(rows 1\)"),
    ([1.5], [1.0], [5.0], r"summary\.frequency has 1 impossible"),
    ([2], [6.0], [5.0], r"summary\.recency has 1 impossible values.*between 0 and T"),
    ([0], [1.0], [5.0], r"without repeat purchases has recency 0"),
    ([1], [1.0], [np.nan], r"summary\.T has 1 impossible"),
])
def test_impossible_summaries_refused(x: list, t_x: list, T: list, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        check_summary(x, t_x, T)


def test_bad_parameters_and_unfitted_models_refused() -> None:
    with pytest.raises(ValueError, match=r"'alpha' parameter of BetaGeoModel must be a float"):
        BetaGeoModel.from_params(r=1.0, alpha=0.0, a=1.0, b=1.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeoModel().p_alive([0], [0.0], [1.0])
    with pytest.raises(DataValidationError, match=r"summary\.monetary has 1 negative"):
        GammaGammaModel().fit([1, 2, 3, 4], [10.0, -2.0, 5.0, 6.0])
    with pytest.raises(DataValidationError, match="only 1 customers have a repeat purchase"):
        GammaGammaModel().fit([0, 0, 1], [0.0, 0.0, 5.0])
    with pytest.raises(DataValidationError, match=r"q = 0\.500 <= 1"):
        GammaGammaModel.from_params(p=1.0, q=0.5, gamma=1.0).expected_spend([1], [3.0])
