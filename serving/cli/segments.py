"""`genlift segment`, `genlift score segment` and `genlift evaluate segments`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serving.cli.common import Groups, emit, open_store, summary_text, table

METHODS = ("kmeans", "gmm", "rfm")  # engine.customers.segments.METHODS, without its imports
TABLES = ("interactions", "users", "transactions", "customers")


def _score(summary: dict[str, Any]) -> str:
    if summary["score"] is None:
        return "RFM grid (no k search)"
    return f"{summary['score_name']} {summary['score']:.4g} ({summary['k_chosen']} k)"


def profile_table(result: dict[str, Any]) -> str:
    """The segments of a `segment` run as a table: size, share, RFM medians, outcome
    rates, CLV (when `customer_value` was joined) and what sets each apart."""
    profiles = result["profiles"]
    rfm = [c for c in ("recency_days", "frequency", "monetary")
           if any(c in p["rfm"] for p in profiles)]
    outcomes = sorted({c for p in profiles for c in p["outcomes"]})
    total = sum((p["value"] or {}).get("total_clv", 0.0) for p in profiles)
    clv = total > 0

    def value(p: dict[str, Any]) -> tuple[Any, ...]:
        v = p["value"] or {}
        return (v.get("mean_clv", ""), f"{v.get('total_clv', 0.0) / total:.1%}") if clv \
            else ()

    rows = [(p["segment"], p["size"], f"{p['share']:.1%}",
             *(p["rfm"].get(c, "") for c in rfm),
             *(f"{p['outcomes'][c]:.1%}" for c in outcomes), *value(p), p["description"])
            for p in profiles]
    return table(rows, ["segment", "customers", "share", *(f"median {c}" for c in rfm),
                        *(f"{c} rate" for c in outcomes),
                        *(("mean clv", "share of clv") if clv else ()), "what sets it apart"])


def cmd_segment(args: argparse.Namespace) -> Any:
    from serving.jobs.segments import segment
    with open_store(args, read_only=False) as store:
        result = segment(store, args.table, args.out, method=args.method, k=args.k,
                         seed=args.seed, as_of=args.as_of, show_progress=args.progress)
    text = profile_table(result)
    head = {k: result[k] for k in ("run_id", "table", "method", "customers", "k", "clv",
                                   "out", "report")}
    head["selection"] = _score(result)
    if result.get("k_note"):
        head["note"] = result["k_note"]
    emit(args, result, summary_text(head) + "\n\n" + text)
    return result


def cmd_score_segment(args: argparse.Namespace) -> Any:
    from serving.jobs.segments import score_segment
    with open_store(args, read_only=True) as store:
        result = score_segment(store, args.model, args.table, args.out, as_of=args.as_of)
    emit(args, result, summary_text({k: v for k, v in result.items() if k != "sizes"})
         + "\n\n" + table(list(result["sizes"].items()), ["segment", "customers"]))
    return result


def cmd_evaluate_segments(args: argparse.Namespace) -> Any:
    from serving.jobs.segments_synth import segment_fidelity
    with open_store(args, read_only=True) as store:
        result = segment_fidelity(store, args.generator, n=args.n_samples, seed=args.seed,
                                  segments=args.segment)
    rows = [(r["segment"], r["real_customers"],
             f"held out ({r['held_out']})" if r["reference"] == "held out"
             else f"train ({r['train']})", r["n_synthetic"],
             r["column_shapes"], r["pair_trends"], r["detection_auc"], r["quality"])
            for r in result["segments"]]
    emit(args, result, f"generator {result['generator']} ({result['generator_class']}) "
         f"fitted on {result['table']}; each segment sampled with --condition segment=S\n\n"
         + table(rows, ["segment", "real", "scored against", "synthetic", "column shapes",
                        "pair trends", "detection AUC", "quality"]))
    return result


def register(g: Groups) -> None:
    p = g.sub.add_parser(
        "segment", parents=[g.common], help="segment customers and profile the segments",
        description="Customer segments from a store table: RFM, tenure, basket breadth and "
        "attributes, scaled; k-means (k by silhouette), a Gaussian mixture (k by BIC) or "
        "RFM cells. Writes the model, assignments (parquet and the store tables segments "
        "and segment_features), profiles and an HTML report into --out.")
    p.add_argument("--table", required=True, choices=TABLES,
                   help="customers from interactions (+ users' attributes), users, "
                        "transactions (a purchase log) or customers (telco accounts)")
    p.add_argument("--out", required=True, type=Path, help="folder for the run's outputs")
    p.add_argument("--k", default="auto", help="segments: auto (chosen over 2..10) or N >= 2")
    p.add_argument("--method", choices=METHODS, default="kmeans",
                   help="kmeans | gmm | rfm (named RFM cells; no k)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--as-of", default=None, metavar="DATE",
                   help="compute recency, frequency, ... from the events up to DATE "
                        "(default: the data's last event), e.g. the end of last month")
    p.set_defaults(func=cmd_segment)

    p = g.score.add_parser("segment", parents=[g.common], help="assign customers to segments",
                           description="The segment of every customer of a store table, by "
                           "a saved `genlift segment` run (new customers included).")
    p.add_argument("--model", required=True, type=Path, help="the --out folder of "
                                                              "`genlift segment`")
    p.add_argument("--table", required=True, choices=TABLES, help="store table to assign")
    p.add_argument("--out", required=True, type=Path, help="parquet file to write")
    p.add_argument("--as-of", default=None, metavar="DATE",
                   help="the customers' features as of DATE (default: the last event)")
    p.set_defaults(func=cmd_score_segment)

    p = g.evaluate.add_parser(
        "segments", parents=[g.common], help="per-segment fidelity of synthetic customers",
        description="Score a tabular generator fitted on segment_features (`genlift augment "
        "fit tabular --table segment_features`) segment by segment: synthetic customers "
        "sampled with segment=S against that segment's held-out real customers, with the "
        "tabular scorecard (column shapes, pair trends, detection AUC).")
    p.add_argument("--model", "--generator", dest="generator", required=True, type=Path,
                   help="the --out folder of `genlift augment fit tabular`")
    p.add_argument("--n-samples", "-n", dest="n_samples", type=int, default=500,
                   help="synthetic customers per segment")
    p.add_argument("--segment", action="append", default=None,
                   help="only this segment (repeatable; default every segment)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=cmd_evaluate_segments)
