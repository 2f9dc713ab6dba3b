"""`genlift demo`: the main job end to end on the real datasets (fetch, features,
generators, recommendations, credit and demand, inventory plan, backtest, insurance
pricing and reserves, lift), recorded as one run."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from engine.credit import cross_validate
from engine.demand import DemandModel, backtest
from engine.inventory import plan
from engine.lift import LiftConfig
from engine.recommenders.evaluation import EvalConfig
from features.datasets import DEMO_DATASETS
from features.store import Store
from serving.jobs.augment import FitConfig
from serving.jobs.augment import fit as fit_generator
from serving.jobs.augment import report as generator_report
from serving.jobs.backtest import BacktestConfig
from serving.jobs.backtest import run as run_backtest
from serving.jobs.credit import train_credit
from serving.jobs.data import BUILDERS, build_features, fetch_datasets, tqdm_disable
from serving.jobs.demand import default_future, train_demand
from serving.jobs.inventory_backtest import InventoryBacktestConfig, run_inventory_backtest
from serving.jobs.lift import run_all
from serving.jobs.pricing import evaluate_pricing, price_portfolio, train_pricing
from serving.jobs.recs import evaluate as evaluate_recs
from serving.jobs.recs import train as train_recs
from serving.jobs.reserve import ReserveConfig, run_reserve, run_reserve_backtest
from serving.jobs.scoring import score_recommend, to_store
from serving.reports.inventory import write_plan_report
from serving.reports.lift import design_note, summary_rows

logger = logging.getLogger(__name__)


# The demo's generators: (kind, table, generator, extra fit settings, scores to show).
DEMO_GENERATORS: list[tuple[str, str, str, dict[str, Any], tuple[str, ...]]] = [
    ("tabular", "applicants", "copula", {}, ("quality", "detection_auc", "membership_auc")),
    ("tabular", "applicants", "vae", {"epochs": 150},
     ("quality", "detection_auc", "membership_auc")),
    ("tabular", "applicants", "diffusion", {},
     ("quality", "detection_auc", "membership_auc")),
    ("baskets", "interactions", "vae",
     {"epochs": 30, "params": {"profile_columns": ["age", "gender", "occupation"]}},
     ("popularity_spearman", "pmi_pearson", "coverage_synthetic")),
    ("paths", "prices", "bootstrap", {"train_end": "2015-12-31"},
     ("wasserstein_1d", "acf_error_abs", "novel_share")),
    ("paths", "prices", "garch", {"train_end": "2015-12-31"},
     ("wasserstein_1d", "acf_error_abs", "novel_share")),
]


def demo_augment(store: Store, out_dir: Path, *, show_progress: bool | None = None
                 ) -> list[dict[str, Any]]:
    """Fit each demo generator on the training part of its table, score it against the
    held-out part and write its HTML report under ``out_dir``."""
    rows = []
    for kind, table, name, extra, keys in tqdm(DEMO_GENERATORS, desc="generators",
                                              unit="model",
                                              disable=tqdm_disable(show_progress)):
        folder = out_dir / f"{table}-{name}"
        cfg = FitConfig(kind=kind, table=table, generator=name, seed=0,
                        epochs=extra.get("epochs"), train_end=extra.get("train_end"),
                        params=extra.get("params", {}))
        summary = fit_generator(store, cfg, folder / "model")
        result = generator_report(store, folder / "model", folder / "report.html", seed=0)
        rows.append({"kind": kind, "table": table, "generator": name,
                     "fit_seconds": summary["fit_seconds"],
                     "scores": {k: result["scorecard"].get(k) for k in keys},
                     "report": result["report"]})
    return rows


def demo_recommend(store: Store, out_dir: Path, *, show_progress: bool | None = None
                   ) -> dict[str, Any]:
    """Protocol-1 evaluation (tuned on validation) beside the published table, then the
    model with the best validation NDCG (never the test's) trained on every interaction
    with its tuned parameters, and top-10 written for every user."""
    result = evaluate_recs(store, EvalConfig(protocol="msr", tune=True))
    validation = {name: max(float(t["ndcg"]) for t in r["tuning_trials"])
                  for name, r in result["models"].items() if r["tuning_trials"]}
    best = max(validation, key=lambda name: validation[name])
    params = result["models"][best]["params"]
    model_dir = out_dir / "models" / "recs"  # `genlift serve --models <reports>/models`
    summary = train_recs(store, model_dir, model=best, params=params, seed=42,
                         show_progress=show_progress)
    # The demo owns this folder: a new model run replaces the previous output whole.
    shutil.rmtree(out_dir / "recommendations", ignore_errors=True)
    scored = score_recommend(store, model_dir, out_dir / "recommendations", top_k=10,
                             show_progress=show_progress)
    rows = to_store(store, out_dir / "recommendations", "recommendations")
    return {"evaluation": result, "model": best, "params": params,
            "validation_ndcg": validation, "train_run": summary["run_id"],
            "scored_users": scored["users"], "store_rows": rows,
            "out": str(out_dir / "recommendations")}


# Demo-sized demand models: fewer trees and quantiles than the defaults (see bench_demand).
DEMO_DEMAND: dict[str, Any] = {"n_estimators": 100, "learning_rate": 0.1,
                               "quantiles": (0.1, 0.5, 0.9)}


def demo_forecasting(store: Store, out_dir: Path) -> dict[str, Any]:
    """Credit CV table, demand backtest table, and an inventory plan report."""
    credit = cross_validate(store.read("applicants"), repeats=5, folds=5, seed=0,
                            models=("lightgbm", "scorecard", "woe_logistic"))
    credit_model = train_credit(store, out_dir / "models" / "credit", seed=0)
    sales = store.read("sales")
    stores = store.read("stores") if store.has("stores") else None
    bt = backtest(sales, stores, cutoffs=2, horizon=4, params=DEMO_DEMAND)
    metrics = bt["metrics"]
    overall = metrics[metrics["cutoff"] == "all"]
    trained = train_demand(store, out_dir / "models" / "demand", horizon=4,
                           params=DEMO_DEMAND, seed=0)
    model = DemandModel.load(Path(trained["out"]) / "model")
    future = default_future(sales, model.horizon, model.freq_days)
    keys = model.predict(sales, future, stores).query("horizon == 1")[["store_id", "item_id"]]
    paths = model.sample_paths(sales, future, 500, random_state=0, stores=stores)
    result = plan(keys.reset_index(drop=True), paths, lead_time=2,
                  service_level={"A": 0.98, "B": 0.95, "C": 0.9})
    report = write_plan_report(result, paths, sales, np.sort(future["date"].unique()),
                               out_dir / "inventory" / "plan.html",
                               title="Inventory plan, lead time 2 weeks, service 98/95/90% "
                                     "by ABC class")
    # did the plan work? replay the last 12 weeks with the real demand (the model is
    # refit on the weeks before them, so the replay is out of sample)
    start = pd.Timestamp(sales["date"].max()) - pd.Timedelta(weeks=11)
    replay = run_inventory_backtest(
        model, sales, stores, out_dir / "inventory" / "backtest.html",
        InventoryBacktestConfig(lead_time=2, service_level=0.95, start=str(start.date()),
                                paths=500, targets=(0.8, 0.9, 0.95, 0.98)))
    return {
        "inventory_backtest": replay,
        "credit": {m: {k: v for k, v in s.items()} for m, s in credit["summary"].items()},
        "credit_paired": credit["paired"],
        "credit_model": credit_model["out"],
        "credit_champion": {k: credit_model[k] for k in ("champion", "reason", "candidates")},
        "demand_model": trained["out"],
        "demand": json.loads(overall.to_json(orient="records")),
        "demand_cutoffs": [str(pd.Timestamp(c).date()) for c in bt["cutoffs"]],
        "inventory": {"report": str(report["html"]), "parquet": str(report["parquet"]),
                      "series": int(len(result)),
                      "mean_safety_stock": float(result["safety_stock"].mean())},
    }


def demo_backtest(store: Store, out_dir: Path, *, show_progress: bool | None = None
                  ) -> dict[str, Any]:
    """The default strategy grid on the sp500-20 history and on 500 block-bootstrap paths
    of ten years (`genlift backtest`)."""
    result = run_backtest(store, BacktestConfig(paths=500, horizon=2520),
                          out_dir / "backtest.html", show_progress=show_progress)
    best = max(result["real"]["metrics"], key=lambda m: m["sharpe"])
    return {"report": result["report"], "parquet": result["parquet"],
            "strategies": len(result["strategies"]),
            "paths": result["synthetic"]["paths"],
            "best_real_sharpe": {"strategy": best["strategy"], "sharpe": best["sharpe"]},
            "pbo": result["overfitting"]["pbo"]["pbo"],
            "seconds": result["seconds"]["synthetic_backtest"]}


def demo_insurance(store: Store, out_dir: Path, *, show_progress: bool | None = None
                   ) -> dict[str, Any]:
    """Short versions of the insurance commands: the pricing champion (GBM vs GLM by CV
    Gini), a smokers-only book priced from a generator, one company's reserves and the
    reserve backtest of Meyers' four lines."""
    trained = train_pricing(store, out_dir / "models" / "pricing", cv_repeats=1)
    evaluated = evaluate_pricing(store, repeats=2, out=out_dir / "pricing")
    book = price_portfolio(store, out_dir / "models" / "pricing", out_dir / "pricing-smokers",
                           conditions=["smoker=yes"], n_books=200)
    one = run_reserve(store, ReserveConfig(line="comauto", company="1767", n_sims=1000,
                                           n_boot=100),
                      out_dir / "reserve" / "comauto-1767.html", show_progress=show_progress)
    backtest = run_reserve_backtest(
        store, ReserveConfig(line="all", backtest=True, n_sims=1000, n_boot=100),
        out_dir / "reserve" / "backtest.html", show_progress=show_progress)
    cv = evaluated["cv"]["summary"]
    return {
        "pricing": {"champion": evaluated["champion"],
                    "cv_gini": {m: cv[m]["gini"]["mean"] for m in ("gbm", "glm")},
                    "test": evaluated["test"], "report": evaluated.get("html"),
                    "model": trained["out"], "train_report": trained["report"]},
        "portfolio": {"real_loss_ratio": book["books"]["real"]["loss_ratio"],
                      "simulated_loss_ratio": book["books"]["simulated"]["loss_ratio"],
                      "real_mean_premium": book["books"]["real"]["mean_premium"],
                      "simulated_mean_premium": book["books"]["simulated"]["mean_premium"],
                      "report": book["html"]},
        "reserve": {"company": one["company"], "line": one["line"],
                    "methods": one["methods"], "report": one["report"]},
        "reserve_backtest": {"valuation_year": backtest["valuation_year"],
                             "tests": backtest["tests"], "report": backtest["report"]},
    }


def demo_customers(store: Store, out_dir: Path, *, show_progress: bool | None = None
                   ) -> dict[str, Any]:
    """`genlift clv` on the full CDNOW log (39-week calibration, holdout weeks 40-78,
    values over 52 weeks as of the last day into ``customer_value``), then `genlift
    segment` of its customers (k-means, k = 4) with each segment's share of that value."""
    from serving.jobs.clv import ClvJobConfig, run_clv
    from serving.jobs.segments import segment
    clv = run_clv(store, ClvJobConfig(calibration_end="1997-09-30", horizon_weeks=52),
                  out_dir / "clv", show_progress=show_progress)
    seg = segment(store, "transactions", out_dir / "segments", k=4, seed=0,
                  show_progress=show_progress)
    hold = clv["holdout"]
    return {"clv": {"report": clv["files"]["report"], "customers": clv["customers"],
                    "params": clv["params"], "total_clv": clv["total_clv"],
                    "holdout": {k: hold[k] for k in ("actual_total", "predicted_total",
                                                     "error_pct", "mae_model",
                                                     "mae_naive")}},
            "segments": {k: seg[k] for k in ("k", "customers", "method", "report", "score",
                                             "score_name", "k_chosen", "profiles")}}


def demo_lift(store: Store, out_dir: Path, budget: str, *,
              show_progress: bool | None = None) -> dict[str, Any]:
    """`genlift lift all` at ``budget`` (5 seeds; credit 5-fold cross-fitting x 2
    repeats): the with/without-synthetic comparison of every task, reports in ``out_dir``
    (index.html)."""
    out = run_all(store, LiftConfig(task="all", budget=budget), out_dir,
                  show_progress=show_progress)
    return {"index": out["index"],
            "tasks": {name: {"run_id": r["run_id"], "html": r["html"], "json": r["json"],
                             "seconds": r["seconds"], "summary": summary_rows(r),
                             "design": design_note(r)}
                      for name, r in out["tasks"].items()}}


def run_demo(
    store: Store, *, cache_dir: Path | None = None, show_progress: bool | None = None,
    reports: Path = Path("reports/demo"), lift_budget: str | None = "small",
    lift_reports: Path = Path("reports"),
) -> dict[str, Any]:
    """The main job: fetch the real datasets, validate them into ``store``, build every
    feature set, fit and score the generators, run the lift experiment of every task
    (unless ``lift_budget`` is None), and record it all as one run."""
    run_id = store.start_run("demo", {"datasets": list(DEMO_DATASETS)})
    try:
        datasets = fetch_datasets(store, list(DEMO_DATASETS), cache_dir=cache_dir,
                                  show_progress=show_progress)
        built = build_features(store, list(BUILDERS), show_progress=show_progress)
        generators = demo_augment(store, reports, show_progress=show_progress)
        recs = demo_recommend(store, reports, show_progress=show_progress)
        planning = demo_forecasting(store, reports)
        backtest = demo_backtest(store, reports, show_progress=show_progress)
        insurance = demo_insurance(store, reports, show_progress=show_progress)
        customers = demo_customers(store, reports, show_progress=show_progress)
        lift = demo_lift(store, lift_reports, lift_budget, show_progress=show_progress) \
            if lift_budget else None
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    features = {k: v["summary"] for k, v in built.items()}
    store.finish_run(run_id, metrics={"datasets": datasets, "features": features,
                                      "generators": generators,
                                      "recommendations": {k: v for k, v in recs.items()
                                                          if k != "evaluation"},
                                      "planning": planning, "backtest": backtest,
                                      "insurance": insurance,
                                      "customers": {"clv": customers["clv"]},
                                      "lift": lift and {"index": lift["index"]}})
    return {"run_id": run_id, "db": store.path, "datasets": datasets, "features": features,
            "generators": generators, "recommendations": recs, "planning": planning,
            "backtest": backtest, "insurance": insurance, "customers": customers,
            "lift": lift}
