"""Statistics of the lift experiment: metrics over weighted test units, the paired
bootstrap over test units (averaged over seeds), the four-way verdict rule (helps /
equivalent / inconclusive / hurts, with a TOST equivalence test against a practical
margin) and the minimum detectable effect.

Every metric is a function of per-unit arrays (one entry per test unit: a user, an
applicant, a series, a backtest window) and a ``(B, n)`` matrix of unit weights. Row ``b``
of the weights is one bootstrap resample (multinomial counts over the units); a row of
ones is the plain estimate. So one call evaluates a metric on every resample at once, and
two arms scored with the *same* weight rows give paired differences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from features.errors import check_param

Units = Mapping[str, np.ndarray]
MetricFn = Callable[[Units, np.ndarray], np.ndarray]

HELPS, HURTS = "helps", "hurts"
EQUIVALENT, INCONCLUSIVE = "equivalent", "inconclusive"
VERDICTS = (HELPS, EQUIVALENT, INCONCLUSIVE, HURTS)
TOO_FEW = "too few units"
POWER = 0.8  # the power at which the minimum detectable effect is stated
MIN_UNITS = 20  # fewer test units in a segment: no interval, no verdict


@dataclass(frozen=True)
class Metric:
    """A metric of weighted test units.

    ``fn(units, weights)`` returns one value per weight row; ``higher_is_better`` orients
    the verdict.
    """

    name: str
    fn: MetricFn
    higher_is_better: bool
    label: str = ""

    def point(self, units: Units) -> float:
        n = len(next(iter(units.values())))
        return float(self.fn(units, np.ones((1, n)))[0])


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def mean_metric(name: str, key: str, *, higher_is_better: bool, label: str = "") -> Metric:
    """Weighted mean of the per-unit values ``units[key]`` (NDCG per user, Brier per
    applicant, a quantile score per window)."""
    def fn(units: Units, w: np.ndarray) -> np.ndarray:
        return _safe_div(w @ np.asarray(units[key], float), w.sum(axis=1))
    return Metric(name, fn, higher_is_better, label or name)


def ratio_metric(name: str, num: str, den: str, *, higher_is_better: bool,
                 label: str = "") -> Metric:
    """``sum(w * num) / sum(w * den)``: WAPE (absolute errors over actuals per series)
    and other ratios of totals."""
    def fn(units: Units, w: np.ndarray) -> np.ndarray:
        return _safe_div(w @ np.asarray(units[num], float), w @ np.asarray(units[den], float))
    return Metric(name, fn, higher_is_better, label or name)


def _roc_groups(y: np.ndarray, p: np.ndarray, w: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per bootstrap row: weight of positives / negatives at each distinct score (highest
    first) and their cumulative sums."""
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    wo = w[:, order]
    yo = y[order].astype(bool)
    pos = np.add.reduceat(np.where(yo, wo, 0.0), starts, axis=1)
    neg = np.add.reduceat(np.where(yo, 0.0, wo), starts, axis=1)
    return pos, neg, np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)


def _labels(units: Units, label: str, score: str) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(units[label]).astype(int), np.asarray(units[score], float)


def auc_metric(name: str = "auc", label: str = "y", score: str = "p") -> Metric:
    """Weighted ROC AUC (ties count one half): equals ``sklearn.metrics.roc_auc_score``
    on the resample the weights describe."""
    def fn(units: Units, w: np.ndarray) -> np.ndarray:
        y, p = _labels(units, label, score)
        pos, neg, _, cneg = _roc_groups(y, p, w)
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        below = n_neg[:, None] - cneg  # negatives scored strictly lower
        return _safe_div((pos * (below + 0.5 * neg)).sum(axis=1), n_pos * n_neg)
    return Metric(name, fn, True, "ROC AUC")


def average_precision_metric(name: str = "pr_auc", label: str = "y", score: str = "p"
                             ) -> Metric:
    """Weighted average precision (PR-AUC as ``sklearn.metrics.average_precision_score``
    defines it: sum over thresholds of recall increase times precision)."""
    def fn(units: Units, w: np.ndarray) -> np.ndarray:
        y, p = _labels(units, label, score)
        pos, _, cpos, cneg = _roc_groups(y, p, w)
        precision = _safe_div(cpos, cpos + cneg)
        precision = np.where(np.isnan(precision), 0.0, precision)
        return _safe_div((pos * precision).sum(axis=1), pos.sum(axis=1))
    return Metric(name, fn, True, "PR-AUC")


def recall_at_fpr_metric(fpr: float = 0.1, name: str = "recall_at_fpr", label: str = "y",
                         score: str = "p") -> Metric:
    """Best recall of the positives among ROC points with false-positive rate <= ``fpr``
    (as :func:`engine.credit.recall_at_fpr`)."""
    def fn(units: Units, w: np.ndarray) -> np.ndarray:
        y, p = _labels(units, label, score)
        pos, neg, cpos, cneg = _roc_groups(y, p, w)
        tpr = _safe_div(cpos, pos.sum(axis=1)[:, None])
        rate = _safe_div(cneg, neg.sum(axis=1)[:, None])
        ok = rate <= fpr + 1e-12
        best = np.where(ok, tpr, 0.0).max(axis=1)
        return np.where(np.isnan(tpr).all(axis=1) | np.isnan(rate).all(axis=1), np.nan, best)
    return Metric(name, fn, True, f"recall at FPR {fpr:g}")


# ----------------------------------------------------------------------------- bootstrap
def bootstrap_weights(n: int, n_boot: int, seed: int, *, block: int = 1) -> np.ndarray:
    """``(n_boot, n)`` counts: each row resamples ``n`` units with replacement.

    With ``block > 1`` the units are taken to be in time order and the resample is a
    circular moving-block bootstrap: runs of ``block`` neighbouring units are drawn
    together, which keeps the dependence between neighbours (volatility clusters across
    consecutive backtest windows) inside each resample.
    """
    check_param("bootstrap_weights", "n", n, isinstance(n, int) and n >= 1, "an int >= 1")
    check_param("bootstrap_weights", "n_boot", n_boot,
                isinstance(n_boot, int) and n_boot >= 1, "an int >= 1")
    check_param("bootstrap_weights", "block", block, isinstance(block, int) and block >= 1,
                "an int >= 1")
    rng = np.random.default_rng(seed)
    if block == 1 or n <= block:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, (n_boot, n_blocks))
    idx = ((starts[:, :, None] + np.arange(block)) % n).reshape(n_boot, -1)[:, :n]
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    return counts


def seed_weights(n_seeds: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n_seeds)`` multinomial counts over seeds (all ones for one seed): the
    second level of the bootstrap, so that intervals also carry seed-to-seed variation."""
    if n_seeds == 1:
        return np.ones((n_boot, 1))
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot
                           ).astype(float)


def verdict(ci_low: float, ci_high: float, higher_is_better: bool, *,
            margin: float | None = None, tost_low: float | None = None,
            tost_high: float | None = None) -> str:
    """The four-way verdict on a delta (arm - real-only).

    ``helps`` when the whole (1 - alpha) interval ``[ci_low, ci_high]`` lies on the better
    side of 0, ``hurts`` when it lies on the worse side. Otherwise ``equivalent`` when the
    (1 - 2 alpha) interval ``[tost_low, tost_high]`` (90% for alpha 0.05; the 95% one when
    not given) lies strictly inside ``(-margin, +margin)``: that is the two one-sided tests
    (TOST) of "delta <= -margin" and "delta >= +margin", each at level alpha. Else
    ``inconclusive``: the run cannot tell (also when an interval is undefined).
    """
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return INCONCLUSIVE
    better_low, better_high = (ci_low, ci_high) if higher_is_better else (-ci_high, -ci_low)
    if better_low > 0:
        return HELPS
    if better_high < 0:
        return HURTS
    lo = ci_low if tost_low is None else tost_low
    hi = ci_high if tost_high is None else tost_high
    if margin is not None and np.isfinite(margin) and margin > 0 and np.isfinite(lo) \
            and np.isfinite(hi) and -margin < lo and hi < margin:
        return EQUIVALENT
    return INCONCLUSIVE


def mde(se: float, alpha: float = 0.05, power: float = POWER) -> float:
    """Minimum detectable effect of a two-sided test at level ``alpha`` with ``power``:
    ``(z_{1-alpha/2} + z_{power}) * se`` (2.80 * se for 5% and 80%)."""
    if not np.isfinite(se):
        return float("nan")
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se)


def n_factor(mde_value: float, margin: float | None) -> float | None:
    """By how much the number of test units (or seeds x units) must grow for the MDE to
    fall to the practical margin, with the standard error shrinking as 1/sqrt(n): the
    factor ``(mde / margin)^2`` (1 when it is there already; ``None`` when undefined)."""
    if margin is None or not (np.isfinite(mde_value) and np.isfinite(margin)) or margin <= 0:
        return None
    return float(max(1.0, (mde_value / margin) ** 2))


def resolve_margin(spec: float | str | None, base: float) -> float | None:
    """A config margin as an absolute number: a float as it is, ``"0.5%"`` as that share
    of ``|base|`` (the real-only value)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return float(spec.rstrip("%")) / 100 * abs(base) if np.isfinite(base) else None
    return float(spec)


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down rule: which hypotheses are rejected with the family-wise error
    rate held at ``alpha`` (NaN p-values are never rejected)."""
    p = np.asarray(p_values, float)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    reject = np.zeros(p.size, bool)
    m = int(np.isfinite(p).sum())
    for rank, i in enumerate(order):
        if not np.isfinite(p[i]) or p[i] > alpha / (m - rank):
            break
        reject[i] = True
    return reject.tolist()


def _subset(units: Units, mask: np.ndarray | None) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[mask] if mask is not None else np.asarray(v)
            for k, v in units.items()}


def paired_bootstrap(metric: Metric, arm: Sequence[Units], base: Sequence[Units], *,
                     weights: np.ndarray, mask: np.ndarray | None = None,
                     alpha: float = 0.05, seeds: np.ndarray | None = None,
                     min_units: int = MIN_UNITS,
                     margin: float | str | None = None) -> dict[str, Any]:
    """Delta ``arm - base`` of ``metric`` with a percentile CI from a paired bootstrap.

    ``arm`` and ``base`` hold one unit table per seed, aligned on the same test units.
    Each bootstrap row of ``weights`` (over the units selected by ``mask``) is applied to
    every seed of both arms, and the metric is averaged over seeds. With ``seeds`` (a
    ``(n_boot, n_seeds)`` array of :func:`seed_weights`) the seeds are resampled too, the
    same draw for both arms (seed ``s`` of the arm pairs with seed ``s`` of real-only), so
    the interval covers both the test-set sampling error and the seed-to-seed variation.
    Fewer than ``min_units`` units give no interval and the verdict ``too few units``.
    ``margin`` is the practical margin of :func:`verdict` (a number, or ``"0.5%"`` of the
    real-only value).

    Returns
    -------
    dict
        ``value`` (arm, mean over seeds), ``base``, ``delta``, ``relative`` (delta / |base|),
        ``ci_low``/``ci_high``, ``seed_sd`` (std over seeds of the per-seed delta),
        ``n_units``, ``n_seeds``, ``se`` (bootstrap standard error of the delta),
        ``p_value`` (two-sided, normal approximation with that standard error),
        ``tost_low``/``tost_high`` (the 1 - 2 alpha interval of the equivalence test),
        ``margin`` (absolute), ``mde`` (minimum detectable effect at 80% power),
        ``n_factor`` (growth of n for the MDE to reach the margin), ``higher_is_better``
        and ``verdict``.
    """
    check_param("paired_bootstrap", "arm", arm, len(arm) >= 1, "at least one seed")
    check_param("paired_bootstrap", "base", base, len(base) >= 1, "at least one seed")
    check_param("paired_bootstrap", "alpha", alpha, 0 < alpha < 1, "a float in (0, 1)")
    arm_u = [_subset(u, mask) for u in arm]
    base_u = [_subset(u, mask) for u in base]
    n = len(next(iter(arm_u[0].values())))
    check_param("paired_bootstrap", "weights", weights,
                weights.ndim == 2 and weights.shape[1] == n,
                f"a (n_boot, {n}) array matching the selected units")
    ones = np.ones((1, n))
    arm_pts = np.array([metric.fn(u, ones)[0] for u in arm_u])
    base_pts = np.array([metric.fn(u, ones)[0] for u in base_u])
    arm_m = np.array([metric.fn(u, weights) for u in arm_u])  # (seeds, n_boot)
    base_m = np.array([metric.fn(u, weights) for u in base_u])
    if seeds is not None and len(arm_u) == len(base_u) == seeds.shape[1]:
        arm_b = (seeds * arm_m.T).sum(axis=1) / seeds.shape[1]
        base_b = (seeds * base_m.T).sum(axis=1) / seeds.shape[1]
    else:
        arm_b, base_b = arm_m.mean(axis=0), base_m.mean(axis=0)
    diff = arm_b - base_b
    valid = np.isfinite(diff)
    if n < min_units:
        valid[:] = False
    if valid.sum() >= 10:
        lo, hi, t_lo, t_hi = np.percentile(diff[valid], [100 * alpha / 2, 100 * (1 - alpha / 2),
                                                         100 * alpha, 100 * (1 - alpha)])
    else:
        lo = hi = t_lo = t_hi = float("nan")
    value, ref = float(np.mean(arm_pts)), float(np.mean(base_pts))
    # Two-sided p-value of "delta = 0" from the bootstrap standard error (a Wald test,
    # normal approximation):
    # smooth, unlike counting resamples, so small family-wise thresholds stay reachable.
    se = float(np.std(diff[valid], ddof=1)) if valid.sum() >= 10 else float("nan")
    if np.isfinite(se) and se > 0:
        p_value = float(2 * stats.norm.sf(abs(value - ref) / se))
    elif np.isfinite(se):
        p_value = 1.0 if value == ref else 0.0
    else:
        p_value = float("nan")
    paired = len(arm_pts) == len(base_pts)
    seed_sd = float(np.std(arm_pts - base_pts, ddof=1)) if paired and len(arm_pts) > 1 \
        else float("nan")
    abs_margin = resolve_margin(margin, ref)
    detectable = mde(se, alpha)
    return {"value": value, "base": ref, "delta": value - ref,
            "relative": (value - ref) / abs(ref) if ref else float("nan"),
            "ci_low": float(lo), "ci_high": float(hi), "seed_sd": seed_sd,
            "n_units": int(n), "n_seeds": len(arm_u), "n_boot": int(weights.shape[0]),
            "invalid_resamples": int((~valid).sum()), "se": se, "p_value": p_value,
            "tost_low": float(t_lo), "tost_high": float(t_hi), "margin": abs_margin,
            "mde": detectable, "n_factor": n_factor(detectable, abs_margin),
            "higher_is_better": metric.higher_is_better,
            "verdict": TOO_FEW if n < min_units else
            verdict(float(lo), float(hi), metric.higher_is_better, margin=abs_margin,
                    tost_low=float(t_lo), tost_high=float(t_hi))}


def bootstrap_curve(metric: Metric, runs: Sequence[Units], *, weights: np.ndarray,
                    seeds: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """The seed-averaged metric of ``runs`` (one unit table per seed) and its ``n_boot``
    bootstrap replicates, with the same unit and seed draws as :func:`paired_bootstrap`
    (so two calls with the same ``weights`` and ``seeds`` are paired)."""
    units = [_subset(u, None) for u in runs]
    n = len(next(iter(units[0].values())))
    ones = np.ones((1, n))
    point = float(np.nanmean([metric.fn(u, ones)[0] for u in units]))
    m = np.array([metric.fn(u, weights) for u in units])  # (seeds, n_boot)
    if seeds is not None and seeds.shape[1] == len(units):
        reps = (seeds * m.T).sum(axis=1) / seeds.shape[1]
    else:
        reps = m.mean(axis=0)
    return point, reps


__all__ = ["EQUIVALENT", "HELPS", "HURTS", "INCONCLUSIVE", "MIN_UNITS", "POWER", "TOO_FEW",
           "VERDICTS", "Metric", "auc_metric", "average_precision_metric", "bootstrap_curve",
           "bootstrap_weights", "holm", "mde", "mean_metric", "n_factor", "paired_bootstrap",
           "ratio_metric", "recall_at_fpr_metric", "resolve_margin", "seed_weights",
           "verdict"]
