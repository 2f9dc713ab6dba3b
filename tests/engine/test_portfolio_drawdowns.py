"""Drawdowns like for like (real windows as long as the synthetic paths) and the deflated
Sharpe ratio's z, with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine.portfolio.backtest import run_backtest
from engine.portfolio.drawdowns import drawdown_comparison, max_drawdown, window_max_drawdowns
from engine.portfolio.overfitting import deflated_sharpe, probabilistic_sharpe_ratio
from engine.portfolio.strategies import parse_strategy


def test_window_drawdowns_see_a_crash_only_in_the_windows_that_hold_it() -> None:
    r = np.zeros((2, 30))
    r[0, 12] = -0.5          # strategy 0: one halving on day 12
    r[1, 3], r[1, 4] = -0.1, -0.1  # strategy 1: two falls of 10%: -19% together
    w = window_max_drawdowns(r, 10, stride=10)
    assert w.shape == (3, 2)
    np.testing.assert_allclose(w[:, 0], [0.0, -0.5, 0.0])
    np.testing.assert_allclose(w[:, 1], [-0.19, 0.0, 0.0])
    # stride 1: 21 windows; day 12 lies in windows starting at days 3..12
    w1 = window_max_drawdowns(r, 10, stride=1)
    assert len(w1) == 21 and (w1[:, 0] == -0.5).sum() == 10
    # the last window always ends on the last day
    assert len(window_max_drawdowns(r, 7, stride=10)) == 4
    assert window_max_drawdowns(r, 31).shape == (0, 2)


def test_a_recovered_fall_is_measured_from_the_peak() -> None:
    r = np.array([[0.5, -0.2, -0.25, 1.0, -0.1]])  # 1.5 -> 1.2 -> 0.9 -> 1.8 -> 1.62
    assert max_drawdown(r)[0] == pytest.approx(0.9 / 1.5 - 1)  # -40%
    # the window starting after the peak starts at 1: -20% then -25% compound to -40%,
    assert window_max_drawdowns(r, 2, stride=1)[:, 0] == pytest.approx(
        [-0.2, -0.4, -0.25, -0.1])


def test_full_window_equals_the_backtests_max_drawdown() -> None:
    rng = np.random.default_rng(0)
    rets = rng.normal(0.0003, 0.01, (300, 3))
    res = run_backtest(rets, [parse_strategy("buy_and_hold"), parse_strategy("equal_weight")],
                       keep_returns=1)
    assert res.returns is not None
    full = window_max_drawdowns(res.returns[0], res.n_days)
    np.testing.assert_allclose(full[0], res.metrics["max_drawdown"][0])


def test_comparison_puts_real_windows_beside_paths() -> None:
    r = np.zeros((1, 40))
    r[0, 5] = -0.3  # one window of four (stride 10, window 10) holds a 30% fall
    syn = np.array([[-0.1], [-0.2], [-0.35], [-0.05]])
    out = drawdown_comparison(r, syn, 10, ["s"], stride=10)
    assert (out["window"], out["real_days"], out["n_windows"], out["n_disjoint"]) == \
        (10, 40, 4, 4)
    row = out["per_strategy"][0]
    assert row["real_full"] == pytest.approx(-0.3)
    assert row["real_window_worst"] == pytest.approx(-0.3)
    assert row["real_window_p50"] == pytest.approx(0.0)
    assert row["real_window_p_dd_0.2"] == pytest.approx(0.25)
    assert row["synthetic_p_dd_0.2"] == pytest.approx(0.25)  # only -0.35 is beyond -20%
    assert row["synthetic_p50"] == pytest.approx(np.median(syn))
    with pytest.raises(ValueError, match="same strategies"):
        drawdown_comparison(r, syn, 10, ["a", "b"])


def test_dsr_z_is_the_statistic_behind_the_dsr() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0.0002, 0.01, (500, 4))
    res = deflated_sharpe(r)
    assert res.dsr_z is not None
    np.testing.assert_allclose(stats.norm.cdf(res.dsr_z), res.dsr, rtol=1e-12)
    j = 0
    sr, skew, kurt = res.sr[j], res.skew[j], res.kurtosis[j]
    z = (sr - res.sr_benchmark) * np.sqrt(499) / np.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert res.dsr_z[j] == pytest.approx(z)
    assert res.frame()["dsr_complement"].to_numpy() == pytest.approx(stats.norm.sf(res.dsr_z))


def test_dsr_of_one_is_saturation_on_a_long_history_not_a_bug() -> None:
    # 32 years, annual Sharpe ~1.5, ten close variants: SR* is small and the evidence huge
    rng = np.random.default_rng(0)
    base = rng.normal(0.0006, 0.0065, 8060)
    r = np.column_stack([base + rng.normal(0, 0.001, 8060) for _ in range(10)])
    res = deflated_sharpe(r)
    assert res.dsr_z is not None
    assert res.dsr.min() > 0.9995 and res.dsr_z.min() > 3.3  # prints as 1.000
    # the benchmark is right: the expected best of 10 trials with this spread of SRs
    assert res.n_trials == 10 and 0 < res.sr_benchmark < res.sr.min()
    # and the same Sharpe over one year is far from 1: the length of history decides
    short = deflated_sharpe(r[:252])
    assert short.dsr.max() < 0.99
    # a CDF that saturates to exactly 1.0 still has a finite, ordered z
    assert probabilistic_sharpe_ratio(0.2, 0.0, 8060) == 1.0
