"""Jobs behind `genlift train | evaluate | score credit`: the champion PD model (tuned
LightGBM or points scorecard) trained on the store's applicants, repeated cross-validation
against the WOE baseline, and batch scoring of an applicants file with whichever model
was saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from engine.credit import Scorecard, cross_validate, load_credit_model, select_champion
from features.artifacts import write_json_atomic
from features.io import read_table_file, write_parquet_atomic
from features.store import Store
from serving.jobs.data import read_synthetic_table
from serving.jobs.model_folders import check_model_folder


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


SCORECARD_TABLE = "scorecard.csv"


def train_credit(store: Store, out: str | Path, *, model: str = "auto",
                 with_synthetic: bool = False, synthetic_weight: float = 1.0, seed: int = 0,
                 cv_repeats: int = 2, cv_folds: int = 5) -> dict[str, Any]:
    """Fit the credit champion on every applicant (plus synthetic ones when asked), save
    it in ``out/model`` with ``out/train.json`` (and the points table in
    ``out/scorecard.csv`` when the scorecard wins), and record the run.

    ``model`` is "auto" (tuned LightGBM vs scorecard by ``cv_repeats`` x ``cv_folds``
    CV AUC; the scorecard unless LightGBM is significantly better), "lightgbm" or
    "scorecard" (see :func:`engine.credit.select_champion`). The summary carries both
    candidates' CV AUC and Brier with 95% intervals, the choice and the reason.
    """
    out = Path(out)
    applicants, synthetic, tables = _applicants(store, with_synthetic)
    config = {"model": model, "with_synthetic": with_synthetic,
              "synthetic_weight": synthetic_weight, "seed": seed, "cv_repeats": cv_repeats,
              "cv_folds": cv_folds}
    run_id = store.start_run("train-credit", config, seed=seed, tables=tables)
    try:
        fitted, report = select_champion(applicants, model=model, repeats=cv_repeats,
                                         folds=cv_folds, seed=seed, synthetic=synthetic,
                                         synthetic_weight=synthetic_weight)
        fitted.save(out / "model")
        table_path = out / SCORECARD_TABLE
        if isinstance(fitted, Scorecard):
            tmp = table_path.with_name(f".{table_path.name}.tmp")
            fitted.table().to_csv(tmp, index=False)
            tmp.replace(table_path)
        else:
            table_path.unlink(missing_ok=True)  # a table of an earlier champion would lie
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    candidates = {name: {"cv_auc": report[name]["cv_auc"],
                         "cv_brier": report[name]["cv_brier"],
                         "params": dict(report[name]["params"])}
                  for name in ("lightgbm", "scorecard") if name in report}
    summary = {"run_id": run_id, "applicants": len(applicants),
               "synthetic_applicants": 0 if synthetic is None else len(synthetic),
               "champion": report["champion"], "model_class": type(fitted).__name__,
               "reason": report["reason"], "candidates": candidates,
               "paired_auc": report.get("paired_auc"),
               "cv": report["cv"], "calibration": getattr(fitted, "calibration_", None),
               "scorecard_table": str(out / SCORECARD_TABLE)
               if isinstance(fitted, Scorecard) else None,
               "out": str(out)}
    meta = {**config, **summary, "selection": report,
            "fingerprints": store.fingerprints(tables)}
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
    as parquet to ``out``, by the saved champion (LightGBM or scorecard); a row that
    cannot be scored gets an error text instead."""
    model = load_credit_model(check_model_folder(model_dir, "credit", "score credit")
                              / "model")
    frame = read_table_file(applicants, "applicants")
    scores = model.score(frame)
    write_parquet_atomic(scores, out)
    bad = int((scores["error"] != "").sum())
    return {"out": str(out), "rows": len(scores), "scored": len(scores) - bad,
            "rows_with_errors": bad}


__all__ = ["evaluate_credit", "score_credit", "train_credit"]
