"""`genlift train | evaluate pricing` and `genlift price portfolio`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.cli.common import (
    Groups,
    add_model,
    add_n_samples,
    emit,
    emit_summary,
    open_store,
    table,
)

OBJECTIVES = ("gamma", "tweedie")


def cmd_train_pricing(args: argparse.Namespace) -> Any:
    from serving.jobs.pricing import train_pricing
    with open_store(args, read_only=False) as store:
        summary = train_pricing(store, args.out, objective=args.objective,
                                tweedie_power=args.tweedie_power, loading=args.loading,
                                champion=args.champion, cv_repeats=args.cv_repeats,
                                cv_folds=args.cv_folds, seed=args.seed)
    return emit_summary(args, summary)


def evaluation_text(result: dict[str, Any]) -> str:
    """The tables `genlift evaluate pricing` prints."""
    from serving.reports.pricing import CV_HEADER, cv_rows
    cfg = result["config"]
    test = result["test"]
    d = result["gini_delta"]
    t = result["target"]
    test_rows = [(m, s["gini"], s["normalized_gini"], s["deviance"], s["mean_ratio"])
                 for m, s in test.items()]
    lines = [
        f"repeated CV {cfg['repeats']} x {cfg['folds']} on {cfg['n_train']} policies "
        f"(run {result['run_id']}); mean [95% CI, corrected for overlapping folds]",
        table(cv_rows(result["cv"]), CV_HEADER),
        f"champion (higher CV Gini): {result['champion']}",
        "",
        f"held-out test ({cfg['n_test']} policies, deviance power "
        f"{cfg['deviance_power']:g})",
        table(test_rows, ["model", "gini", "normalized_gini", "deviance",
                          "actual/expected"]),
        f"Gini gbm - glm on test: {d['delta']:+.4f} [95% paired bootstrap "
        f"{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]",
        f"target (champion CV Gini >= GLM's): {'met' if t['met'] else 'not met'} "
        f"({t['champion_cv_gini']:.4f} vs {t['glm_cv_gini']:.4f})"]
    if result.get("html"):
        lines.append(f"report: {result['html']}")
    return "\n".join(lines)


def cmd_evaluate_pricing(args: argparse.Namespace) -> Any:
    from serving.jobs.pricing import evaluate_pricing
    with open_store(args, read_only=False) as store:
        result = evaluate_pricing(store, repeats=args.repeats, folds=args.folds,
                                  seed=args.seed, test_fraction=args.test_fraction,
                                  objective=args.objective,
                                  tweedie_power=args.tweedie_power, out=args.out)
    emit(args, result, evaluation_text(result))
    return result


def cmd_price_portfolio(args: argparse.Namespace) -> Any:
    from serving.jobs.pricing import price_portfolio
    with open_store(args, read_only=False) as store:
        result = price_portfolio(store, args.model, args.out, conditions=args.condition or [],
                                 mix=args.mix, n=args.n_samples, loading=args.loading,
                                 generator=args.generator, generator_dir=args.generator_dir,
                                 epochs=args.epochs, n_books=args.books, seed=args.seed)
    keys = ("policies", "mean_premium", "mean_charges", "loss_ratio", "loss_ratio_p5",
            "loss_ratio_p95")
    rows = [(name, *(s[k] for k in keys)) for name, s in result["books"].items()]
    text = (f"simulated portfolio: {', '.join(result['config']['conditions']) or ''}"
            f"{' mix ' + result['config']['mix'] if result['config']['mix'] else ''} "
            f"(champion {result['config']['champion']}, loading "
            f"{result['config']['loading']:g})\n"
            + table(rows, ["book", *keys])
            + f"\nloss ratio change vs the real book: {result['loss_ratio_change']:+.4f} "
              f"(control, no shift: {result['control_loss_ratio_gap']:+.4f})"
            + f"\nreport: {result['html']}")
    emit(args, result, text)
    return result


def _objective_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objective", choices=OBJECTIVES, default="gamma",
                   help="gamma (claim costs > 0) or tweedie (zeros allowed)")
    p.add_argument("--tweedie-power", type=float, default=1.5,
                   help="tweedie: the variance power, in (1, 2) (default 1.5)")


def register(g: Groups) -> None:
    p = g.train.add_parser("pricing", parents=[g.common], help="train the cost models",
                           description="Fit the LightGBM (monotone in age and smoker) and "
                           "the statsmodels GLM expected-cost models on the store's "
                           "policies; relativities, premiums and the champion by CV Gini.")
    _objective_arguments(p)
    p.add_argument("--loading", type=float, default=1.25,
                   help="premium = expected cost x loading (>= 1; default 1.25)")
    p.add_argument("--champion", choices=("auto", "gbm", "glm"), default="auto",
                   help="auto: the higher Gini in repeated CV")
    p.add_argument("--cv-repeats", type=int, default=2,
                   help="repeats of the CV that picks the champion (default 2)")
    p.add_argument("--cv-folds", type=int, default=5, help="folds of that CV (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, type=Path, help="model folder")
    p.set_defaults(func=cmd_train_pricing)

    p = g.evaluate.add_parser("pricing", parents=[g.common], help="GBM vs GLM cost models",
                              description="Repeated CV on a training part (champion = "
                              "higher CV Gini), then Gini, deviance, double lift and "
                              "calibration by decile on held-out policies.")
    p.add_argument("--repeats", type=int, default=5, help="repeats of the CV (default 5)")
    p.add_argument("--folds", type=int, default=5, help="folds per repeat (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of the policies held out for the test (default 0.2)")
    _objective_arguments(p)
    p.add_argument("--out", type=Path, default=None,
                   help="folder for evaluation.html and evaluation.json")
    p.set_defaults(func=cmd_evaluate_pricing)

    price = g.sub.add_parser("price", parents=[g.common], help="price a portfolio")
    sub = price.add_subparsers(dest="price_command", metavar="JOB", required=True)
    p = sub.add_parser("portfolio", parents=[g.common], help="price a simulated book",
                       description="Simulate a shifted book with a tabular generator "
                       "fitted on the policies and price it with the champion of `train "
                       "pricing`: premium and loss-ratio distribution vs the real book.")
    add_model(p, "train pricing")
    p.add_argument("--condition", action="append", metavar="COLUMN OP VALUE",
                   help="smoker=yes, age>=50, region!=southeast (repeatable)")
    p.add_argument("--mix", default=None, metavar="COLUMN=LEVEL:SHARE,...",
                   help="e.g. region=southeast:0.5,northwest:0.5")
    add_n_samples(p, "policies in the simulated book (default: as many as the real one)")
    p.add_argument("--loading", type=float, default=None,
                   help="default: the loading of `train pricing`")
    p.add_argument("--generator", choices=("copula", "vae", "gan", "diffusion"),
                   default="copula", help="tabular generator fitted on the policies")
    p.add_argument("--generator-dir", type=Path, default=None,
                   help="use a `genlift augment fit --table policies` folder instead")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs of a neural generator (default: its own)")
    p.add_argument("--books", type=int, default=1000, help="bootstrap books (>= 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, type=Path, help="report folder")
    p.set_defaults(func=cmd_price_portfolio)
