"""Step 4 of the lift protocol (:mod:`engine.lift.protocol`): pick each arm's ratio on
validation, then compare every arm with real-only on test (paired bootstrap, verdicts,
Holm's correction over the primary-metric family) and, with fractions, the data-
efficiency curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.lift.efficiency import efficiency
from engine.lift.parts import Arm, LiftSplit
from engine.lift.stats import (
    HELPS,
    INCONCLUSIVE,
    VERDICTS,
    Metric,
    Units,
    bootstrap_weights,
    holm,
    paired_bootstrap,
    seed_weights,
)

# The task and its config are typed loosely here: their module (engine.lift.protocol)
# imports this one. ``task`` is a LiftTask, ``cfg`` a resolved LiftConfig.
LiftTask = Any
LiftConfig = Any

REAL = "real"


def _better(metric: Metric, value: float) -> float:
    return value if metric.higher_is_better else -value


def _mean_point(metric: Metric, runs: Sequence[Units], mask: np.ndarray | None = None
                ) -> float:
    vals = np.array([metric.point({k: np.asarray(v)[mask] if mask is not None
                                   else np.asarray(v) for k, v in u.items()}) for u in runs])
    return float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")


def analyse(task: LiftTask, cfg: LiftConfig, split: LiftSplit, arms: Sequence[Arm],
            runs: Mapping[tuple[str, str, float | None], list[dict[str, Units]]], *,
            train_rows: Mapping[float, float] | None = None) -> dict[str, Any]:
    """Choose each arm's ratio on validation, then compare with real-only on test (and
    with ``cfg.fractions``, the data-efficiency curves of the primary metric)."""
    primary = task.metric(task.primary)
    def pick(model: str, key: str, options: list[float | None]) -> float | None:
        scores = {r: _better(primary, _mean_point(
            primary, [x["validation"] for x in runs[(model, key, r)]])) for r in options}
        finite = {r: v for r, v in scores.items() if np.isfinite(v)}
        # Ties go to the smaller ratio (less synthetic data for the same score).
        return max(finite, key=lambda r: (finite[r], -(r or 0))) if finite else options[0]

    weights = {seg: bootstrap_weights(int(mask.sum()), cfg.n_boot, cfg.split_seed * 7919 + i,
                                      block=split.block)
               for i, (seg, mask) in enumerate(split.segments_test.items()) if mask.sum()}
    seeds_w = seed_weights(len(cfg.seeds or ()), cfg.n_boot, cfg.split_seed * 7919 + 7907)
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    chosen: dict[str, dict[str, float | None]] = {}
    for model in cfg.models or ():
        base = runs[(model, REAL, None)]
        base_val = [r["validation"] for r in base]
        base_test = [r["test"] for r in base]
        for seg, mask in split.segments_test.items():
            if seg not in weights:
                continue
            for metric in task.metrics:
                vals = [metric.point({k: np.asarray(v)[mask] for k, v in u.items()})
                        for u in base_test]
                mean = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
                rows.append({"model": model, "arm": REAL, "family": REAL, "ratio": None,
                             "segment": seg, "metric": metric.name, "value": mean,
                             "base": mean, "delta": 0.0,
                             "relative": 0.0, "ci_low": 0.0, "ci_high": 0.0,
                             "seed_sd": float(np.nanstd(vals, ddof=1)) if len(vals) > 1
                             else float("nan"), "n_units": int(mask.sum()),
                             "n_seeds": len(vals), "higher_is_better":
                             metric.higher_is_better, "verdict": "reference",
                             "margin": None, "mde": None, "n_factor": None})
        chosen[model] = {}
        for arm in arms:
            options: list[float | None] = list(arm.ratios) or [None]
            for ratio in options:
                arm_runs = runs[(model, arm.name, ratio)]
                for metric in task.metrics:
                    for part, ref in (("validation", base_val), ("test", base_test)):
                        value = _mean_point(metric, [r[part] for r in arm_runs])
                        reference = _mean_point(metric, ref)
                        curves.append({"model": model, "arm": arm.name, "ratio": ratio,
                                       "part": part, "metric": metric.name, "value": value,
                                       "delta": value - reference})
            best = pick(model, arm.name, options)
            chosen[model][arm.name] = best
            arm_test = [r["test"] for r in runs[(model, arm.name, best)]]
            for seg, mask in split.segments_test.items():
                if seg not in weights:
                    continue
                for metric in task.metrics:
                    res = paired_bootstrap(metric, arm_test, base_test, weights=weights[seg],
                                           mask=mask, alpha=cfg.alpha, seeds=seeds_w,
                                           margin=cfg.margins.get(metric.name))
                    rows.append({"model": model, "arm": arm.name, "family": arm.family,
                                 "ratio": best, "segment": seg, "metric": metric.name,
                                 **res})
    # Many arms x segments are compared: say which primary-metric verdicts survive Holm's
    # correction for the whole family (the per-row verdict is the uncorrected 95% CI rule).
    family = [r for r in rows if r["metric"] == primary.name and r["arm"] != REAL]
    for r, rejected in zip(family, holm([r["p_value"] for r in family], cfg.alpha),
                           strict=True):
        r["holm_significant"] = bool(rejected)
    compared = [r for r in rows if r["arm"] != REAL]
    open_rows = [r for r in compared if r["verdict"] == INCONCLUSIVE]
    verdicts = {v: sum(r["verdict"] == v for r in compared) for v in VERDICTS}
    factors = [r["n_factor"] for r in open_rows if r.get("n_factor") is not None
               and np.isfinite(r["n_factor"])]
    eff = None
    if len(cfg.fractions) > 1 and "all" in weights:
        eff = efficiency(primary, list(cfg.models or ()), arms, cfg.fractions, REAL, runs,
                         pick, weights=weights["all"], seeds=seeds_w, alpha=cfg.alpha,
                         margin=cfg.margins.get(primary.name), train_rows=train_rows or {})
    helps = [{k: r.get(k) for k in ("model", "arm", "ratio", "segment", "metric", "delta",
                                    "ci_low", "ci_high", "holm_significant")}
             for r in rows if r["verdict"] == HELPS]
    return {
        "task": task.name, "dataset": task.dataset, "unit": task.unit,
        "primary_metric": task.primary, "config": cfg.to_dict(),
        "cross_fits": bool(task.supports_folds),
        "provisional": cfg.provisional, "split": split.info,
        "arms": [{"name": a.name, "family": a.family, "ratios": list(a.ratios),
                  "label": a.label or a.name} for a in arms],
        "metrics": [{"name": m.name, "label": m.label, "higher_is_better": m.higher_is_better}
                    for m in task.metrics],
        "segments": {s: int(m.sum()) for s, m in split.segments_test.items()},
        "chosen_ratio": chosen, "rows": rows, "curves": curves, "recommended": helps,
        "family_size": len(family), "margins": dict(cfg.margins),
        "verdicts": {**verdicts, "compared": len(compared),
                     "inconclusive_median_n_factor": float(np.median(factors))
                     if factors else None,
                     "n_seeds": len(cfg.seeds or ()), "n_test_units": len(split.units_test)},
        "efficiency": eff,
    }


__all__ = ["REAL", "analyse"]
