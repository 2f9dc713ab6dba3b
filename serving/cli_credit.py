"""`genlift train | evaluate | score credit`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.credit import CreditModel, cross_validate
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.io import read_table_file, write_parquet_atomic
from features.store import Store
from serving.cli_common import Groups, emit, table

CREDIT_METRICS = ("auc", "ks", "brier", "pr_auc", "recall_at_fpr")


def _applicants(store: Store, with_synthetic: bool) -> tuple[Any, Any, list[str]]:
    applicants = store.read("applicants")
    synthetic = None
    tables = ["applicants"]
    if with_synthetic:
        if not store.has("synthetic_applicants"):
            raise DataValidationError(
                "--with-synthetic: the store has no synthetic_applicants",
                fix="run `genlift augment fit tabular ...` and `genlift augment sample DIR "
                    "-n N --to-store` first")
        synthetic = store.read("synthetic_applicants").drop(columns=["run_id", "generator"])
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


def cmd_train_credit(args: argparse.Namespace) -> Any:
    with Store(args.db) as store:
        summary = train_credit(store, args.out, with_synthetic=args.with_synthetic,
                               synthetic_weight=args.synthetic_weight, seed=args.seed)
    emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


def cmd_evaluate_credit(args: argparse.Namespace) -> Any:
    with Store(args.db) as store:
        applicants = store.read("applicants")
        run_id = store.start_run("evaluate-credit", {"repeats": args.repeats,
                                                     "folds": args.folds}, seed=args.seed,
                                 tables=["applicants"])
        result = cross_validate(applicants, repeats=args.repeats, folds=args.folds,
                                seed=args.seed)
        store.finish_run(run_id, metrics={"summary": result["summary"],
                                          "paired": result["paired"]})
    result = {"run_id": run_id, **{k: v for k, v in result.items() if k != "folds"}}
    rows = [(model, *(f"{s[m]['mean']:.4f} [{s[m]['ci_low']:.3f}, {s[m]['ci_high']:.3f}]"
                      for m in CREDIT_METRICS))
            for model, s in result["summary"].items()]
    for name, p in result["paired"].items():
        rows.append((name, *(f"{p[m]['mean']:+.4f} ({p[m]['verdict']})"
                             for m in CREDIT_METRICS)))
    emit(args, result, f"repeated stratified CV {args.repeats} x {args.folds} "
         f"(run {run_id}); mean [95% CI, corrected for overlapping folds]\n"
         + table(rows, ["model", *CREDIT_METRICS]))
    return result


def cmd_score_credit(args: argparse.Namespace) -> Any:
    model = CreditModel.load(Path(args.model) / "model")
    frame = read_table_file(args.input, "applicants")
    scores = model.score(frame)
    write_parquet_atomic(scores, args.out)
    bad = int((scores["error"] != "").sum())
    summary = {"out": str(args.out), "rows": len(scores), "scored": len(scores) - bad,
               "rows_with_errors": bad}
    emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


def register(g: Groups) -> None:
    p = g.train.add_parser("credit", parents=[g.common], help="train the PD model",
                           description="Train the LightGBM PD model (monotone constraints, "
                           "calibration) on the store's applicants.")
    p.add_argument("--with-synthetic", action="store_true",
                   help="add synthetic_applicants as extra weighted training rows")
    p.add_argument("--synthetic-weight", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="model folder")
    p.set_defaults(func=cmd_train_credit)

    p = g.evaluate.add_parser("credit", parents=[g.common], help="cross-validate PD models",
                              description="Repeated stratified CV of LightGBM against the "
                              "WOE logistic baseline on the same folds, with paired CIs.")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_evaluate_credit)

    p = g.score.add_parser("credit", parents=[g.common], help="score applicants",
                           description="PD, score points and reason codes per applicant; "
                           "rows that cannot be scored get an error text instead.")
    p.add_argument("--model", required=True, type=Path, help="folder of `train credit`")
    p.add_argument("--in", dest="input", required=True, type=Path,
                   help="applicants as CSV or parquet")
    p.add_argument("--out", required=True, type=Path, help="parquet file to write")
    p.set_defaults(func=cmd_score_credit)
