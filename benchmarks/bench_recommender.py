"""Recommender speed, side by side with raw implicit and the machine's GEMM bound.

1. ALS fit time through genlift vs raw ``implicit`` on the same matrix (overhead).
2. Batch scoring throughput (users/s, the scoring job's block-wise top-k with seen items
   removed: `serving.jobs.scoring.recommend_block`) against
   the dense GEMM bound ``2 * users * items * factors`` FLOP at this machine's measured
   float32 GEMM rate.
3. FAISS IVF / HNSW recall@10 vs queries/s over the item factors, against the exact
   flat index.
4. ``--scale``: a power-law simulated catalogue (default 1,000,000 users x 100,000 items,
   64 factors), fit + score + peak memory.

    python -m benchmarks.bench_recommender [--users 200000 --items 20000] [--scale]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from benchmarks.common import peak_rss_mb, timed, write_results
from engine.recommenders import ALSRecommender
from engine.recommenders.retrieval import ItemIndex, recall_vs_exact
from features.matrix import InteractionMatrix
from serving.jobs.scoring import recommend_block


def power_law_matrix(users: int, items: int, per_user: float, seed: int = 0
                     ) -> InteractionMatrix:
    """Interactions with Zipf-like item popularity and log-normal user activity."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(1, rng.lognormal(np.log(per_user), 0.8, users).astype(np.int64))
    total = int(counts.sum())
    pop = 1.0 / np.arange(1, items + 1) ** 0.9
    cols = rng.choice(items, size=total, p=pop / pop.sum())
    rows = np.repeat(np.arange(users), counts)
    m = sp.csr_matrix((np.ones(total, dtype=np.float32), (rows, cols)), shape=(users, items))
    m.sum_duplicates()
    m.data[:] = 1.0
    width = len(str(max(users, items)))
    return InteractionMatrix(m, np.array([f"u{i:0{width}d}" for i in range(users)],
                                         dtype=object),
                             np.array([f"i{i:0{width}d}" for i in range(items)], dtype=object))


def gemm_flops(d: int, items: int, block: int = 4096) -> float:
    """Measured float32 GEMM rate (FLOP/s) for a (block x d) @ (d x items) product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((block, d), dtype=np.float32)
    b = rng.standard_normal((d, items), dtype=np.float32)
    t, _ = timed(lambda: a @ b, repeat=5)
    return 2.0 * block * d * items / t


def bench_fit(matrix: InteractionMatrix, factors: int, iterations: int) -> dict[str, Any]:
    from implicit.cpu.als import AlternatingLeastSquares

    def raw() -> None:
        with threadpool_limits(1, "blas"):
            AlternatingLeastSquares(factors=factors, iterations=iterations, random_state=0,
                                    calculate_training_loss=False).fit(matrix.matrix,
                                                                       show_progress=False)

    def ours() -> None:
        ALSRecommender(factors=factors, iterations=iterations, random_state=0,
                       use_gpu=False).fit(matrix)

    t_raw, _ = timed(raw, repeat=3)
    t_ours, _ = timed(ours, repeat=3)
    return {"implicit_fit_s": round(t_raw, 3), "genlift_fit_s": round(t_ours, 3),
            "overhead_pct": round(100 * (t_ours / t_raw - 1), 1)}


def bench_scoring(model: ALSRecommender, users: int, block: int = 4096) -> dict[str, Any]:
    ids = model.user_ids_[:users]

    def score_all() -> None:
        for lo in range(0, len(ids), block):
            recommend_block(model, ids[lo:lo + block], 10, exclude_seen=True)

    t, _ = timed(score_all, repeat=3)  # best of 3, as the GEMM rate it is compared with
    n_items, d = model.item_factors_.shape
    flops = gemm_flops(d, n_items, block)
    bound = flops / (2.0 * n_items * d)
    rate = len(ids) / t
    return {"scored_users": len(ids), "score_s": round(t, 3), "users_per_s": round(rate),
            "gemm_gflops": round(flops / 1e9, 2), "gemm_bound_users_per_s": round(bound),
            "share_of_bound": round(rate / bound, 3)}


def bench_faiss(model: ALSRecommender, queries: int = 2000) -> list[dict[str, Any]]:
    items = model.item_factors_.astype(np.float32)
    q = model.user_factors_[:queries].astype(np.float32)
    rows = []
    configs: list[tuple[str, dict[str, Any]]] = [("flat", {})]
    nlist = int(max(16, min(4096, 4 * np.sqrt(len(items)))))
    configs += [("ivf", {"nlist": nlist, "nprobe": p}) for p in (1, 4, 16, 64)]
    configs += [("hnsw", {"hnsw_m": 32, "ef_search": e}) for e in (16, 64, 256)]
    for kind, params in configs:
        index = ItemIndex(kind=kind, use_gpu=False, **params).fit(items)
        t, _ = timed(lambda index=index: index.search(q, 10), repeat=3)
        recall = recall_vs_exact(index, q, 10) if kind != "flat" else 1.0
        rows.append({"index": kind, **params, "recall_at_10": round(float(recall), 4),
                     "queries_per_s": round(len(q) / t)})
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--per-user", type=float, default=20.0)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--scale", action="store_true", help="also the 1M x 100k scale run")
    ap.add_argument("--scale-only", action="store_true",
                    help="only the scale run, written to results/recommender_scale.*")
    args = ap.parse_args(argv)
    if args.scale_only:
        sc = scale_run()
        text = (f"Scale run: {sc['users']:,} users x {sc['items']:,} items, "
                f"{sc['interactions']:,} interactions, {sc['factors']} factors: ALS fit "
                f"{sc['fit_s']} s ({sc['iterations']} iterations), top-10 scoring "
                f"{sc['users_per_s']:,} users/s, peak RSS {sc['peak_rss_mb']:,} MB.")
        write_results("recommender_scale", {"scale": sc}, text)
        print(text)
        return

    matrix = power_law_matrix(args.users, args.items, args.per_user)
    payload: dict[str, Any] = {"users": args.users, "items": args.items,
                               "interactions": int(matrix.matrix.nnz),
                               "factors": args.factors, "iterations": args.iterations}
    payload["fit"] = bench_fit(matrix, args.factors, args.iterations)
    model = ALSRecommender(factors=args.factors, iterations=args.iterations, random_state=0,
                           use_gpu=False).fit(matrix)
    payload["scoring"] = bench_scoring(model, min(args.users, 50_000))
    payload["faiss"] = bench_faiss(model)
    if args.scale:
        payload["scale"] = scale_run()
    payload["peak_rss_mb"] = round(peak_rss_mb(), 1)
    f, s = payload["fit"], payload["scoring"]
    lines = [
        f"Matrix: {args.users:,} users x {args.items:,} items, {matrix.matrix.nnz:,} "
        f"interactions (power law), {args.factors} factors, {args.iterations} iterations.",
        "",
        "| measure | genlift | peer | ratio |", "|---|---:|---:|---:|",
        f"| ALS fit (s) | {f['genlift_fit_s']} | implicit {f['implicit_fit_s']} | "
        f"{f['genlift_fit_s'] / f['implicit_fit_s']:.2f}x (overhead {f['overhead_pct']}%) |",
        f"| batch top-10 scoring (users/s) | {s['users_per_s']:,} | GEMM bound "
        f"{s['gemm_bound_users_per_s']:,} ({s['gemm_gflops']} GFLOP/s) | "
        f"{s['share_of_bound']:.0%} of bound |",
        "", "| FAISS index | params | recall@10 vs exact | queries/s |", "|---|---|---:|---:|",
    ]
    for r in payload["faiss"]:
        params = ", ".join(f"{k}={v}" for k, v in r.items()
                           if k not in ("index", "recall_at_10", "queries_per_s"))
        lines.append(f"| {r['index']} | {params or '-'} | {r['recall_at_10']} | "
                     f"{r['queries_per_s']:,} |")
    if "scale" in payload:
        sc = payload["scale"]
        lines += ["", f"Scale run: {sc['users']:,} users x {sc['items']:,} items, "
                      f"{sc['interactions']:,} interactions, {sc['factors']} factors: fit "
                      f"{sc['fit_s']} s ({sc['iterations']} iterations), scoring "
                      f"{sc['users_per_s']:,} users/s, peak RSS {sc['peak_rss_mb']:,} MB."]
    table = "\n".join(lines)
    write_results("recommender", payload, table)
    print(table)


def scale_run(users: int = 1_000_000, items: int = 100_000, factors: int = 64,
              iterations: int = 3) -> dict[str, Any]:
    matrix = power_law_matrix(users, items, 15.0, seed=1)
    start = time.perf_counter()
    model = ALSRecommender(factors=factors, iterations=iterations, random_state=0,
                           use_gpu=False).fit(matrix)
    fit_s = time.perf_counter() - start
    sample = model.user_ids_[:100_000]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for lo in range(0, len(sample), 4096):
            items_, scores, _ = recommend_block(model, sample[lo:lo + 4096], 10)
            pd.DataFrame({"item_id": items_.ravel(), "score": scores.ravel()}).to_parquet(
                Path(tmp) / f"part-{lo}.parquet")
        score_s = time.perf_counter() - start
    return {"users": users, "items": items, "interactions": int(matrix.matrix.nnz),
            "factors": factors, "iterations": iterations, "fit_s": round(fit_s, 1),
            "users_per_s": round(len(sample) / score_s), "peak_rss_mb": round(peak_rss_mb())}


if __name__ == "__main__":
    main()
