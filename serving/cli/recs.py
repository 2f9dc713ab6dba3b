"""`genlift train | evaluate recs` and `genlift score recommend | similar-items`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.cli.common import (
    METRIC_COLUMNS,
    Groups,
    add_algorithm,
    add_cluster_argument,
    add_model,
    add_top_k,
    add_train_arguments,
    emit,
    open_store,
    summary_text,
    table,
)

INDEX_CHOICES = ("auto", "exact", "flat", "ivf", "hnsw")
BREAK_EVEN_ITEMS = 150_000


# -- recommendations -----------------------------------------------------------------------
def cmd_train_recs(args: argparse.Namespace) -> Any:
    from serving.jobs.recs import train
    with open_store(args, read_only=False) as store:
        summary = train(store, args.out, model=args.model, tune_params=args.tune,
                        with_synthetic=args.with_synthetic,
                        synthetic_weight=args.synthetic_weight, seed=args.seed,
                        show_progress=args.progress)
    emit(args, summary, summary_text({k: v for k, v in summary.items()
                                      if k != "tuning_trials"}))
    return summary


def cmd_evaluate_recs(args: argparse.Namespace) -> Any:
    from engine.recommenders.evaluation import MODELS, EvalConfig
    from serving.jobs.recs import evaluate
    models = tuple(MODELS) if args.model == "all" else (args.model,)
    cfg = EvalConfig(protocol=args.protocol, models=models, k=args.top_k, tune=args.tune,
                     seed=args.seed)
    with open_store(args, read_only=False) as store:
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
    k = args.top_k
    seg_text = table(seg_rows, ["model", "segment", "users", f"precision@{k}",
                                 f"recall@{k}", f"ndcg@{k}"])
    emit(args, result, head + "\n" + table(
        rows, ["model", *(f"{m}@{k}" if m != "coverage" else m for m in METRIC_COLUMNS),
               "fit s"]) + f"\n\nper segment (cold: fewer than {cfg.cold_threshold} "
        f"training interactions):\n" + seg_text)
    return result


def cmd_score_recommend(args: argparse.Namespace) -> Any:
    from serving.jobs.cluster import maybe_connect, parse_cluster
    from serving.jobs.scoring import score_recommend, to_store
    if args.cluster is not None:
        parse_cluster(args.cluster)  # a bad spec fails before the store is opened
    with open_store(args, read_only=False) as store, maybe_connect(args.cluster) as client:
        summary = score_recommend(store, args.model, args.out, top_k=args.top_k,
                                  block_users=args.block_users, show_progress=args.progress,
                                  client=client, index=args.index)
        if args.to_store:
            summary["store_table"] = "recommendations"
            summary["store_rows"] = to_store(store, args.out, "recommendations")
    return _emit_scoring(args, summary, "users")


def cmd_score_similar(args: argparse.Namespace) -> Any:
    from serving.jobs.cluster import maybe_connect
    from serving.jobs.scoring import score_similar_items, to_store
    with maybe_connect(args.cluster) as client:
        summary = score_similar_items(args.model, args.out, top_k=args.top_k,
                                      block_items=args.block_items,
                                      show_progress=args.progress, client=client,
                                      index=args.index)
    if args.to_store:
        with open_store(args, read_only=False) as store:
            summary["store_table"] = "similar_items"
            summary["store_rows"] = to_store(store, args.out, "similar_items")
    return _emit_scoring(args, summary, "items")


def _emit_scoring(args: argparse.Namespace, summary: dict[str, Any], unit: str) -> Any:
    """A scoring summary; the index it used, and its measured recall, as readable lines."""
    info = dict(summary.get("index") or {})
    lines = [summary_text({k: v for k, v in summary.items() if k != "index"})]
    if info:
        how = info.get("status", "")
        if how == "built" or how == "rebuilt":
            how += f" in {info.get('build_s')} s"
        if info.get("reason"):
            how += f" because {info['reason']}"
        lines.append(f"index: {info['kind']} (requested {info.get('requested')}"
                     + (f"; {how}, {info['folder']}" if how else "") + ")")
    rec = info.get("recall")
    if rec:
        lines.append(f"recall@{rec['k']} vs exact search: {rec['recall_at_k']:.4f} on a "
                     f"sample of {rec['sample']} {unit}")
    emit(args, summary, "\n".join(lines))
    return summary


def register(g: Groups) -> None:
    from engine.recommenders.evaluation import MODELS
    p = g.train.add_parser("recs", parents=[g.common], help="train a recommender",
                        description="Train a recommender on every interaction in the store "
                        "and save it in --out.")
    add_algorithm(p, list(MODELS), "als", f"the recommender to train: {' | '.join(MODELS)} "
                                    "(default als)")
    p.add_argument("--tune", action="store_true",
                   help="pick parameters on a validation split carved out of the data")
    p.add_argument("--with-synthetic", action="store_true",
                   help="append synthetic_interactions as extra (weighted) users")
    add_train_arguments(p, seed=42, weight_help="weight of the synthetic rows (default 1)")
    p.set_defaults(func=cmd_train_recs)

    p = g.evaluate.add_parser("recs", parents=[g.common], help="evaluate recommenders",
                        description="Split the interactions by a protocol, (tune,) train "
                        "and score top-k on the held-out part.")
    p.add_argument("--protocol", default="msr", choices=["msr", "temporal"],
                   help="msr: Microsoft Recommenders' 75/25 per-user split, seed 42; "
                        "temporal: each user's last 5 interactions held out")
    add_algorithm(p, ["all", *MODELS], "all", f"the recommender to evaluate: "
                  f"{' | '.join(MODELS)}, or all (default all)")
    p.add_argument("--tune", action="store_true", help="tune on a validation split first")
    add_top_k(p, what="recommended items", deprecated=("-k",))
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.set_defaults(func=cmd_evaluate_recs)

    p = g.score.add_parser("recommend", parents=[g.common],
                        help="top-N recommendations for every user",
                        description="Score every user in blocks into parquet partitions; a "
                        "re-run resumes after a crash and never duplicates a user.")
    _add_scoring_arguments(p, "users", "recommendations")
    p.set_defaults(func=cmd_score_recommend)
    p = g.score.add_parser("similar-items", parents=[g.common],
                        help="the most similar items of every item")
    _add_scoring_arguments(p, "items", "similar_items")
    p.set_defaults(func=cmd_score_similar)


def _add_scoring_arguments(p: argparse.ArgumentParser, unit: str, table: str) -> None:
    """The flags of both batch scoring commands; ``unit`` is what a partition holds."""
    add_model(p, "train recs")
    add_top_k(p, what="similar items" if unit == "items" else "recommended items")
    p.add_argument("--out", required=True, type=Path, help="output folder of parquet parts")
    p.add_argument(f"--block-{unit}", type=int, default=4096,
                   help=f"{unit} per partition (default 4096)")
    p.add_argument("--to-store", action="store_true",
                   help=f"also load the result into the store table `{table}`")
    # Literal here so that `genlift --help` does not import FAISS; a test keeps them equal
    # to engine.recommenders.index_store's INDEX_CHOICES and BREAK_EVEN_ITEMS.
    p.add_argument("--index", default="auto", choices=list(INDEX_CHOICES),
                   help="how factor models (als, bpr) are searched: exact (blocked GEMM), "
                        "flat (FAISS, exact), ivf or hnsw (approximate; recall@k is measured "
                        f"on a sample and reported); auto: exact below {BREAK_EVEN_ITEMS:,} "
                        "items, hnsw from there. Other models accept only exact / auto. The "
                        "index is saved in the model folder and reused")
    add_cluster_argument(p, "score the partitions")

