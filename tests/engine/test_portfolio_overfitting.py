"""Deflated Sharpe ratio and probability of backtest overfitting (CSCV)."""

from __future__ import annotations

import math
from itertools import combinations
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from engine.portfolio.overfitting import (
    ZERO_VARIANCE,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    return_moments,
    sharpe_ratio,
)
from features.errors import DataValidationError, GenliftWarning

EULER_GAMMA = 0.5772156649015329


def _reverting(seed: int, n_blocks: int = 16, size: int = 20, n_strats: int = 8) -> np.ndarray:
    """Every strategy's full-history mean is zero: whatever is above its mean in sample is
    below it out of sample, so the in-sample winner is the out-of-sample loser."""
    rng = np.random.default_rng(seed)
    drift = rng.choice([-1.0, 1.0], size=(n_blocks, n_strats))
    r = np.repeat(drift, size, axis=0) * 0.002
    r += rng.normal(0.0, 0.01, size=(n_blocks * size, n_strats))
    return r - r.mean(axis=0)


# --- Sharpe ratio and moments -------------------------------------------------------------

def test_sharpe_ratio_is_mean_over_sample_std() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.001, 0.01, size=(3, 50))
    np.testing.assert_allclose(sharpe_ratio(r), r.mean(axis=1) / r.std(axis=1, ddof=1))
    np.testing.assert_allclose(sharpe_ratio(r.T, axis=0), sharpe_ratio(r))
    assert isinstance(sharpe_ratio(r[0]), float)


def test_sharpe_ratio_of_constant_returns_is_nan() -> None:
    out = sharpe_ratio(np.array([[0.0, 0.0, 0.0], [1e-4, 1e-4, 1e-4]]))
    assert np.isnan(out).all()


def test_moments_match_scipy() -> None:
    rng = np.random.default_rng(1)
    r = rng.standard_t(5, size=(200, 4))
    skew, kurt = return_moments(r, axis=0)
    np.testing.assert_allclose(skew, stats.skew(r, axis=0))
    np.testing.assert_allclose(kurt, stats.kurtosis(r, axis=0, fisher=False))


# --- PSR and expected maximum Sharpe ------------------------------------------------------

def test_psr_at_the_benchmark_is_one_half() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.1, n_obs=250) == pytest.approx(0.5)
    out = probabilistic_sharpe_ratio([0.0, 0.05, 0.2], [0.0, 0.05, 0.2], 30, -1.0, 6.0)
    np.testing.assert_allclose(out, 0.5)


def test_psr_hand_computed() -> None:
    # var term 1 - (-0.5)(0.1) + (5 - 1)/4 * 0.01 = 1.06; z = 0.05 * sqrt(100) / sqrt(1.06)
    z = 0.05 * 10.0 / math.sqrt(1.06)
    expected = 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    got = probabilistic_sharpe_ratio(0.1, 0.05, n_obs=101, skew=-0.5, kurtosis=5.0)
    assert got == pytest.approx(expected, abs=1e-12)
    # Fatter tails and negative skew make the same Sharpe ratio less convincing.
    assert got < probabilistic_sharpe_ratio(0.1, 0.05, n_obs=101)


def test_expected_max_sharpe_closed_form() -> None:
    nd = NormalDist()
    z = ((1 - EULER_GAMMA) * nd.inv_cdf(1 - 1 / 100)
         + EULER_GAMMA * nd.inv_cdf(1 - 1 / (100 * math.e)))
    assert expected_max_sharpe(100, 1.0) == pytest.approx(z, abs=1e-12)
    assert expected_max_sharpe(100, 1.0) == pytest.approx(2.5306, abs=1e-4)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * z, abs=1e-12)
    assert expected_max_sharpe(1, 0.3) == 0.0
    np.testing.assert_allclose(expected_max_sharpe([1, 100], [1.0, 1.0]), [0.0, z])


def test_expected_max_sharpe_matches_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    # Max of N iid normal(0, V) draws.
    draws = rng.normal(0.0, 0.5, size=(20000, 50))
    assert expected_max_sharpe(50, 0.25) == pytest.approx(draws.max(axis=1).mean(), rel=0.03)
    # Max of N estimated Sharpe ratios of skill-less strategies.
    noise = rng.normal(0.0, 0.01, size=(400, 250, 20))
    sr = sharpe_ratio(noise, axis=1)
    var = sr.var(axis=1, ddof=1).mean()
    assert expected_max_sharpe(20, var) == pytest.approx(sr.max(axis=1).mean(), rel=0.05)


# --- deflated Sharpe ratio ----------------------------------------------------------------

def test_dsr_below_psr_for_several_trials() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.01, size=(500, 12))
    r[:, 0] += 0.002
    res = deflated_sharpe(r, names=[f"s{i}" for i in range(12)])
    assert res.n_trials == 12 and res.n_obs == 500
    assert np.all(res.dsr <= res.psr)
    assert res.sr_benchmark > 0
    assert res.var_sr == pytest.approx(np.var(res.sr, ddof=1))
    assert res.sr_benchmark == pytest.approx(expected_max_sharpe(12, res.var_sr))
    np.testing.assert_allclose(res.sr_annual, res.sr * math.sqrt(252))
    assert res.sr_benchmark_annual == pytest.approx(res.sr_benchmark * math.sqrt(252))
    skew, kurt = return_moments(r, axis=0)
    np.testing.assert_allclose(
        res.dsr, probabilistic_sharpe_ratio(res.sr, res.sr_benchmark, 500, skew, kurt))
    # The planted strategy survives deflation, a skill-less one does not.
    assert res.dsr[0] > 0.95
    assert res.dsr[1:].max() < 0.95
    frame = res.frame()
    assert list(frame["strategy"]) == res.names and len(frame) == 12
    assert set(res.summary()) == {"n_obs", "n_trials", "var_sr", "sr_benchmark",
                                  "sr_benchmark_annual"}


def test_more_trials_deflate_more() -> None:
    rng = np.random.default_rng(4)
    r = rng.normal(0.0005, 0.01, size=(300, 5))
    few = deflated_sharpe(r)
    many = deflated_sharpe(r, n_trials=500)
    assert many.sr_benchmark > few.sr_benchmark
    assert np.all(many.dsr < few.dsr)
    given = deflated_sharpe(r, n_trials=500, var_sr=0.01)
    assert given.sr_benchmark == pytest.approx(expected_max_sharpe(500, 0.01))


def test_single_strategy_dsr_is_psr() -> None:
    rng = np.random.default_rng(5)
    res = deflated_sharpe(rng.normal(0.001, 0.01, size=(250, 1)))
    assert res.sr_benchmark == 0.0 and res.n_trials == 1
    np.testing.assert_allclose(res.dsr, res.psr)


def test_zero_variance_strategy_is_nan_with_reason() -> None:
    rng = np.random.default_rng(6)
    r = rng.normal(0.0, 0.01, size=(250, 4))
    r[:, 2] = 0.0001
    res = deflated_sharpe(r)
    assert np.isnan(res.sr[2]) and np.isnan(res.psr[2]) and np.isnan(res.dsr[2])
    assert res.reason[2] == ZERO_VARIANCE
    assert res.reason[0] == "" and np.isfinite(res.dsr[[0, 1, 3]]).all()
    assert res.var_sr == pytest.approx(np.var(res.sr[[0, 1, 3]], ddof=1))


def test_deflated_sharpe_bad_input() -> None:
    with pytest.raises(DataValidationError, match="2-D matrix"):
        deflated_sharpe(np.zeros(10))
    with pytest.raises(DataValidationError, match="missing or infinite"):
        deflated_sharpe(np.array([[0.1, np.nan], [0.2, 0.1], [0.0, 0.1]]))
    with pytest.raises(ValueError, match="'n_trials' parameter"):
        deflated_sharpe(np.ones((10, 3)) * np.arange(10)[:, None], n_trials=2)


# --- probability of backtest overfitting --------------------------------------------------

def test_pbo_dominant_strategy_is_near_zero() -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(0.0, 0.01, size=(320, 8))
    r[:, 5] += 0.004
    res = probability_of_backtest_overfitting(r)
    assert res.pbo < 0.05
    assert np.mean(res.selected == 5) > 0.95
    assert res.prob_oos_loss < 0.05


def test_pbo_reverting_winners_is_near_one() -> None:
    res = probability_of_backtest_overfitting(_reverting(8))
    assert res.pbo > 0.8
    assert res.slope < 0
    assert res.prob_oos_loss > 0.5
    # With the mean as the metric the reversal is exact: the winner is always last.
    exact = probability_of_backtest_overfitting(_reverting(8), metric="mean")
    assert exact.pbo == 1.0
    np.testing.assert_allclose(exact.logits, np.log(1 / 8))


def test_pbo_of_pure_noise_is_about_one_half() -> None:
    rng = np.random.default_rng(9)
    pbo = [probability_of_backtest_overfitting(rng.normal(0.0, 0.01, size=(80, 10)),
                                               n_blocks=8).pbo for _ in range(200)]
    assert 0.4 < np.mean(pbo) < 0.65


def test_pbo_counts_every_split() -> None:
    rng = np.random.default_rng(10)
    res = probability_of_backtest_overfitting(rng.normal(0.0, 0.01, size=(64, 3)))
    assert res.n_combinations == math.comb(16, 8) == 12870
    assert res.logits.shape == res.selected.shape == res.oos_metric.shape == (12870,)
    assert res.n_blocks == 16 and res.n_strategies == 3 and res.block_size == 4
    assert res.n_dropped == 0
    assert res.pbo == pytest.approx(np.mean(res.logits <= 0))
    assert res.summary()["n_combinations"] == 12870


@pytest.mark.parametrize("metric", ["sharpe", "sortino", "mean"])
def test_pbo_equals_reference_loop(metric: str) -> None:
    rng = np.random.default_rng(11)
    n_blocks, size, n_strats = 6, 7, 5
    r = rng.normal(0.0002, 0.01, size=(n_blocks * size, n_strats))
    res = probability_of_backtest_overfitting(r, n_blocks=n_blocks, metric=metric)

    def score(x: np.ndarray) -> np.ndarray:
        if metric == "mean":
            return x.mean(axis=0)
        if metric == "sharpe":
            return x.mean(axis=0) / x.std(axis=0, ddof=1)
        return x.mean(axis=0) / np.sqrt(np.mean(np.minimum(x, 0.0) ** 2, axis=0))

    blocks = np.arange(n_blocks * size) // size
    logits, chosen = [], []
    for ins in combinations(range(n_blocks), n_blocks // 2):
        mask = np.isin(blocks, ins)
        best = int(np.argmax(score(r[mask])))
        rank = stats.rankdata(score(r[~mask]))[best]
        logits.append(math.log(rank / (n_strats + 1 - rank)))
        chosen.append(best)
    assert res.n_combinations == len(logits) == 20
    np.testing.assert_array_equal(res.selected, chosen)
    np.testing.assert_allclose(res.logits, logits, atol=1e-9)


def test_pbo_drops_remainder_rows_at_the_start() -> None:
    rng = np.random.default_rng(12)
    r = rng.normal(0.0, 0.01, size=(16 * 10 + 5, 4))
    with pytest.warns(GenliftWarning, match="dropped the first 5 of 165 rows"):
        res = probability_of_backtest_overfitting(r)
    assert res.n_dropped == 5 and res.block_size == 10
    trimmed = probability_of_backtest_overfitting(r[5:])
    np.testing.assert_array_equal(res.logits, trimmed.logits)


def test_pbo_constant_strategy_does_not_crash() -> None:
    rng = np.random.default_rng(13)
    r = rng.normal(0.0, 0.01, size=(160, 4))
    r[:, 0] = 0.0
    res = probability_of_backtest_overfitting(r)
    assert np.isfinite(res.logits).all() and 0.0 <= res.pbo <= 1.0


def test_pbo_bad_input() -> None:
    r = np.random.default_rng(14).normal(0.0, 0.01, size=(64, 3))
    with pytest.raises(ValueError, match="'n_blocks' parameter .* even int"):
        probability_of_backtest_overfitting(r, n_blocks=7)
    with pytest.raises(ValueError, match="'n_blocks' parameter"):
        probability_of_backtest_overfitting(r, n_blocks=0)
    with pytest.raises(ValueError, match="'metric' parameter"):
        probability_of_backtest_overfitting(r, metric="calmar")
    with pytest.raises(DataValidationError, match="fewer than 2 \\* n_blocks = 32"):
        probability_of_backtest_overfitting(r[:31])
    with pytest.raises(DataValidationError, match="at least 2 columns"):
        probability_of_backtest_overfitting(r[:, :1])
    with pytest.raises(DataValidationError, match="2-D matrix"):
        probability_of_backtest_overfitting(r[:, 0])
