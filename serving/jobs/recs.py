"""Jobs behind `genlift train recs` and `genlift evaluate recs`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.recommenders.evaluation import EvalConfig, make_model, run_evaluation, tune
from features.artifacts import write_json_atomic
from features.matrix import build_user_items
from features.store import Store
from serving.jobs.data import read_synthetic_table

logger = logging.getLogger(__name__)


def train(store: Store, out: str | Path, *, model: str = "als", tune_params: bool = False,
          params: Mapping[str, Any] | None = None, with_synthetic: bool = False,
          synthetic_weight: float = 1.0, seed: int = 42, show_progress: bool | None = None
          ) -> dict[str, Any]:
    """Fit a recommender on every interaction in the store (each counts once per user and
    item, whatever its value) and save it with ``train.json`` under ``out``.

    ``params`` are the model's parameters; ``tune_params`` picks them on a validation
    split instead."""
    out = Path(out)
    interactions = store.read("interactions")
    matrix = build_user_items(interactions, weight="count")
    synthetic = None
    tables = ["interactions"]
    if with_synthetic:
        synthetic = build_user_items(
            read_synthetic_table(store, "synthetic_interactions", "baskets"),
            item_ids=matrix.item_ids)
        tables.append("synthetic_interactions")
    chosen: dict[str, Any] = dict(params or {})
    trials: list[dict[str, Any]] = []
    if tune_params:
        chosen, trials = tune(model, interactions, seed=seed)
    config = {"model": model, "params": chosen, "tuned": tune_params,
              "with_synthetic": with_synthetic, "synthetic_weight": synthetic_weight,
              "seed": seed}
    run_id = store.start_run("train-recs", config, seed=seed, tables=tables)
    try:
        rec = make_model(model, seed, **chosen).fit(
            matrix, synthetic=synthetic, synthetic_weight=synthetic_weight,
            show_progress=bool(show_progress))
        rec.save(out / "model")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    summary = {"run_id": run_id, "model": model, "params": chosen, "users": matrix.shape[0],
               "items": matrix.shape[1], "interactions": int(matrix.matrix.nnz),
               "synthetic_users": 0 if synthetic is None else synthetic.shape[0],
               "tuning_trials": trials, "out": str(out)}
    meta = {**config, **summary, "fingerprints": store.fingerprints(tables)}
    write_json_atomic(meta, out / "train.json")
    store.finish_run(run_id, metrics={k: v for k, v in summary.items()
                                      if k != "tuning_trials"})
    return summary


def evaluate(store: Store, cfg: EvalConfig) -> dict[str, Any]:
    """Run a protocol on the store's interactions and record it as a run."""
    run_id = store.start_run("evaluate-recs", {"protocol": cfg.protocol,
                                               "models": list(cfg.models), "k": cfg.k,
                                               "tune": cfg.tune}, seed=cfg.seed,
                             tables=["interactions"])
    try:
        result = run_evaluation(store.read("interactions"), cfg)
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    store.finish_run(run_id, metrics={m: {k: v for k, v in r.items() if k != "tuning_trials"}
                                      for m, r in result["models"].items()})
    return {"run_id": run_id, **result}
