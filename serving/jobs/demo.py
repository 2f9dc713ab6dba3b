"""Jobs behind the CLI: fetching datasets, building feature sets, the demo pipeline."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features.credit import CreditFeatures
from features.datasets import DATASETS, fetch, source_label
from features.demand import demand_features
from features.matrix import build_user_items
from features.returns import log_returns
from features.store import Store
from features.users import user_features

logger = logging.getLogger(__name__)


def _disable(show_progress: bool | None) -> bool | None:
    """tqdm's ``disable``: None (the default) shows bars only on a terminal."""
    return None if show_progress is None else not show_progress


# What a person checks first about each table: its shape in business terms.
TABLE_NOTES: dict[str, str] = {
    "interactions": "SELECT count(DISTINCT user_id) || ' users x ' || count(DISTINCT item_id) "
                    "|| ' items, ' || strftime(min(ts), '%Y-%m-%d') || '..' || "
                    "strftime(max(ts), '%Y-%m-%d') FROM interactions",
    "applicants": "SELECT sum(\"default\") || ' defaults (' || round(100 * avg(\"default\"), 1) "
                  "|| '%), ' || (SELECT count(*) - 2 FROM (DESCRIBE applicants)) || ' features' "
                  "FROM applicants",
    "prices": "SELECT count(DISTINCT date) || ' trading days x ' || count(DISTINCT asset) || "
              "' assets, ' || min(date) || '..' || max(date) FROM prices",
    "sales": "SELECT count(DISTINCT store_id) || ' stores x ' || count(DISTINCT item_id) || "
             "' items x ' || count(DISTINCT date) || ' periods, ' || min(date) || '..' || "
             "max(date) FROM sales",
}


def table_note(store: Store, table: str) -> str:
    """A one-line description of a loaded table (empty for tables without one)."""
    query = TABLE_NOTES.get(table)
    if query is None or not store.has(table):
        return ""
    rows = store.con.execute(query).fetchall()
    return str(rows[0][0]) if rows and rows[0][0] is not None else ""


def fetch_datasets(
    store: Store,
    names: Sequence[str],
    *,
    cache_dir: Path | None = None,
    show_progress: bool | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Fetch each dataset and load its tables into ``store`` (one transaction each)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    bar = tqdm(list(dict.fromkeys(names)), desc="fetch", unit="dataset",
               disable=_disable(show_progress))
    for name in bar:
        bar.set_postfix_str(name)
        tables = fetch(name, cache_dir=cache_dir)
        infos = store.load(tables, source=source_label(name, cache_dir))
        out[name] = {t: {"n_rows": i.n_rows, "fingerprint": i.fingerprint,
                         "note": table_note(store, t)} for t, i in infos.items()}
    return out


def _matrix(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    m = build_user_items(store.read("interactions"), weight="count")
    density = m.matrix.nnz / max(1, m.shape[0] * m.shape[1])
    return m.to_frame(), {"rows": m.shape[0], "columns": m.shape[1], "nnz": int(m.matrix.nnz),
                          "note": f"users x items CSR, {m.matrix.nnz:,} cells, "
                                  f"density {density:.2%}"}


def _users(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    users = store.read("users") if store.has("users") else None
    f = user_features(store.read("interactions"), users)
    return f, {"rows": len(f), "columns": f.shape[1],
               "note": f"median frequency {f['frequency'].median():g}, "
                       f"median recency {f['recency_days'].median():.0f} days"}


def _demand(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    sales = store.read("sales")
    stores = store.read("stores") if store.has("stores") else None
    exog = [c for c in ("feat",) if c in sales.columns]
    f = demand_features(sales, stores, exog=exog)
    with_lag = float(f["units_lag1"].notna().mean())
    return f, {"rows": len(f), "columns": f.shape[1],
               "note": f"{f['store_id'].nunique()} stores x {f['item_id'].nunique()} items, "
                       f"lag-1 available on {with_lag:.0%} of rows"}


def _credit(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    applicants = store.read("applicants")
    builder = CreditFeatures().fit(applicants)
    X, y = builder.transform(applicants)
    if y is None:  # cannot happen for a validated applicants table
        raise RuntimeError("applicants has no 'default' column")
    frame = X.assign(default=y.to_numpy())
    return frame, {"rows": len(X), "columns": X.shape[1],
                   "note": f"{len(builder.numeric_)} numeric + {len(builder.categories_)} "
                           f"categorical, default rate {y.mean():.1%}"}


def _returns(store: Store) -> tuple[pd.DataFrame, dict[str, Any]]:
    r = log_returns(store.read("prices"))
    ann_vol = float(np.nanmean(r.std(ddof=1).to_numpy()) * np.sqrt(252))
    frame = r.reset_index()
    return frame, {"rows": len(r), "columns": r.shape[1],
                   "note": f"daily log returns {r.index.min():%Y-%m-%d}..{r.index.max():%Y-%m-%d},"
                           f" mean annual vol {ann_vol:.0%}"}


BUILDERS: dict[str, tuple[str, Callable[[Store], tuple[pd.DataFrame, dict[str, Any]]]]] = {
    "matrix": ("interactions", _matrix),
    "users": ("interactions", _users),
    "demand": ("sales", _demand),
    "credit": ("applicants", _credit),
    "returns": ("prices", _returns),
}


def build_features(
    store: Store, names: Sequence[str], *, show_progress: bool | None = None
) -> dict[str, dict[str, Any]]:
    """Build the named feature sets from the store; each returns a frame and a summary."""
    out: dict[str, dict[str, Any]] = {}
    for name in tqdm(list(names), desc="features", unit="set",
                     disable=_disable(show_progress)):
        table, builder = BUILDERS[name]
        if not store.has(table):
            store.row_count(table)  # raises the "not in the store" error with its fix
        start = time.perf_counter()
        frame, summary = builder(store)
        summary["seconds"] = round(time.perf_counter() - start, 3)
        out[name] = {"frame": frame, "summary": summary}
    return out


# The demo's generators: (kind, table, generator, extra fit settings, scores to show).
DEMO_GENERATORS: list[tuple[str, str, str, dict[str, Any], tuple[str, ...]]] = [
    ("tabular", "applicants", "copula", {}, ("quality", "detection_auc", "membership_auc")),
    ("tabular", "applicants", "vae", {"epochs": 150},
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
    from serving.augment_jobs import FitConfig, fit, report

    rows = []
    for kind, table, name, extra, keys in tqdm(DEMO_GENERATORS, desc="generators",
                                              unit="model", disable=_disable(show_progress)):
        folder = out_dir / f"{table}-{name}"
        cfg = FitConfig(kind=kind, table=table, generator=name, seed=0,
                        epochs=extra.get("epochs"), train_end=extra.get("train_end"),
                        params=extra.get("params", {}))
        summary = fit(store, cfg, folder / "model")
        result = report(store, folder / "model", folder / "report.html", seed=0)
        rows.append({"kind": kind, "table": table, "generator": name,
                     "fit_seconds": summary["fit_seconds"],
                     "scores": {k: result["scorecard"].get(k) for k in keys},
                     "report": result["report"]})
    return rows


def demo_recommend(store: Store, out_dir: Path, *, show_progress: bool | None = None
                   ) -> dict[str, Any]:
    """Protocol-1 evaluation (tuned on validation) beside the published table, then the
    tuned ALS trained on every interaction and top-10 written for every user."""
    from engine.recommenders.evaluation import EvalConfig
    from serving.recs import evaluate, train
    from serving.scoring import score_recommend, to_store

    result = evaluate(store, EvalConfig(protocol="msr", tune=True))
    params = result["models"]["als"]["params"]
    model_dir = out_dir / "models" / "recs"  # `genlift serve --models <reports>/models`
    summary = train(store, model_dir, model="als", params=params, seed=42,
                    show_progress=show_progress)
    # The demo owns this folder: a new model run replaces the previous output whole.
    shutil.rmtree(out_dir / "recommendations", ignore_errors=True)
    scored = score_recommend(store, model_dir, out_dir / "recommendations", top_k=10,
                             show_progress=show_progress)
    rows = to_store(store, out_dir / "recommendations", "recommendations")
    return {"evaluation": result, "als_params": params, "train_run": summary["run_id"],
            "scored_users": scored["users"], "store_rows": rows,
            "out": str(out_dir / "recommendations")}


# Demo-sized demand models: fewer trees and quantiles than the defaults (see bench_demand).
DEMO_DEMAND: dict[str, Any] = {"n_estimators": 100, "learning_rate": 0.1,
                               "quantiles": (0.1, 0.5, 0.9)}


def demo_forecasting(store: Store, out_dir: Path) -> dict[str, Any]:
    """Credit CV table, demand backtest table, and an inventory plan report."""
    from engine.credit import cross_validate
    from engine.demand import DemandModel, backtest
    from engine.inventory import plan
    from serving.cli_credit import train_credit
    from serving.cli_demand import default_future, train_demand
    from serving.inventory_report import write_plan_report

    credit = cross_validate(store.read("applicants"), repeats=5, folds=5, seed=0)
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
    return {
        "credit": {m: {k: v for k, v in s.items()} for m, s in credit["summary"].items()},
        "credit_paired": credit["paired"],
        "credit_model": credit_model["out"],
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
    from serving.backtest_jobs import BacktestConfig, run

    result = run(store, BacktestConfig(paths=500, horizon=2520), out_dir / "backtest.html",
                 show_progress=show_progress)
    best = max(result["real"]["metrics"], key=lambda m: m["sharpe"])
    return {"report": result["report"], "parquet": result["parquet"],
            "strategies": len(result["strategies"]),
            "paths": result["synthetic"]["paths"],
            "best_real_sharpe": {"strategy": best["strategy"], "sharpe": best["sharpe"]},
            "pbo": result["overfitting"]["pbo"]["pbo"],
            "seconds": result["seconds"]["synthetic_backtest"]}


def demo_lift(store: Store, out_dir: Path, budget: str, *,
              show_progress: bool | None = None) -> dict[str, Any]:
    """`genlift lift all` at ``budget`` (5 seeds): the with/without-synthetic comparison of
    every task, reports in ``out_dir`` (index.html)."""
    from engine.lift import LiftConfig
    from serving.lift_jobs import run_all, summary_rows

    out = run_all(store, LiftConfig(task="all", budget=budget), out_dir,
                  show_progress=show_progress)
    return {"index": out["index"],
            "tasks": {name: {"run_id": r["run_id"], "html": r["html"], "json": r["json"],
                             "seconds": r["seconds"], "summary": summary_rows(r)}
                      for name, r in out["tasks"].items()}}


def run_demo(
    db: str | Path, *, cache_dir: Path | None = None, show_progress: bool | None = None,
    reports: Path = Path("reports/demo"), lift_budget: str | None = "small",
    lift_reports: Path = Path("reports"),
) -> dict[str, Any]:
    """The main job: fetch the real datasets, validate them into the store, build every
    feature set, fit and score the generators, run the lift experiment of every task
    (unless ``lift_budget`` is None), and record it all as one run."""
    with Store(db) as store:
        run_id = store.start_run("demo", {"datasets": list(DATASETS)})
        try:
            datasets = fetch_datasets(store, list(DATASETS), cache_dir=cache_dir,
                                      show_progress=show_progress)
            built = build_features(store, list(BUILDERS), show_progress=show_progress)
            generators = demo_augment(store, reports, show_progress=show_progress)
            recs = demo_recommend(store, reports, show_progress=show_progress)
            planning = demo_forecasting(store, reports)
            backtest = demo_backtest(store, reports, show_progress=show_progress)
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
                                          "lift": lift and {"index": lift["index"]}})
    return {"run_id": run_id, "db": str(db), "datasets": datasets, "features": features,
            "generators": generators, "recommendations": recs, "planning": planning,
            "backtest": backtest, "lift": lift}
