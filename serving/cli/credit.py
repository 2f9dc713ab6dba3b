"""`genlift train | evaluate | score credit`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.cli.common import (
    Groups,
    add_algorithm,
    add_model,
    add_train_arguments,
    emit,
    emit_summary,
    open_store,
    summary_text,
    table,
)

MODELS = ("auto", "lightgbm", "scorecard")  # engine.credit.CHOICES, without its import cost

CREDIT_METRICS = ("auc", "ks", "brier", "pr_auc", "recall_at_fpr")


def _cell(iv: dict[str, float]) -> str:
    return f"{iv['mean']:.4f} [{iv['ci_low']:.4f}, {iv['ci_high']:.4f}]"


def cmd_train_credit(args: argparse.Namespace) -> Any:
    from serving.jobs.credit import train_credit
    with open_store(args, read_only=False) as store:
        summary = train_credit(store, args.out, model=args.model,
                               with_synthetic=args.with_synthetic,
                               synthetic_weight=args.synthetic_weight, seed=args.seed,
                               cv_repeats=args.cv_repeats, cv_folds=args.cv_folds)
    cv = summary["cv"]
    rows = [(name, _cell(c["cv_auc"]), _cell(c["cv_brier"]),
             "champion" if name == summary["champion"] else "")
            for name, c in summary["candidates"].items()]
    head = {k: summary[k] for k in ("run_id", "applicants", "synthetic_applicants",
                                    "champion", "calibration", "out")}
    emit(args, summary, summary_text(head) + f"\nreason: {summary['reason']}\n\n"
         f"candidates, {cv['repeats']} x {cv['folds']} repeated stratified CV; mean "
         "[95% CI, corrected for overlapping folds]\n"
         + table(rows, ["model", "cv auc", "cv brier", ""])
         + (f"\n\nscorecard table: {summary['scorecard_table']}"
            if summary["scorecard_table"] else ""))
    return summary


def cmd_evaluate_credit(args: argparse.Namespace) -> Any:
    from serving.jobs.credit import evaluate_credit
    with open_store(args, read_only=False) as store:
        result = evaluate_credit(store, repeats=args.repeats, folds=args.folds,
                                 seed=args.seed)
    run_id = result["run_id"]
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
    from serving.jobs.credit import score_credit
    summary = score_credit(args.model, args.input, args.out)
    return emit_summary(args, summary)


def register(g: Groups) -> None:
    p = g.train.add_parser("credit", parents=[g.common], help="train the PD model",
                           description="Train the credit champion on the store's "
                           "applicants: a tuned LightGBM PD model (monotone constraints, "
                           "calibration) or a points scorecard (monotone WOE bins, PDO "
                           "points), chosen by repeated-CV AUC; the scorecard is kept "
                           "unless LightGBM is significantly better.")
    add_algorithm(p, MODELS, "auto", "auto: compare both and keep the champion (default); "
                                     "lightgbm or scorecard: fit that one")
    p.add_argument("--cv-repeats", type=int, default=2,
                   help="repeats of the stratified CV that compares the candidates "
                        "(default 2)")
    p.add_argument("--cv-folds", type=int, default=5,
                   help="folds of that CV (default 5)")
    p.add_argument("--with-synthetic", action="store_true",
                   help="add synthetic_applicants as extra weighted training rows "
                        "(final fit only; the comparison runs on real rows)")
    add_train_arguments(p, seed=0)
    p.set_defaults(func=cmd_train_credit)

    p = g.evaluate.add_parser("credit", parents=[g.common], help="cross-validate PD models",
                              description="Repeated stratified CV of LightGBM against the "
                              "WOE logistic baseline on the same folds, with paired CIs.")
    p.add_argument("--repeats", type=int, default=5,
                   help="repeats of the stratified CV (default 5)")
    p.add_argument("--folds", type=int, default=5, help="folds per repeat (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_evaluate_credit)

    p = g.score.add_parser("credit", parents=[g.common], help="score applicants",
                           description="PD, score points and reason codes per applicant; "
                           "rows that cannot be scored get an error text instead.")
    add_model(p, "train credit")
    p.add_argument("--in", dest="input", required=True, type=Path,
                   help="applicants as CSV or parquet")
    p.add_argument("--out", required=True, type=Path, help="parquet file to write")
    p.set_defaults(func=cmd_score_credit)
