"""`genlift train | evaluate demand`, `genlift forecast` and `genlift plan inventory`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from serving.cli.common import (
    Groups,
    add_cluster_argument,
    add_model,
    add_train_arguments,
    emit,
    emit_summary,
    fmt,
    open_store,
    table,
)

DEMAND_METRICS = ("wape", "mase", "rmsse", "bias", "pinball", "coverage80")


def cmd_train_demand(args: argparse.Namespace) -> Any:
    from serving.jobs.cluster import parse_cluster
    from serving.jobs.demand import read_synthetic, train_demand
    if args.cluster is not None:
        parse_cluster(args.cluster)  # a bad spec fails before the store is opened
    synthetic = read_synthetic(args.synthetic)
    with open_store(args, read_only=False) as store:
        summary = train_demand(store, args.out, horizon=args.horizon,
                               params={"n_estimators": args.n_estimators},
                               synthetic=synthetic, synthetic_path=str(args.synthetic or ""),
                               synthetic_weight=args.synthetic_weight, seed=args.seed,
                               cluster=args.cluster, show_progress=args.progress)
    return emit_summary(args, summary)


def cmd_evaluate_protocol(args: argparse.Namespace) -> Any:
    from serving.jobs.demand import evaluate_demand_protocol
    with open_store(args, read_only=False) as store:
        result = evaluate_demand_protocol(store, args.protocol, rounds=args.rounds,
                                          show_progress=args.progress)
    partial = "" if args.rounds == 10 else f" (first {args.rounds} of 10 rounds: partial)"
    rows: list[tuple[Any, ...]] = [
        (f"genlift DemandModel (mape objective){partial}", round(result["mape"], 2),
         round(result["seconds"], 1))]
    rows += [(f"{name} (published)", value, "-")
             for name, value in result["published"].items()]
    rows.sort(key=lambda r: r[1])
    per_round = ", ".join(f"{r['mape']:.1f}" for r in result["rounds"])
    emit(args, result, f"protocol msf-oj (Microsoft forecasting, Dominick's OJ: weeks 40-156, "
         f"10 rounds forecasting T+2..T+3; run {result['run_id']}), {result['n']:,} scored "
         f"store x brand x weeks\n" + table(rows, ["model", "MAPE %", "fit+predict s"])
         + f"\nMAPE per round: {per_round}")
    return result


def cmd_evaluate_demand(args: argparse.Namespace) -> Any:
    from serving.jobs.demand import evaluate_demand
    if args.protocol is not None:
        return cmd_evaluate_protocol(args)
    with open_store(args, read_only=False) as store:
        result = evaluate_demand(store, cutoffs=args.cutoffs, horizon=args.horizon)
    metrics = result["metrics"]
    payload = {**result, "metrics": json.loads(metrics.to_json(orient="records"))}
    overall = metrics[metrics["cutoff"].astype(str) == "all"] if "cutoff" in metrics else metrics
    cols = [c for c in DEMAND_METRICS if c in overall.columns]
    rows = [(str(r["method"]), *(float(r[c]) for c in cols)) for _, r in overall.iterrows()]
    emit(args, payload, f"rolling-origin backtest, {len(result['cutoffs'])} cutoffs x "
         f"{args.horizon} periods (run {result['run_id']})\n" + table(rows, ["method", *cols]))
    return payload


def _model_and_history(args: argparse.Namespace, periods: int | None, *, parameter: str,
                       owner: str) -> tuple[Any, Any, Any]:
    """The ``--model`` checked against the periods asked for (None: the model's own
    horizon), then the store's history."""
    from serving.jobs.demand import check_periods, load_model, read_history
    model = load_model(args.model, owner)
    check_periods(model, model.horizon if periods is None else periods,
                  parameter=parameter, owner=owner)
    with open_store(args, read_only=True) as store:
        sales, stores = read_history(store)
    return model, sales, stores


def cmd_forecast(args: argparse.Namespace) -> Any:
    from serving.jobs.demand import forecast
    model, sales, stores = _model_and_history(args, args.horizon, parameter="horizon",
                                              owner="forecast")
    horizon = model.horizon if args.horizon is None else args.horizon  # as trained
    summary = forecast(model, sales, stores, args.out, horizon=horizon, future=args.future)
    return emit_summary(args, summary)


def cmd_plan_inventory(args: argparse.Namespace) -> Any:
    from serving.jobs.demand import plan_inventory
    model, sales, stores = _model_and_history(args, args.lead_time, parameter="lead_time",
                                              owner="plan inventory")
    report = plan_inventory(model, sales, stores, args.out, lead_time=args.lead_time,
                            service_level=args.service_level, on_hand=args.on_hand,
                            future=args.future, paths=args.paths, seed=args.seed)
    from serving.reports.inventory import NO_STOCK_NOTE
    lines = [f"inventory plan: {report['n_series']:,} series -> {report['html']} (table: "
             f"{report['parquet']})"]
    if report["stock_known"]:
        lines += [f"status: {fmt(report['status_counts'])}",
                  f"suggested units (total): {fmt(report['suggested_units'])}"]
    else:
        lines.append(NO_STOCK_NOTE)
    emit(args, report, "\n".join(lines))
    return report


def register(g: Groups) -> None:
    p = g.train.add_parser("demand", parents=[g.common], help="train the demand model",
                           description="Train the global LightGBM demand model (point + "
                           "quantiles, horizons 1..H) on the store's sales.")
    p.add_argument("--horizon", type=int, default=4,
                   help="periods ahead the model forecasts, 1..H (default 4)")
    p.add_argument("--n-estimators", type=int, default=300,
                   help="boosting rounds per horizon and quantile (default 300)")
    p.add_argument("--synthetic", type=Path, default=None,
                   help="parquet of synthetic sales windows (`augment sample` of a sales "
                        "generator) added as extra weighted training rows")
    add_train_arguments(p, seed=0)
    add_cluster_argument(p, "train the boosters with lightgbm.dask (close to, not equal to, "
                            "the one-machine boosters)")
    p.set_defaults(func=cmd_train_demand)

    p = g.evaluate.add_parser("demand", parents=[g.common], help="rolling-origin backtest",
                              description="Fit on data before each cutoff and forecast the "
                              "next periods; LightGBM against naive baselines.")
    p.add_argument("--cutoffs", type=int, default=4,
                   help="forecast origins of the rolling backtest (default 4)")
    p.add_argument("--horizon", type=int, default=4,
                   help="periods forecast from each cutoff (default 4)")
    p.add_argument("--protocol", default=None, choices=["msf-oj"],
                   help="a published protocol instead of the rolling backtest: msf-oj = "
                        "Microsoft forecasting's Orange Juice benchmark (needs `data fetch "
                        "dominicks-oj`), printed beside its published leaderboard")
    p.add_argument("--rounds", type=int, default=10, choices=range(1, 11), metavar="1..10",
                   help="msf-oj: run only the first rounds (default all 10)")
    p.set_defaults(func=cmd_evaluate_demand)

    p = g.sub.add_parser("forecast", parents=[g.common], help="forecast demand",
                         description="Point and quantile forecasts for the next periods of "
                         "every series. Without --future, prices stay at their last value "
                         "with no promotion.")
    add_model(p, "train demand")
    p.add_argument("--horizon", type=int, default=None,
                   help="periods ahead, 1..H (default: H, the horizon the model was "
                        "trained for)")
    p.add_argument("--future", type=Path, default=None,
                   help="known future (store_id, item_id, date, price, promo[, feat])")
    p.add_argument("--out", required=True, type=Path, help="parquet file to write")
    p.set_defaults(func=cmd_forecast)

    plan_p = g.sub.add_parser("plan", parents=[g.common], help="planning reports")
    psub = plan_p.add_subparsers(dest="plan_command", metavar="REPORT", required=True)
    p = psub.add_parser("inventory", parents=[g.common], help="inventory plan (HTML + parquet)",
                        description="Lead-time demand from sampled demand paths -> safety "
                        "stock, reorder point, order-up-to, suggested orders.")
    add_model(p, "train demand")
    p.add_argument("--lead-time", type=int, default=2,
                   help="periods from order to delivery, at most the model's horizon "
                        "(default 2)")
    p.add_argument("--service-level", type=float, default=0.95,
                   help="target cycle service level in (0, 1) (default 0.95)")
    p.add_argument("--on-hand", type=Path, default=None,
                   help="stock file (CSV or parquet): store_id, item_id, on_hand[, "
                        "on_order]; without it the plan has no stock positions and no "
                        "suggested orders")
    p.add_argument("--future", type=Path, default=None,
                   help="known future (store_id, item_id, date, price, promo[, feat])")
    p.add_argument("--paths", type=int, default=1000,
                   help="sampled demand paths per series (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, type=Path, help="HTML file (parquet beside it)")
    p.set_defaults(func=cmd_plan_inventory)
