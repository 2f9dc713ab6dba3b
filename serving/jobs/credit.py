"""Jobs behind `genlift train | evaluate | score credit`: the PD model trained on the
store's applicants, its repeated cross-validation against the WOE scorecard, and batch
scoring of an applicants file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from engine.credit import CreditModel, cross_validate
from features.artifacts import write_json_atomic
from features.io import read_table_file, write_parquet_atomic
from features.store import Store
from serving.jobs.data import read_synthetic_table


def _applicants(store: Store, with_synthetic: bool
                ) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str]]:
    applicants = store.read("applicants")
    synthetic = None
    tables = ["applicants"]
    if with_synthetic:
        synthetic = read_synthetic_table(store, "synthetic_applicants", "tabular").drop(
            columns=["run_id", "generator"])
        tables.append("synthetic_applicants")
    return applicants, synthetic, tables


def train_credit(store: Store, out: str | Path, *, with_synthetic: bool = False,
                 synthetic_weight: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Fit a CreditModel on every applicant (plus synthetic ones when asked), save it in
    ``out/model`` with ``out/train.json``, and record the run."""
    out = Path(out)
    applicants, synthetic, tables = _applicants(store, with_synthetic)
    config = {"model": "credit", "with_synthetic": with_synthetic,
              "synthetic_weight": synthetic_weight, "seed": seed}
    run_id = store.start_run("train-credit", config, seed=seed, tables=tables)
    try:
        model = CreditModel(random_state=seed).fit(
            applicants, synthetic=synthetic, synthetic_weight=synthetic_weight)
        model.save(out / "model")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    summary = {"run_id": run_id, "applicants": len(applicants),
               "synthetic_applicants": 0 if synthetic is None else len(synthetic),
               "calibration": getattr(model, "calibration_", None), "out": str(out)}
    meta = {**config, **summary, "fingerprints": store.fingerprints(tables)}
    write_json_atomic(meta, out / "train.json")
    store.finish_run(run_id, metrics=summary)
    return summary


def evaluate_credit(store: Store, *, repeats: int = 5, folds: int = 5, seed: int = 0
                    ) -> dict[str, Any]:
    """Repeated stratified CV of the LightGBM PD model against the WOE logistic baseline
    on the store's applicants, recorded as a run: the summary and the paired comparisons
    (without the per-fold numbers)."""
    applicants = store.read("applicants")
    run_id = store.start_run("evaluate-credit", {"repeats": repeats, "folds": folds},
                             seed=seed, tables=["applicants"])
    result = cross_validate(applicants, repeats=repeats, folds=folds, seed=seed)
    store.finish_run(run_id, metrics={"summary": result["summary"],
                                      "paired": result["paired"]})
    return {"run_id": run_id, **{k: v for k, v in result.items() if k != "folds"}}


def score_credit(model_dir: str | Path, applicants: str | Path, out: str | Path
                 ) -> dict[str, Any]:
    """PD, score points and reason codes for the applicants file (CSV or parquet), written
    as parquet to ``out``; a row that cannot be scored gets an error text instead."""
    model = CreditModel.load(Path(model_dir) / "model")
    frame = read_table_file(applicants, "applicants")
    scores = model.score(frame)
    write_parquet_atomic(scores, out)
    bad = int((scores["error"] != "").sum())
    return {"out": str(out), "rows": len(scores), "scored": len(scores) - bad,
            "rows_with_errors": bad}


__all__ = ["evaluate_credit", "score_credit", "train_credit"]
