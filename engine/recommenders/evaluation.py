"""Recommender evaluation protocols and tuning.

Protocol ``msr`` is the public benchmark protocol of the Microsoft Recommenders ML-100k
table: a random 75/25 split stratified per user (seed 42), every rating counts as an
interaction, top-10 with seen items removed. Protocol ``temporal`` leaves each user's
last interactions out, closer to production. Tuning always happens on a validation split
carved out of the training part; the test part is only read once, at the end.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.recommenders import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
)
from engine.recommenders.metrics import (
    cold_user_segment,
    per_user_metrics,
    ranking_metrics,
    segment_metrics,
)
from engine.recommenders.splits import msr_split, temporal_split, validation_split
from features.errors import DataValidationError
from features.matrix import InteractionMatrix, build_user_items

logger = logging.getLogger(__name__)

MODELS: dict[str, type[Recommender]] = {
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "ease": EASERecommender,
    "itemknn": ItemKNNRecommender,
    "popularity": PopularityRecommender,
}

# Small grids: a few fits each on ML-100k-sized data.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "als": {"factors": [16, 32, 64], "regularization": [0.1, 1.0, 10.0],
            "alpha": [1.0, 5.0, 20.0], "iterations": [15]},
    "bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05],
            "regularization": [0.001, 0.01], "iterations": [100, 200]},
    # EASE fits in well under a second on ML-100k: 25 log-spaced lambdas, 20 .. 3000.
    "ease": {"regularization": [float(v) for v in np.round(np.geomspace(20, 3000, 25))]},
    "itemknn": {"k": [20, 50, 100, 200], "similarity": ["cosine", "bm25", "tfidf"]},
    "popularity": {},
}

# The published ML-100k figures of the Microsoft Recommenders benchmark table (top 10).
PUBLISHED_MSR = {
    "BPR (MS Recommenders)": {"map": 0.132, "ndcg": 0.442, "precision": 0.388,
                              "recall": 0.213},
    "BiVAE (MS Recommenders)": {"map": 0.146, "ndcg": 0.475, "precision": 0.412,
                                "recall": 0.219},
}


@dataclass(frozen=True)
class EvalConfig:
    """One `genlift evaluate recs` run."""

    protocol: str = "msr"
    models: tuple[str, ...] = tuple(MODELS)
    k: int = 10
    tune: bool = False
    seed: int = 42
    cold_threshold: int = 20  # users with fewer training interactions are "cold"
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def make_model(name: str, seed: int, **params: Any) -> Recommender:
    if name not in MODELS:
        raise DataValidationError(f"unknown recommender {name!r}",
                                  fix=f"use one of {', '.join(MODELS)}")
    klass = MODELS[name]
    if "random_state" in klass.__init__.__code__.co_varnames:
        params = {"random_state": seed, **params}
    return klass(**params)


def split(interactions: pd.DataFrame, protocol: str, seed: int = 42
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    if protocol == "msr":
        return msr_split(interactions, ratio=0.75, seed=seed)
    if protocol == "temporal":
        return temporal_split(interactions, n_last=5)
    raise DataValidationError(f"unknown protocol {protocol!r}", fix="use msr or temporal")


def evaluate_model(model: Recommender, train: InteractionMatrix, test: pd.DataFrame,
                   *, k: int = 10) -> tuple[dict[str, float], pd.DataFrame]:
    """Top-``k`` metrics of a fitted model on the test users it knows (seen items out)."""
    users = np.intersect1d(test["user_id"].astype(str).unique(), train.user_ids)
    truth = test.assign(user_id=test["user_id"].astype(str), item_id=test["item_id"].astype(str))
    relevant_by_user = truth.groupby("user_id")["item_id"].agg(set)
    relevant = [relevant_by_user.get(u, set()) for u in users]
    recs, _ = model.recommend(users, n=k, exclude_seen=True)
    summary = ranking_metrics(recs, relevant, k=k, n_items=len(train.item_ids))
    per_user = per_user_metrics(recs, relevant, k=k)
    per_user.index = pd.Index(users, name="user_id")
    return summary, per_user


def tune(name: str, train: pd.DataFrame, *, k: int = 10, seed: int = 42,
         grid: Mapping[str, Sequence[Any]] | None = None, max_trials: int = 30
         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Best parameters by NDCG@k on a validation split of ``train`` (test never read)."""
    grid = GRIDS[name] if grid is None else grid
    fit_part, val_part = validation_split(train, fraction=0.25, seed=seed)
    matrix = build_user_items(fit_part)
    combos = [dict(zip(grid, values, strict=True))
              for values in itertools.product(*grid.values())] or [{}]
    if len(combos) > max_trials:
        rng = np.random.default_rng(seed)
        combos = [combos[i] for i in np.sort(rng.choice(len(combos), max_trials,
                                                        replace=False))]
    trials: list[dict[str, Any]] = []
    for params in combos:
        start = time.perf_counter()
        model = make_model(name, seed, **params).fit(matrix)
        summary, _ = evaluate_model(model, matrix, val_part, k=k)
        trials.append({"params": params, "ndcg": summary["ndcg"],
                       "seconds": round(time.perf_counter() - start, 2)})
        logger.info("tune %s %s: ndcg@%d %.4f", name, params, k, summary["ndcg"])
    best = max(trials, key=lambda t: float(t["ndcg"]))
    return dict(best["params"]), trials


def run_evaluation(interactions: pd.DataFrame, cfg: EvalConfig) -> dict[str, Any]:
    """Split once, (optionally) tune each model on validation, fit on train, test once."""
    train, test = split(interactions, cfg.protocol, seed=cfg.seed)
    matrix = build_user_items(train)
    results: dict[str, Any] = {}
    for name in cfg.models:
        params = dict(cfg.params.get(name, {}))
        trials: list[dict[str, Any]] = []
        if cfg.tune and GRIDS.get(name):
            params, trials = tune(name, train, k=cfg.k, seed=cfg.seed)
        start = time.perf_counter()
        model = make_model(name, cfg.seed, **params).fit(matrix)
        fit_s = time.perf_counter() - start
        summary, per_user = evaluate_model(model, matrix, test, k=cfg.k)
        segments = segment_metrics(per_user, cold_user_segment(
            train, per_user.index.to_numpy(), threshold=cfg.cold_threshold))
        results[name] = {**summary, "params": params, "fit_seconds": round(fit_s, 3),
                         "segments": json.loads(segments.to_json(orient="index")),
                         "tuning_trials": trials}
    return {"protocol": cfg.protocol, "k": cfg.k, "train_rows": len(train),
            "test_rows": len(test), "models": results,
            "published": PUBLISHED_MSR if cfg.protocol == "msr" else {}}
