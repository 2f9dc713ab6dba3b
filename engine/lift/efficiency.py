"""Data-efficiency curves of the lift experiment: every arm at fractions of the real
training data, and the effective real-data multiplier.

At each fraction ``f`` of the real training rows (a nested, stratified subsample per seed,
:func:`nested_subsample`; validation and test stay the full held-out sets) the real-only
model and every arm are fitted again, generators refitted on that fraction only. The
*real-only curve* is then the metric against ``log f``. An arm's metric at ``f`` is read
off that curve (linear interpolation in ``log f`` on its running best, so the curve is
monotone): the real-only model would need ``f*`` of the data to match it, and the
**multiplier** is ``f* / f`` ("at 10% of the applicants, VAE rows are worth 1.6x real
rows"). Past the curve's ends it is capped and flagged: ``above`` (the arm beats real-only
at the largest fraction: the multiplier is at least the cap) or ``below`` (the arm is worse
than real-only at the smallest fraction: at most the floor). Its interval is the
percentile interval over the same paired bootstrap as the verdicts (test units and seeds
resampled together for every curve, so arm and real-only stay paired).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from engine.lift.stats import Metric, Units, bootstrap_curve, paired_bootstrap

FULL = 1.0


def piece_arm(arm: str, fraction: float) -> str:
    """The key of an arm's runs at ``fraction`` (the plain name at the full size, so a
    run without fractions keeps its keys and checkpoints)."""
    return arm if fraction >= FULL else f"{arm}@{fraction:g}"


def stratified_order(strata: np.ndarray, seed: int | Sequence[int]) -> np.ndarray:
    """One random order of the rows (per ``seed``) in which every prefix holds each
    stratum in proportion, to within one row, and each stratum's first row leads
    (systematic sampling with a random start per stratum)."""
    strata = np.asarray(strata)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(strata))
    _, inverse = np.unique(strata, return_inverse=True)
    sizes = np.bincount(inverse) if len(strata) else np.zeros(0, int)
    rank = np.empty(len(strata))
    for k in range(len(sizes)):
        rank[perm[inverse[perm] == k]] = np.arange(sizes[k])
    key = (rank + rng.random(len(sizes))[inverse]) / sizes[inverse]
    key[rank == 0] = -1.0
    return np.argsort(key, kind="stable")


def nested_subsample(strata: np.ndarray, fraction: float, seed: int | Sequence[int],
                     *, cover: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Sorted row positions kept at ``fraction``.

    The first ``round(fraction * n)`` rows (at least one per stratum) of
    :func:`stratified_order`: every stratum (a class, a charge band) keeps its share, and
    with the same seed a smaller fraction is a subset of a larger one (nested), which
    keeps the curve's points comparable. ``cover`` holds per-row codes (a categorical
    column each) whose every value must be kept: for a value the prefix lacks, its first
    row in the order is added (a model cannot score a category it never saw). That keeps
    the nesting: such a row lies inside any longer prefix that has the value.
    """
    strata = np.asarray(strata)
    if fraction >= FULL:
        return np.arange(len(strata))
    order = stratified_order(strata, seed)
    n_strata = len(np.unique(strata))
    keep = order[:max(int(round(fraction * len(strata))), n_strata)]
    extra = []
    for codes in cover:
        codes = np.asarray(codes)
        missing = set(np.unique(codes).tolist()) - set(codes[keep].tolist())
        for value in sorted(missing, key=str):
            extra.append(order[np.flatnonzero(codes[order] == value)[0]])
    return np.unique(np.concatenate([keep, np.asarray(extra, dtype=keep.dtype)]))


def category_codes(frame: Any, skip: Sequence[str] = ()) -> list[np.ndarray]:
    """Integer codes of every text / categorical column of ``frame`` but ``skip``: the
    ``cover`` of :func:`nested_subsample` for a table of rows."""
    import pandas as pd  # only tasks with frames call this

    return [pd.factorize(frame[c].astype(str))[0] for c in frame.columns if c not in skip
            and not (pd.api.types.is_numeric_dtype(frame[c])
                     and not pd.api.types.is_bool_dtype(frame[c]))]


def real_fraction(value: np.ndarray, curve: np.ndarray, fractions: Sequence[float]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The fraction at which the real-only curve reaches ``value``.

    ``value`` is ``(B,)`` and ``curve`` ``(B, J)`` over increasing ``fractions``, both
    oriented so that higher is better. Returns the fractions and a flag per row: 0 inside
    the curve, +1 above its best (capped at the largest fraction), -1 below its first
    point (floored at the smallest); NaN where a value is undefined.
    """
    value = np.asarray(value, float)
    y = np.maximum.accumulate(np.asarray(curve, float), axis=1)
    x = np.log(np.asarray(fractions, float))
    j_max = len(x) - 1
    first = np.argmax(y >= value[:, None], axis=1)
    j = np.clip(first, 1, max(j_max, 1))
    rows = np.arange(len(value))
    if j_max == 0:
        out = np.full(len(value), x[0])
    else:
        y0, y1 = y[rows, j - 1], y[rows, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(y1 > y0, (value - y0) / (y1 - y0), 1.0)
        out = x[j - 1] + np.clip(t, 0.0, 1.0) * (x[j] - x[j - 1])
    flag = np.zeros(len(value))
    above, below = value > y[:, -1], value < y[:, 0]
    out = np.where(above, x[-1], np.where(below, x[0], out))
    flag = np.where(above, 1.0, np.where(below, -1.0, flag))
    bad = ~np.isfinite(value) | ~np.isfinite(y).all(axis=1)
    return np.where(bad, np.nan, np.exp(out)), np.where(bad, np.nan, flag)


def _flag(code: float) -> str:
    return {1.0: "above", -1.0: "below"}.get(float(code), "") if np.isfinite(code) else "n/a"


def efficiency(metric: Metric, models: Sequence[str], arms: Sequence[Any],
               fractions: Sequence[float], real: str,
               runs: Mapping[tuple[str, str, float | None], list[dict[str, Units]]],
               pick: Callable[[str, str, list[float | None]], float | None], *,
               weights: np.ndarray, seeds: np.ndarray | None, alpha: float,
               margin: float | str | None, train_rows: Mapping[float, float]
               ) -> dict[str, Any]:
    """Curves and multipliers of ``metric`` (the primary one) on all test units.

    ``pick(model, key, ratios)`` chooses an arm's ratio at one fraction on validation (the
    protocol's rule); ``runs`` holds every fit keyed by ``(model, piece_arm(arm, f),
    ratio)``; ``weights`` and ``seeds`` are the verdicts' bootstrap draws.
    """
    fr = sorted(float(f) for f in fractions)
    sign = 1.0 if metric.higher_is_better else -1.0
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    points: list[dict[str, Any]] = []
    multipliers: list[dict[str, Any]] = []
    for model in models:
        real_pts, real_reps = [], []
        for f in fr:
            test = [r["test"] for r in runs[(model, piece_arm(real, f), None)]]
            pt, reps = bootstrap_curve(metric, test, weights=weights, seeds=seeds)
            real_pts.append(pt)
            real_reps.append(reps)
            lo, hi = np.nanpercentile(reps, q) if np.isfinite(reps).any() else (np.nan,) * 2
            points.append({"model": model, "arm": real, "fraction": f, "ratio": None,
                           "train_rows": train_rows.get(f), "value": pt, "ci_low": float(lo),
                           "ci_high": float(hi), "delta": 0.0, "delta_low": 0.0,
                           "delta_high": 0.0, "verdict": "reference"})
        curve_pt = sign * np.array(real_pts)[None, :]
        curve_reps = sign * np.stack(real_reps, axis=1)  # (B, J)
        for arm in arms:
            for j, f in enumerate(fr):
                key = piece_arm(arm.name, f)
                ratio = pick(model, key, list(arm.ratios) or [None])
                arm_runs = runs[(model, key, ratio)]
                test = [r["test"] for r in arm_runs]
                base = [r["test"] for r in runs[(model, piece_arm(real, f), None)]]
                pt, reps = bootstrap_curve(metric, test, weights=weights, seeds=seeds)
                lo, hi = np.nanpercentile(reps, q) if np.isfinite(reps).any() \
                    else (np.nan,) * 2
                d = paired_bootstrap(metric, test, base, weights=weights, alpha=alpha,
                                     seeds=seeds, margin=margin)
                points.append({"model": model, "arm": arm.name, "fraction": f,
                               "ratio": ratio, "train_rows": train_rows.get(f), "value": pt,
                               "ci_low": float(lo), "ci_high": float(hi),
                               "delta": d["delta"], "delta_low": d["ci_low"],
                               "delta_high": d["ci_high"], "verdict": d["verdict"]})
                f_pt, flag_pt = real_fraction(np.array([sign * pt]), curve_pt, fr)
                f_reps, flags = real_fraction(sign * reps, curve_reps, fr)
                mult = f_reps / f
                ok = np.isfinite(mult)
                m_lo, m_hi = np.percentile(mult[ok], q) if ok.sum() >= 10 else (np.nan,) * 2
                multipliers.append({
                    "model": model, "arm": arm.name, "fraction": f, "ratio": ratio,
                    "multiplier": float(f_pt[0] / f), "ci_low": float(m_lo),
                    "ci_high": float(m_hi), "real_fraction": float(f_pt[0]),
                    "flag": _flag(flag_pt[0]), "cap": fr[-1] / f, "floor": fr[0] / f,
                    "share_capped": float(np.mean(flags[ok] != 0)) if ok.any() else None,
                    "fraction_index": j})
    return {"fractions": fr, "metric": metric.name, "train_rows": dict(train_rows),
            "points": points, "multipliers": multipliers}


__all__ = ["FULL", "category_codes", "efficiency", "nested_subsample", "piece_arm", "real_fraction",
           "stratified_order"]
