"""K-fold cross-fitting of the lift experiment.

With ``folds`` = K > 1, every repeat (one per seed) partitions the real units into K
folds; fold ``k`` is tested by models (and augmenters) fitted on the other folds only, so
each real unit is tested exactly once per repeat and german-credit's 1,000 applicants are
all test units instead of a 200-applicant test part. The K folds' per-unit outputs are
joined and put back in one canonical unit order (the units sorted), so that unit ``i``
is the same applicant in every repeat and every arm: the paired bootstrap then resamples
units (the same draw for every repeat and arm) and, through the seed weights, repeats.

Why units are resampled across the folds rather than within each fold: a unit sits in a
different fold in every repeat, so "within a fold" has no meaning shared by the repeats;
resampling the units jointly keeps the pairing across repeats and arms, which is what the
interval of a *difference* needs. Metrics of the joined outputs are pooled (a ranking
metric such as AUC is computed over all units' out-of-fold scores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from engine.lift.parts import LiftSplit
from engine.lift.stats import Units

FOLD_SEP = "#f"


def fold_key(key: str, fold: int, folds: int) -> str:
    """A piece's arm key for ``fold`` (the plain key without cross-fitting, so that a
    one-split run keeps its keys and checkpoints)."""
    return key if folds <= 1 else f"{key}{FOLD_SEP}{fold}"


def parse_fold_key(key: str) -> tuple[str, int]:
    """``(arm key, fold)`` of a piece's key (fold 0 without a fold suffix)."""
    base, sep, fold = key.rpartition(FOLD_SEP)
    if sep and fold.isdigit():
        return base, int(fold)
    return key, 0


def fold_indices(strata: np.ndarray, folds: int, seed: Sequence[int] | int) -> list[np.ndarray]:
    """Test row positions of each of ``folds`` stratified folds (one repeat: the
    partition depends on ``seed``); together they hold every row exactly once."""
    rng = np.random.default_rng(seed)
    strata = np.asarray(strata)
    _, codes = np.unique(strata, return_inverse=True)
    if np.bincount(codes).min() < folds:  # a class rarer than K: plain shuffled folds
        perm = rng.permutation(len(strata))
        return [np.sort(perm[k::folds]) for k in range(folds)]
    kfold = StratifiedKFold(folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    return [np.sort(test) for _, test in kfold.split(np.zeros(len(codes)), codes)]


def unit_order(splits: Sequence[LiftSplit]) -> tuple[np.ndarray, np.ndarray]:
    """The repeat's units in canonical (sorted) order and the permutation that takes the
    K folds' test outputs, joined in fold order, into that order. Raises when the folds'
    test parts are not a partition (a unit twice or a fold empty)."""
    joined = np.concatenate([np.asarray(s.units_test).astype(str) for s in splits])
    order = np.argsort(joined, kind="stable")
    units = joined[order]
    if len(units) > 1 and (units[1:] == units[:-1]).any():
        twice = units[1:][units[1:] == units[:-1]][:3]
        raise RuntimeError(f"cross-fitting: units {', '.join(twice)} are tested in more than "
                           "one fold")
    if any(len(s.units_test) == 0 for s in splits):
        raise RuntimeError("cross-fitting: a fold has no test units")
    return units, order


def join_outputs(outputs: Sequence[Units], order: np.ndarray | None) -> dict[str, np.ndarray]:
    """The folds' per-unit arrays joined (fold order), then permuted by ``order``."""
    keys = list(outputs[0])
    joined = {k: np.concatenate([np.asarray(o[k]) for o in outputs]) for k in keys}
    return joined if order is None else {k: v[order] for k, v in joined.items()}


def analysis_split(plans: Mapping[int, Sequence[LiftSplit]], folds: int
                   ) -> tuple[LiftSplit, dict[int, np.ndarray | None]]:
    """The split the analysis sees (all units in canonical order, their segments) and,
    per repeat, the permutation of its joined test outputs (``None`` without folds)."""
    seeds = list(plans)
    first = plans[seeds[0]]
    if folds <= 1:
        return first[0], {s: None for s in seeds}
    orders: dict[int, np.ndarray | None] = {}
    units: np.ndarray | None = None
    segments: dict[str, np.ndarray] = {}
    for seed in seeds:
        got, order = unit_order(plans[seed])
        if units is None:
            units = got
            names = list(first[0].segments_test)
            segments = {n: np.concatenate([s.segments_test[n] for s in first])[order]
                        for n in names}
        elif not np.array_equal(units, got):
            raise RuntimeError(f"cross-fitting: repeat {seed} tests other units than repeat "
                               f"{seeds[0]}")
        orders[seed] = order
    assert units is not None
    sizes = [len(s.units_test) for s in first]
    info: dict[str, Any] = {
        **{k: v for k, v in first[0].info.items() if k not in ("test", "validation")},
        "method": f"{folds}-fold cross-fitting x {len(seeds)} repeat(s) "
                  f"({first[0].info.get('method', '')}); every unit tested once per repeat",
        "folds": folds, "repeats": len(seeds), "test": int(len(units)),
        "test_per_fold": sizes,
        "validation_per_fold": [len(s.units_validation) for s in first],
        "train_per_fold": [s.info.get("train") for s in first],
    }
    val_units = np.concatenate([np.asarray(s.units_validation) for s in first])
    val_segments = {n: np.concatenate([s.segments_validation[n] for s in first])
                    for n in first[0].segments_validation}
    merged = replace(first[0], train=None, validation=None, test=None,
                     units_validation=val_units, units_test=units,
                     segments_validation=val_segments, segments_test=segments, info=info,
                     extra={})
    return merged, orders


__all__ = ["FOLD_SEP", "analysis_split", "fold_indices", "fold_key", "join_outputs",
           "parse_fold_key", "unit_order"]
