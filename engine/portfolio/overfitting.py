"""Overfitting statistics across a strategy grid: deflated Sharpe ratio and PBO.

A grid of strategies x parameters is a multiple-testing problem: the best Sharpe ratio of
``N`` trials is biased upwards even when no strategy has any skill. Two corrections:

- :func:`deflated_sharpe` (Bailey & Lopez de Prado 2014) asks whether a strategy's Sharpe
  ratio beats the Sharpe ratio the *best of N skill-less trials* would show, given the
  length, skewness and kurtosis of its track record.
- :func:`probability_of_backtest_overfitting` (Bailey, Borwein, Lopez de Prado & Zhu 2017)
  splits the history into blocks and, over every half/half split (combinatorially
  symmetric cross-validation, CSCV), measures how often the in-sample winner ranks in the
  bottom half out of sample.

Both take a matrix of per-period (daily) returns, ``(n_obs, n_strategies)``: one column per
trial, e.g. ``BacktestResult.returns[0].T`` for the first path of a backtest. Every trial
that was looked at counts, including the ones dropped from the report: pass the tracked
count as ``n_trials``.

References
----------
.. [1] Bailey, D. H. & Lopez de Prado, M. (2012). The Sharpe ratio efficient frontier.
   Journal of Risk 15(2), 3-44.
.. [2] Bailey, D. H. & Lopez de Prado, M. (2014). The deflated Sharpe ratio: correcting
   for selection bias, backtest overfitting and non-normality. Journal of Portfolio
   Management 40(5), 94-107.
.. [3] Bailey, D. H., Borwein, J. M., Lopez de Prado, M. & Zhu, Q. J. (2017). The
   probability of backtest overfitting. Journal of Computational Finance 20(4), 39-69.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from engine.portfolio.strategies import TRADING_DAYS
from features.errors import DataValidationError, GenliftWarning, check_param, is_int

logger = logging.getLogger(__name__)

EULER_GAMMA = float(np.euler_gamma)
PBO_METRICS = ("sharpe", "sortino", "mean")
MAX_BLOCKS = 22  # C(22, 11) = 705,432 splits; C(24, 12) is already 2.7 million
ZERO_VARIANCE = "zero variance: constant returns, the Sharpe ratio is undefined"
_CHUNK_ELEMENTS = 4_000_000  # (combinations x strategies) floats held at once per array


def _out(x: np.ndarray) -> Any:
    """A float for 0-d results, the array otherwise."""
    return float(x) if np.ndim(x) == 0 else x


def sharpe_ratio(returns: ArrayLike, axis: int = -1) -> Any:
    """Per-period Sharpe ratio, not annualised.

    .. math:: \\widehat{SR} = \\bar r / s, \\qquad s^2 = \\frac{1}{T-1} \\sum_t (r_t - \\bar r)^2

    Returns are taken as excess returns (subtract the cash rate first). Multiply by
    ``sqrt(periods per year)`` to annualise (``sqrt(252)`` for daily returns).

    Parameters
    ----------
    returns : array_like
        Per-period returns; ``axis`` runs over time.
    axis : int, default -1

    Returns
    -------
    float or ndarray
        NaN where the returns are constant (zero standard deviation) or fewer than two.

    Examples
    --------
    >>> sharpe_ratio([0.01, -0.01, 0.02, 0.0])
    0.3872983346207417
    """
    r = np.asarray(returns, dtype=float)
    n = r.shape[axis]
    mean = r.mean(axis=axis)
    if n < 2:
        return _out(np.full(np.shape(mean), np.nan))
    sd = r.std(axis=axis, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(sd > _tiny(r, axis), mean / sd, np.nan)
    return _out(sr)


def _tiny(r: np.ndarray, axis: int) -> np.ndarray:
    # Constant returns give a standard deviation of a few ulps, not exactly zero.
    return 1e-12 * np.maximum(np.abs(r).max(axis=axis), 1e-300)


def return_moments(returns: ArrayLike, axis: int = -1) -> tuple[Any, Any]:
    """Sample skewness and (non-excess) kurtosis, the moments the PSR needs.

    .. math:: \\hat\\gamma_3 = m_3 / m_2^{3/2}, \\qquad \\hat\\gamma_4 = m_4 / m_2^2,
              \\qquad m_k = \\frac{1}{T} \\sum_t (r_t - \\bar r)^k

    (the biased estimators, as ``scipy.stats.skew`` and ``scipy.stats.kurtosis(...,
    fisher=False)``; a normal distribution has ``gamma_3 = 0``, ``gamma_4 = 3``).

    Returns
    -------
    skew, kurtosis : float or ndarray
        NaN where the returns are constant.
    """
    r = np.asarray(returns, dtype=float)
    dev = r - r.mean(axis=axis, keepdims=True)
    m2 = np.mean(dev**2, axis=axis)
    m3 = np.mean(dev**3, axis=axis)
    m4 = np.mean(dev**4, axis=axis)
    ok = np.sqrt(m2) > _tiny(r, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(ok, m3 / m2**1.5, np.nan)
        kurt = np.where(ok, m4 / m2**2, np.nan)
    return _out(skew), _out(kurt)


def probabilistic_sharpe_ratio(sr: ArrayLike, sr_benchmark: ArrayLike, n_obs: ArrayLike,
                               skew: ArrayLike = 0.0, kurtosis: ArrayLike = 3.0) -> Any:
    """Probability that the true Sharpe ratio exceeds a benchmark (PSR, [1]_).

    .. math::
        \\mathrm{PSR}(SR^*) = \\Phi\\left(
            \\frac{(\\widehat{SR} - SR^*)\\sqrt{T - 1}}
                 {\\sqrt{1 - \\hat\\gamma_3 \\widehat{SR}
                        + \\frac{\\hat\\gamma_4 - 1}{4} \\widehat{SR}^2}}\\right)

    Arguments broadcast against each other.

    Parameters
    ----------
    sr : array_like
        Observed per-period (not annualised) Sharpe ratio.
    sr_benchmark : array_like
        ``SR*``, per period too.
    n_obs : array_like
        ``T``, the number of returns the Sharpe ratio was estimated from (>= 2).
    skew : array_like, default 0
        ``gamma_3`` of the returns.
    kurtosis : array_like, default 3
        ``gamma_4``, the *non-excess* kurtosis of the returns (3 for a normal).

    Returns
    -------
    float or ndarray
        In [0, 1]; NaN where an input is NaN or the variance term is not positive.

    Examples
    --------
    >>> probabilistic_sharpe_ratio(0.1, 0.1, n_obs=250)
    0.5
    """
    n = np.asarray(n_obs, dtype=float)
    if np.any(n < 2):
        raise ValueError(f"The 'n_obs' parameter of probabilistic_sharpe_ratio must be an int "
                         f"in the range [2, inf). Got {n_obs!r} instead.")
    s = np.asarray(sr, dtype=float)
    g3 = np.asarray(skew, dtype=float)
    g4 = np.asarray(kurtosis, dtype=float)
    var = 1.0 - g3 * s + (g4 - 1.0) / 4.0 * s**2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (s - np.asarray(sr_benchmark, dtype=float)) * np.sqrt(n - 1.0) / np.sqrt(var)
    z = np.where(var > 0, z, np.nan)
    return _out(stats.norm.cdf(z))


def expected_max_sharpe(n_trials: ArrayLike, var_sr: ArrayLike) -> Any:
    """Expected maximum Sharpe ratio of ``N`` skill-less trials ([2]_, eq. 2).

    .. math::
        E[\\max_n \\widehat{SR}_n] \\approx \\sqrt{V[\\widehat{SR}_n]}
            \\left((1 - \\gamma)\\,\\Phi^{-1}\\!\\left(1 - \\tfrac{1}{N}\\right)
                   + \\gamma\\,\\Phi^{-1}\\!\\left(1 - \\tfrac{1}{N e}\\right)\\right)

    with ``gamma`` the Euler-Mascheroni constant: the extreme-value approximation of the
    mean of the maximum of ``N`` independent normal Sharpe ratios with mean 0 and variance
    ``V``. This is the benchmark ``SR*`` of the deflated Sharpe ratio. ``N = 1`` gives 0.

    Parameters
    ----------
    n_trials : array_like
        ``N >= 1``, independent trials.
    var_sr : array_like
        Variance of the trials' (per-period) Sharpe ratios, >= 0.

    Returns
    -------
    float or ndarray
        In the units of the Sharpe ratios whose variance was given.

    Examples
    --------
    >>> round(expected_max_sharpe(100, 1.0), 4)
    2.5306
    """
    n = np.asarray(n_trials, dtype=float)
    v = np.asarray(var_sr, dtype=float)
    if np.any(~(n >= 1)):
        raise ValueError(f"The 'n_trials' parameter of expected_max_sharpe must be an int in "
                         f"the range [1, inf). Got {n_trials!r} instead.")
    if np.any(~(v >= 0)):
        raise ValueError(f"The 'var_sr' parameter of expected_max_sharpe must be a float in "
                         f"the range [0, inf). Got {var_sr!r} instead.")
    with np.errstate(divide="ignore"):
        z = ((1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n)
             + EULER_GAMMA * stats.norm.ppf(1.0 - 1.0 / (n * np.e)))
    # N = 1: Phi^-1(0) = -inf; the best of one trial is that trial, expected SR 0.
    return _out(np.sqrt(v) * np.where(n > 1, z, 0.0))


def _check_matrix(returns: ArrayLike, caller: str) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2:
        raise DataValidationError(
            f"{caller}: returns must be a 2-D matrix (n_obs, n_strategies); got shape "
            f"{np.shape(returns)}", table="returns",
            fix="pass one column of per-period returns per strategy, e.g. "
                "BacktestResult.returns[path].T")
    bad = ~np.isfinite(r)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataValidationError(
            f"{caller}: returns has {int(bad.sum())} missing or infinite values in "
            f"{rows.size} rows (rows {', '.join(str(i + 1) for i in rows[:5])}"
            f"{', ...' if rows.size > 5 else ''})", table="returns", n_rows=int(rows.size),
            rows=[int(i) + 1 for i in rows[:5]],
            fix="drop or fill the periods with missing returns for every strategy")
    return r


@dataclass(frozen=True)
class DeflatedSharpeResult:
    """Deflated Sharpe ratios of a strategy grid.

    Attributes
    ----------
    names : list of str
    sr, sr_annual : ndarray (n_strategies,)
        Sharpe ratio per period and annualised (``* sqrt(periods_per_year)``).
    skew, kurtosis : ndarray (n_strategies,)
        Sample skewness and non-excess kurtosis of each strategy's returns.
    psr : ndarray (n_strategies,)
        ``PSR(0)``: probability that the true Sharpe ratio is positive.
    dsr : ndarray (n_strategies,)
        ``PSR(SR*)`` with ``SR*`` the expected best Sharpe ratio of ``n_trials`` skill-less
        trials: probability that the strategy beats the luck of the search.
    reason : list of str
        Why a strategy's values are NaN ("" when they are not).
    n_obs, n_trials : int
    var_sr : float
        Variance of the per-period Sharpe ratios across the grid.
    sr_benchmark, sr_benchmark_annual : float
        ``SR*`` per period and annualised.
    dsr_z : ndarray (n_strategies,)
        The standardised statistic whose normal CDF is the DSR. Above about 3.1 the DSR
        prints as 1.000 and above about 8.3 it is exactly 1.0 in floating point: with many
        years of data a Sharpe ratio well above ``SR*`` is overwhelming evidence, not a
        bug; ``dsr_z`` (and ``1 - DSR = norm.sf(dsr_z)``) still tells such strategies apart.
    """

    names: list[str]
    sr: np.ndarray
    sr_annual: np.ndarray
    skew: np.ndarray
    kurtosis: np.ndarray
    psr: np.ndarray
    dsr: np.ndarray
    reason: list[str]
    n_obs: int
    n_trials: int
    var_sr: float
    sr_benchmark: float
    sr_benchmark_annual: float
    dsr_z: np.ndarray | None = None

    def frame(self) -> Any:
        """One row per strategy (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame({"strategy": self.names, "sr": self.sr, "sr_annual": self.sr_annual,
                             "skew": self.skew, "kurtosis": self.kurtosis, "psr": self.psr,
                             "dsr": self.dsr, "dsr_z": self.dsr_z,
                             "dsr_complement": stats.norm.sf(self.dsr_z)
                             if self.dsr_z is not None else np.nan,
                             "reason": self.reason})

    def summary(self) -> dict[str, float | int]:
        """The grid-level numbers, JSON-ready."""
        return {"n_obs": self.n_obs, "n_trials": self.n_trials, "var_sr": self.var_sr,
                "sr_benchmark": self.sr_benchmark,
                "sr_benchmark_annual": self.sr_benchmark_annual}


def deflated_sharpe(returns: ArrayLike, n_trials: int | None = None, *,
                    var_sr: float | None = None, names: Sequence[str] | None = None,
                    periods_per_year: int = TRADING_DAYS) -> DeflatedSharpeResult:
    """Deflated Sharpe ratio of every strategy in a grid ([2]_).

    .. math::
        \\mathrm{DSR}_n = \\mathrm{PSR}_n(SR^*), \\qquad
        SR^* = \\sqrt{V[\\widehat{SR}]}\\left((1-\\gamma)\\Phi^{-1}(1 - 1/N)
               + \\gamma\\Phi^{-1}(1 - 1/(N e))\\right)

    with ``PSR`` from :func:`probabilistic_sharpe_ratio` (each strategy's own skewness and
    kurtosis, ``T`` = number of rows), ``N`` the number of trials and ``V[SR]`` the
    variance (``ddof=1``) of the per-period Sharpe ratios across the grid. With one trial,
    or fewer than two strategies with a defined Sharpe ratio and no ``var_sr`` given,
    ``SR* = 0`` and DSR = PSR(0).

    Parameters
    ----------
    returns : array_like (n_obs, n_strategies)
        Per-period excess returns, one column per strategy.
    n_trials : int, optional
        Trials run to find these strategies, >= n_strategies; defaults to n_strategies.
        Count every configuration tried, not only the ones kept.
    var_sr : float, optional
        Variance of the trials' per-period Sharpe ratios, when the grid's columns are not
        all the trials (e.g. ``n_trials`` larger than the grid).
    names : sequence of str, optional
        Strategy names, default ``"0", "1", ...``.
    periods_per_year : int, default 252
        For the annualised columns only; the statistics use per-period values.

    Returns
    -------
    DeflatedSharpeResult
        Constant-return strategies get NaN Sharpe, PSR and DSR with a ``reason`` and are
        left out of ``var_sr``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> res = deflated_sharpe(rng.normal(0.0005, 0.01, size=(1000, 20)))
    >>> bool(np.all(res.dsr <= res.psr))
    True
    """
    r = _check_matrix(returns, "deflated_sharpe")
    n_obs, n_strats = r.shape
    if n_obs < 2 or n_strats < 1:
        raise DataValidationError(
            f"deflated_sharpe: returns has shape {r.shape}; it needs at least 2 periods "
            f"and 1 strategy", table="returns", fix="pass a longer history")
    trials = n_strats if n_trials is None else n_trials
    check_param("deflated_sharpe", "n_trials", n_trials,
                is_int(trials) and trials >= n_strats,
                f"an int >= the number of strategies ({n_strats})")
    if var_sr is not None:
        check_param("deflated_sharpe", "var_sr", var_sr, bool(np.isfinite(var_sr) and var_sr >= 0),
                    "a float in the range [0, inf)")
    check_param("deflated_sharpe", "periods_per_year", periods_per_year,
                periods_per_year > 0, "a number in the range (0, inf)")
    labels = [str(i) for i in range(n_strats)] if names is None else [str(x) for x in names]
    if len(labels) != n_strats:
        raise ValueError(f"The 'names' parameter of deflated_sharpe must have one name per "
                         f"strategy ({n_strats}). Got {len(labels)} names instead.")

    sr = np.atleast_1d(sharpe_ratio(r, axis=0))
    skew, kurt = (np.atleast_1d(m) for m in return_moments(r, axis=0))
    defined = np.isfinite(sr)
    if var_sr is None:
        if defined.sum() >= 2:
            var_sr = float(np.var(sr[defined], ddof=1))
        else:
            var_sr = 0.0
            if trials > 1:
                logger.info("deflated_sharpe: fewer than two strategies with a defined Sharpe "
                            "ratio, the variance across trials is unknown: SR* = 0")
    sr_star = float(expected_max_sharpe(trials, var_sr))
    psr = np.atleast_1d(probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurt))
    dsr = np.atleast_1d(probabilistic_sharpe_ratio(sr, sr_star, n_obs, skew, kurt))
    var = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2  # the DSR's z, kept: the CDF saturates
    with np.errstate(divide="ignore", invalid="ignore"):
        dsr_z = np.where(var > 0, (sr - sr_star) * np.sqrt(n_obs - 1.0) / np.sqrt(var), np.nan)
    reason = ["" if ok else ZERO_VARIANCE for ok in defined]
    scale = float(np.sqrt(periods_per_year))
    return DeflatedSharpeResult(
        names=labels, sr=sr, sr_annual=sr * scale, skew=skew, kurtosis=kurt, psr=psr, dsr=dsr,
        reason=reason, n_obs=n_obs, n_trials=int(trials), var_sr=float(var_sr),
        sr_benchmark=sr_star, sr_benchmark_annual=sr_star * scale, dsr_z=dsr_z)


@dataclass(frozen=True)
class PBOResult:
    """Probability of backtest overfitting by CSCV.

    Attributes
    ----------
    pbo : float
        Share of the splits whose in-sample winner has an out-of-sample logit <= 0
        (ranks in the bottom half, the median included).
    logits : ndarray (n_combinations,)
        ``lambda = ln(omega / (1 - omega))``, ``omega = rank / (N + 1)`` the relative
        out-of-sample rank (1 = worst) of the in-sample winner.
    selected : ndarray of int (n_combinations,)
        Column of the in-sample winner per split.
    is_metric, oos_metric : ndarray (n_combinations,)
        The winner's per-period metric in and out of sample (may be +-inf where a
        sub-sample has constant returns).
    slope, intercept : float
        Least-squares fit ``oos_metric = intercept + slope * is_metric`` over the finite
        pairs: performance degradation (negative slope: the better in sample, the worse
        out of sample). In and out of sample are complements, so when the same strategy
        wins every split the slope is negative even if its skill is real: read it with
        ``prob_oos_loss``.
    prob_oos_loss : float
        Share of the splits whose winner has an out-of-sample metric < 0.
    n_combinations, n_blocks, n_strategies, block_size : int
    n_dropped : int
        Rows dropped at the start so that the blocks are of equal size.
    metric : str
    """

    pbo: float
    logits: np.ndarray
    selected: np.ndarray
    is_metric: np.ndarray
    oos_metric: np.ndarray
    slope: float
    intercept: float
    prob_oos_loss: float
    n_combinations: int
    n_blocks: int
    n_strategies: int
    block_size: int
    n_dropped: int
    metric: str

    def summary(self) -> dict[str, float | int | str]:
        """The scalar results, JSON-ready."""
        return {"pbo": self.pbo, "slope": self.slope, "intercept": self.intercept,
                "prob_oos_loss": self.prob_oos_loss, "n_combinations": self.n_combinations,
                "n_blocks": self.n_blocks, "n_strategies": self.n_strategies,
                "block_size": self.block_size, "n_dropped": self.n_dropped,
                "metric": self.metric}


def _split_metric(metric: str, s1: np.ndarray, s2: np.ndarray, s_down: np.ndarray,
                  n: int) -> np.ndarray:
    """Per-period metric of a sub-sample from its sums of r, r^2 and min(r, 0)^2."""
    mean = s1 / n
    if metric == "mean":
        return mean
    if metric == "sharpe":
        spread = np.maximum(s2 - n * mean**2, 0.0) / (n - 1)
    else:
        spread = s_down / n
    # A constant sub-sample (zero spread up to rounding) ranks by the sign of its mean.
    flat = spread <= 1e-14 * np.maximum(s2 / n, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = mean / np.sqrt(spread)
    m = mean[flat]
    out[flat] = np.where(m > 0, np.inf, np.where(m < 0, -np.inf, 0.0))
    return out


def probability_of_backtest_overfitting(
    returns: ArrayLike, n_blocks: int = 16, metric: str = "sharpe"
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric CV ([3]_).

    The ``T`` rows are cut into ``S = n_blocks`` contiguous blocks of ``L = T // S`` rows
    (the first ``T mod S`` rows are dropped, with a :class:`GenliftWarning`). For each of
    the ``C(S, S/2)`` ways to choose half the blocks as the in-sample set ``J`` (the other
    half, ``J^c``, out of sample):

    .. math::
        n^* = \\arg\\max_n R_n(J), \\qquad
        \\omega = \\frac{\\mathrm{rank}(R_{n^*}(J^c))}{N + 1}, \\qquad
        \\lambda = \\ln\\frac{\\omega}{1 - \\omega}

    with ranks ``1..N`` ascending (ties: mean rank), and

    .. math:: \\mathrm{PBO} = \\frac{\\#\\{\\lambda \\le 0\\}}{C(S, S/2)}.

    Skill-less strategies give PBO near 0.5; a truly dominant one gives PBO near 0; a
    grid whose in-sample winners systematically revert gives PBO near 1. Every split's
    metric comes from per-block sums of ``r``, ``r^2`` (and ``min(r, 0)^2``) through a
    ``(combinations x blocks)`` indicator matrix, so there is no loop over splits.

    Parameters
    ----------
    returns : array_like (n_obs, n_strategies)
        Per-period returns, one column per strategy; at least 2 strategies and
        ``2 * n_blocks`` rows.
    n_blocks : int, default 16
        ``S``, even, in [2, 22]: 16 blocks give 12,870 splits.
    metric : {"sharpe", "sortino", "mean"}, default "sharpe"
        Per-period performance measure ranked in and out of sample (Sharpe: mean over
        standard deviation with ``ddof=1``; Sortino: mean over the root mean square of
        ``min(r, 0)``). A constant sub-sample scores ``sign(mean) * inf``; in-sample
        ties go to the first column.

    Returns
    -------
    PBOResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(0.0, 0.01, size=(800, 10))
    >>> r[:, 3] += 0.003
    >>> res = probability_of_backtest_overfitting(r)
    >>> res.n_combinations, res.pbo
    (12870, 0.0)
    """
    check_param("probability_of_backtest_overfitting", "n_blocks", n_blocks,
                is_int(n_blocks) and 2 <= n_blocks <= MAX_BLOCKS and n_blocks % 2 == 0,
                f"an even int in the range [2, {MAX_BLOCKS}]")
    check_param("probability_of_backtest_overfitting", "metric", metric,
                metric in PBO_METRICS, f"a str among {PBO_METRICS}")
    r = _check_matrix(returns, "probability_of_backtest_overfitting")
    n_obs, n_strats = r.shape
    if n_strats < 2:
        raise DataValidationError(
            f"probability_of_backtest_overfitting: returns has {n_strats} strategy column; "
            f"overfitting is about choosing among strategies", table="returns",
            fix="pass the returns of every strategy of the grid, at least 2 columns")
    if n_obs < 2 * n_blocks:
        raise DataValidationError(
            f"probability_of_backtest_overfitting: returns has {n_obs} rows, fewer than "
            f"2 * n_blocks = {2 * n_blocks}", table="returns",
            fix=f"pass a longer history or fewer blocks (n_blocks <= {n_obs // 2 // 2 * 2})")

    size = n_obs // n_blocks
    dropped = n_obs - size * n_blocks
    if dropped:
        warnings.warn(f"probability_of_backtest_overfitting: dropped the first {dropped} of "
                      f"{n_obs} rows so that {n_blocks} blocks have {size} rows each",
                      GenliftWarning, stacklevel=2)
    blocks = r[dropped:].reshape(n_blocks, size, n_strats)
    s1 = blocks.sum(axis=1)
    s2 = np.einsum("bln,bln->bn", blocks, blocks)
    down = np.minimum(blocks, 0.0)
    s3 = np.einsum("bln,bln->bn", down, down)
    tot1, tot2, tot3 = s1.sum(axis=0), s2.sum(axis=0), s3.sum(axis=0)

    half = n_blocks // 2
    n_comb = comb(n_blocks, half)
    idx = np.fromiter((b for c in combinations(range(n_blocks), half) for b in c),
                      dtype=np.intp, count=n_comb * half).reshape(n_comb, half)
    member = np.zeros((n_comb, n_blocks))
    np.put_along_axis(member, idx, 1.0, axis=1)
    n_half = half * size

    selected = np.empty(n_comb, dtype=np.intp)
    rank = np.empty(n_comb)
    is_best = np.empty(n_comb)
    oos_best = np.empty(n_comb)
    chunk = max(1, _CHUNK_ELEMENTS // n_strats)
    for lo in range(0, n_comb, chunk):
        m = member[lo:lo + chunk]
        in1, in2, in3 = m @ s1, m @ s2, m @ s3
        r_is = _split_metric(metric, in1, in2, in3, n_half)
        r_oos = _split_metric(metric, tot1 - in1, tot2 - in2, tot3 - in3, n_half)
        best = np.argmax(r_is, axis=1)
        rows = np.arange(best.size)
        v = r_oos[rows, best][:, None]
        below = (r_oos < v).sum(axis=1)
        ties = (r_oos == v).sum(axis=1)
        hi = lo + best.size
        selected[lo:hi] = best
        rank[lo:hi] = below + (ties + 1) / 2.0
        is_best[lo:hi] = r_is[rows, best]
        oos_best[lo:hi] = v[:, 0]

    omega = rank / (n_strats + 1)
    logits = np.log(omega / (1.0 - omega))
    slope, intercept = np.nan, np.nan
    fin = np.isfinite(is_best) & np.isfinite(oos_best)
    if fin.sum() >= 2 and np.ptp(is_best[fin]) > 0:
        slope, intercept = (float(c) for c in np.polyfit(is_best[fin], oos_best[fin], 1))
    res = PBOResult(
        pbo=float(np.mean(logits <= 0)), logits=logits, selected=selected, is_metric=is_best,
        oos_metric=oos_best, slope=slope, intercept=intercept,
        prob_oos_loss=float(np.mean(oos_best < 0)), n_combinations=n_comb, n_blocks=n_blocks,
        n_strategies=n_strats, block_size=size, n_dropped=dropped, metric=metric)
    logger.info("PBO %.3f over %d splits of %d strategies (%s)", res.pbo, n_comb, n_strats,
                metric)
    return res


__all__ = ["DeflatedSharpeResult", "PBOResult", "deflated_sharpe", "expected_max_sharpe",
           "probabilistic_sharpe_ratio", "probability_of_backtest_overfitting",
           "return_moments", "sharpe_ratio"]
