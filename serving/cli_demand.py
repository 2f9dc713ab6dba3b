"""`genlift train | evaluate demand`, `genlift forecast` and `genlift plan inventory`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.demand import DemandModel, backtest
from engine.inventory import plan
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.io import read_table_file, write_parquet_atomic
from features.store import Store
from serving.cli_common import Groups, emit, table
from serving.cluster import add_cluster_argument
from serving.inventory_report import write_plan_report

DEMAND_METRICS = ("wape", "mase", "rmsse", "bias", "pinball", "coverage80")


def default_future(sales: pd.DataFrame, horizon: int, freq_days: int) -> pd.DataFrame:
    """The known future when none is given: every series seen in the last period keeps its
    last price, with no promotion and no feature ad, for ``horizon`` periods."""
    last = sales["date"].max()
    current = sales[sales["date"] == last]
    rows = []
    for h in range(1, horizon + 1):
        step = current[["store_id", "item_id", "price"]].copy()
        step["date"] = last + pd.Timedelta(days=h * freq_days)
        step["promo"] = 0.0
        rows.append(step)
    future = pd.concat(rows, ignore_index=True)
    for col in ("feat",):
        if col in sales.columns:
            future[col] = 0.0
    return future


def _future(args: argparse.Namespace, sales: pd.DataFrame, model: DemandModel) -> pd.DataFrame:
    if getattr(args, "future", None):
        return read_table_file(args.future, "sales")
    return default_future(sales, model.horizon, model.freq_days)


def train_demand(store: Store, out: str | Path, *, horizon: int = 4,
                 params: Mapping[str, Any] | None = None, synthetic: pd.DataFrame | None = None,
                 synthetic_path: str = "", synthetic_weight: float = 1.0, seed: int = 0,
                 cluster: str | None = None) -> dict[str, Any]:
    """Fit a DemandModel on the store's sales (on a Dask cluster with ``cluster``), save
    it in ``out/model`` with ``out/train.json``, and record the run. ``params`` are further
    DemandModel settings (n_estimators, quantiles, ...)."""
    from serving.cluster import maybe_connect

    out = Path(out)
    sales = store.read("sales")
    stores = store.read("stores") if store.has("stores") else None
    config = {"horizon": horizon, **dict(params or {}), "synthetic": synthetic_path,
              "synthetic_weight": synthetic_weight, "seed": seed, "cluster": cluster}
    tables = ["sales"] + (["stores"] if stores is not None else [])
    run_id = store.start_run("train-demand", config, seed=seed, tables=tables)
    try:
        model = DemandModel(horizon=horizon, random_state=seed, **dict(params or {}))
        with maybe_connect(cluster) as client:
            if client is None:
                model.fit(sales, stores, synthetic=synthetic, synthetic_weight=synthetic_weight)
            else:
                from engine.demand_dask import fit_dask

                fit_dask(model, sales, stores, client=client, synthetic=synthetic,
                         synthetic_weight=synthetic_weight)
        model.save(out / "model")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    summary = {"run_id": run_id, "rows": len(sales),
               "series": int(sales.groupby(["store_id", "item_id"]).ngroups),
               "synthetic_rows": 0 if synthetic is None else len(synthetic),
               "horizon": horizon, "out": str(out)}
    meta = {**config, **summary, "fingerprints": store.fingerprints(tables)}
    write_json_atomic(meta, out / "train.json")
    store.finish_run(run_id, metrics=summary)
    return summary


def cmd_train_demand(args: argparse.Namespace) -> Any:
    from serving.cluster import parse_cluster

    if args.cluster is not None:
        parse_cluster(args.cluster)  # a bad spec fails before the store is opened
    synthetic = pd.read_parquet(args.synthetic) if args.synthetic else None
    with Store(args.db) as store:
        summary = train_demand(store, args.out, horizon=args.horizon,
                               params={"n_estimators": args.n_estimators},
                               synthetic=synthetic, synthetic_path=str(args.synthetic or ""),
                               synthetic_weight=args.synthetic_weight, seed=args.seed,
                               cluster=args.cluster)
    emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


def cmd_evaluate_demand(args: argparse.Namespace) -> Any:
    with Store(args.db) as store:
        sales = store.read("sales")
        stores = store.read("stores") if store.has("stores") else None
        run_id = store.start_run("evaluate-demand", {"cutoffs": args.cutoffs,
                                                     "horizon": args.horizon},
                                 tables=["sales"])
        result = backtest(sales, stores, cutoffs=args.cutoffs, horizon=args.horizon)
        metrics = result["metrics"]
        store.finish_run(run_id, metrics=json.loads(metrics.to_json(orient="records")))
    payload = {"run_id": run_id, "cutoffs": [str(c) for c in result["cutoffs"]],
               "metrics": json.loads(metrics.to_json(orient="records"))}
    overall = metrics[metrics["cutoff"].astype(str) == "all"] if "cutoff" in metrics else metrics
    cols = [c for c in DEMAND_METRICS if c in overall.columns]
    rows = [(str(r["method"]), *(float(r[c]) for c in cols)) for _, r in overall.iterrows()]
    emit(args, payload, f"rolling-origin backtest, {len(result['cutoffs'])} cutoffs x "
         f"{args.horizon} periods (run {run_id})\n" + table(rows, ["method", *cols]))
    return payload


def cmd_forecast(args: argparse.Namespace) -> Any:
    model = DemandModel.load(Path(args.model) / "model")
    if not 1 <= args.horizon <= model.horizon:
        raise ValueError(f"The 'horizon' parameter of forecast must be an int in the range "
                         f"[1, {model.horizon}] (the model's horizon). Got {args.horizon} "
                         "instead.")
    with Store(args.db, read_only=True) as store:
        sales = store.read("sales")
        stores = store.read("stores") if store.has("stores") else None
    pred = model.predict(sales, _future(args, sales, model), stores)
    pred = pred[pred["horizon"] <= args.horizon].reset_index(drop=True)
    write_parquet_atomic(pred, args.out)
    summary = {"out": str(args.out), "rows": len(pred), "series": int(
        pred.groupby(["store_id", "item_id"]).ngroups), "horizon": args.horizon}
    emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


def cmd_plan_inventory(args: argparse.Namespace) -> Any:
    model = DemandModel.load(Path(args.model) / "model")
    if not 1 <= args.lead_time <= model.horizon:
        raise ValueError(f"The 'lead_time' parameter of plan inventory must be an int in the "
                         f"range [1, {model.horizon}] (the model's horizon). Got "
                         f"{args.lead_time} instead.")
    with Store(args.db, read_only=True) as store:
        sales = store.read("sales")
        stores = store.read("stores") if store.has("stores") else None
    future = _future(args, sales, model)
    pred = model.predict(sales, future, stores)
    keys = pred[pred["horizon"] == 1][["store_id", "item_id"]].reset_index(drop=True)
    paths = model.sample_paths(sales, future, args.paths, random_state=args.seed,
                               stores=stores)
    on_hand = on_order = None
    if args.on_hand:
        stock = read_table_file(args.on_hand, "stores")  # any table name: keys are checked here
        missing = [c for c in ("store_id", "item_id", "on_hand") if c not in stock.columns]
        if missing:
            raise DataValidationError(f"--on-hand file lacks column(s) {', '.join(missing)}",
                                      fix="give store_id, item_id, on_hand[, on_order]")
        stock = stock.astype({"store_id": str, "item_id": str})
        merged = keys.merge(stock, on=["store_id", "item_id"], how="left")
        on_hand = pd.to_numeric(merged["on_hand"], errors="coerce").fillna(0).to_numpy()
        if "on_order" in merged:
            on_order = pd.to_numeric(merged["on_order"], errors="coerce").fillna(0).to_numpy()
    result = plan(keys, paths, lead_time=args.lead_time, service_level=args.service_level,
                  on_hand=on_hand, on_order=on_order)
    dates = np.sort(future["date"].unique())
    report = write_plan_report(result, paths, sales, dates, args.out,
                               title=f"Inventory plan: lead time {args.lead_time}, "
                                     f"service level {args.service_level}")
    emit(args, report, "\n".join(f"{k}: {v}" for k, v in report.items()))
    return report


def register(g: Groups) -> None:
    p = g.train.add_parser("demand", parents=[g.common], help="train the demand model",
                           description="Train the global LightGBM demand model (point + "
                           "quantiles, horizons 1..H) on the store's sales.")
    p.add_argument("--horizon", type=int, default=4)
    p.add_argument("--n-estimators", type=int, default=300,
                   help="boosting rounds per horizon and quantile (default 300)")
    p.add_argument("--synthetic", type=Path, default=None,
                   help="parquet of synthetic sales windows (`augment sample` of a sales "
                        "generator) added as extra weighted training rows")
    p.add_argument("--synthetic-weight", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="model folder")
    add_cluster_argument(p, "train the boosters with lightgbm.dask (close to, not equal to, "
                            "the one-machine boosters)")
    p.set_defaults(func=cmd_train_demand)

    p = g.evaluate.add_parser("demand", parents=[g.common], help="rolling-origin backtest",
                              description="Fit on data before each cutoff and forecast the "
                              "next periods; LightGBM against naive baselines.")
    p.add_argument("--cutoffs", type=int, default=4)
    p.add_argument("--horizon", type=int, default=4)
    p.set_defaults(func=cmd_evaluate_demand)

    p = g.sub.add_parser("forecast", parents=[g.common], help="forecast demand",
                         description="Point and quantile forecasts for the next periods of "
                         "every series. Without --future, prices stay at their last value "
                         "with no promotion.")
    p.add_argument("--model", required=True, type=Path, help="folder of `train demand`")
    p.add_argument("--horizon", type=int, default=4)
    p.add_argument("--future", type=Path, default=None,
                   help="known future (store_id, item_id, date, price, promo[, feat])")
    p.add_argument("--out", required=True, type=Path, help="parquet file to write")
    p.set_defaults(func=cmd_forecast)

    plan_p = g.sub.add_parser("plan", parents=[g.common], help="planning reports")
    psub = plan_p.add_subparsers(dest="plan_command", metavar="REPORT", required=True)
    p = psub.add_parser("inventory", parents=[g.common], help="inventory plan (HTML + parquet)",
                        description="Lead-time demand from sampled demand paths -> safety "
                        "stock, reorder point, order-up-to, suggested orders.")
    p.add_argument("--model", required=True, type=Path, help="folder of `train demand`")
    p.add_argument("--lead-time", type=int, default=2, help="periods (default 2)")
    p.add_argument("--service-level", type=float, default=0.95)
    p.add_argument("--on-hand", type=Path, default=None,
                   help="stock file: store_id, item_id, on_hand[, on_order]")
    p.add_argument("--future", type=Path, default=None,
                   help="known future (store_id, item_id, date, price, promo[, feat])")
    p.add_argument("--paths", type=int, default=1000, help="sampled demand paths per series")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="HTML file (parquet beside it)")
    p.set_defaults(func=cmd_plan_inventory)
