"""Scale-out on Dask against one process, on this machine (the README's scale plan).

1. Batch scoring (`serving.jobs.scoring.score_recommend`, top-10, parquet parts written):
   users/s for a MovieLens-100k-sized ALS model (943 users x 1,682 items) and a larger
   synthetic one (default 100,000 users x 20,000 items, power-law interactions), in this
   process vs on a ``local:N`` cluster (the cluster already up; its start-up is reported
   on its own line).
2. Demand training (`DemandModel.fit` vs `engine.demand.distributed.fit_dask`): sales rows/s.
3. Copula sampling (`augment.partitioned.sample_partitioned`): rows/s in this process, and
   on the cluster with 1 and with N partitions.

On a machine whose cores are all busy, a cluster only adds process hops: the numbers say
what the Dask path costs here, and what it buys where there are more cores or machines.

    python -m benchmarks.bench_scale [--users 100000 --items 20000 --workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.copula import GaussianCopula
from augment.partitioned import sample_partitioned
from benchmarks.bench_recommender import power_law_matrix
from benchmarks.common import peak_rss_mb, write_results
from engine.demand import DemandModel
from engine.demand.distributed import fit_dask
from engine.recommenders import ALSRecommender
from features.artifacts import write_json_atomic
from features.store import Store
from serving.jobs.cluster import connect
from serving.jobs.scoring import score_recommend


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def model_folder(root: Path, users: int, items: int, per_user: float, factors: int) -> Path:
    """A `genlift train recs`-style folder (model/ + train.json) of an ALS model."""
    matrix = power_law_matrix(users, items, per_user)
    rec = ALSRecommender(factors=factors, iterations=2, random_state=0,
                         use_gpu=False).fit(matrix)
    folder = root / f"als-{users}x{items}"
    rec.save(folder / "model")
    write_json_atomic({"run_id": f"bench-{users}x{items}", "model": "als"},
                      folder / "train.json")
    return folder


def bench_scoring(store: Store, folder: Path, root: Path, client: Any, users: int,
                  repeat: int) -> dict[str, Any]:
    def run(client: Any) -> None:
        out = root / "out"
        shutil.rmtree(out, ignore_errors=True)
        score_recommend(store, folder, out, top_k=10, show_progress=False, client=client)

    run(client)  # warm: the workers load (and cache) the model once per process
    local_s = best_of(lambda: run(None), repeat)
    cluster_s = best_of(lambda: run(client), repeat)
    return {"users": users, "local_s": round(local_s, 3),
            "local_users_per_s": round(users / local_s),
            "cluster_s": round(cluster_s, 3),
            "cluster_users_per_s": round(users / cluster_s)}


def sales_frame(series: int, weeks: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.date_range("2020-01-02", periods=weeks, freq="7D")
    n = series * weeks
    base = np.repeat(rng.lognormal(3.0, 1.0, series), weeks)
    price = rng.uniform(1.0, 2.0, n)
    promo = (rng.random(n) < 0.2).astype(float)
    return pd.DataFrame({
        "store_id": np.repeat([f"s{i % 20}" for i in range(series)], weeks),
        "item_id": np.repeat([f"i{i // 20}" for i in range(series)], weeks),
        "date": np.tile(dates, series), "price": price, "promo": promo, "feat": 0.0,
        "units": rng.poisson(base * (1.0 + promo) / price).astype(float)})


def bench_demand(client: Any, series: int, weeks: int) -> dict[str, Any]:
    sales = sales_frame(series, weeks)
    # n_jobs=1: one LightGBM thread, as each worker has; with OpenMP's default (all
    # cores) a busy 2-core machine spends its time in threads spinning at barriers.
    params: dict[str, Any] = {"horizon": 2, "quantiles": (0.1, 0.5, 0.9),
                              "n_estimators": 100, "n_jobs": 1}
    local_s = best_of(lambda: DemandModel(**params).fit(sales), 1)
    dask_s = best_of(lambda: fit_dask(DemandModel(**params), sales, client=client), 1)
    return {"sales_rows": len(sales), "series": series, "weeks": weeks, **params,
            "boosters": 2 * 4, "local_s": round(local_s, 2),
            "local_rows_per_s": round(len(sales) / local_s),
            "dask_s": round(dask_s, 2), "dask_rows_per_s": round(len(sales) / dask_s)}


def bench_sampling(client: Any, root: Path, n: int, workers: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(20, 70, 5000),
                          "amount": rng.gamma(2.0, 1000.0, 5000),
                          "income": rng.lognormal(10, 0.5, 5000),
                          "housing": rng.choice(["own", "rent", "free"], 5000),
                          "default": rng.integers(0, 2, 5000)})
    folder = GaussianCopula(random_state=0).fit(frame).save(root / "copula")
    chunk = max(1, n // 20)
    sample_partitioned(folder, chunk, 0, client=client, chunk_rows=chunk)  # workers load it
    out: dict[str, Any] = {"rows": n, "chunk_rows": chunk}
    runs: list[tuple[str, dict[str, Any]]] = [
        ("local", {}), ("cluster_1_partition", {"partitions": 1, "client": client}),
        (f"cluster_{workers}_partitions", {"partitions": workers, "client": client})]
    for label, kwargs in runs:
        def draw(kwargs: dict[str, Any] = kwargs) -> None:
            sample_partitioned(folder, n, 0, chunk_rows=chunk, **kwargs)

        t = best_of(draw, 2)
        out[f"{label}_s"] = round(t, 3)
        out[f"{label}_rows_per_s"] = round(n / t)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2, help="local:N cluster size")
    ap.add_argument("--series", type=int, default=200, help="demand: store x item series")
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--sample-rows", type=int, default=1_000_000)
    args = ap.parse_args(argv)

    payload: dict[str, Any] = {"workers": args.workers, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ml = model_folder(root, 943, 1682, 106.0, args.factors)
        big = model_folder(root, args.users, args.items, 25.0, args.factors)
        start = time.perf_counter()
        with connect(f"local:{args.workers}") as client:
            payload["cluster_start_s"] = round(time.perf_counter() - start, 2)
            with Store(root / "s.duckdb") as store:
                payload["scoring"] = [
                    {"model": "ml-100k-sized", "items": 1682,
                     **bench_scoring(store, ml, root, client, 943, 3)},
                    {"model": "synthetic", "items": args.items,
                     **bench_scoring(store, big, root, client, args.users, 1)}]
            payload["demand"] = bench_demand(client, args.series, args.weeks)
            payload["sampling"] = bench_sampling(client, root, args.sample_rows,
                                                 args.workers)
    payload["load_after"] = os.getloadavg()[0]
    payload["peak_rss_mb"] = round(peak_rss_mb(), 1)

    w = args.workers
    lines = [f"One process vs a `local:{w}` Dask cluster ({w} worker processes x 1 thread) "
             f"on {os.cpu_count()} cores; cluster start-up {payload['cluster_start_s']} s "
             f"(not in the times below). Load average {payload['load_before']:.1f} before, "
             f"{payload['load_after']:.1f} after.", "",
             "| job | size | one process | cluster | cluster / one |", "|---|---|---:|---:|---:|"]
    for s in payload["scoring"]:
        lines.append(f"| score recommend, top-10 (users/s) | {s['model']}: {s['users']:,} "
                     f"users x {s['items']:,} items, {args.factors} factors | "
                     f"{s['local_users_per_s']:,} | {s['cluster_users_per_s']:,} | "
                     f"{s['cluster_users_per_s'] / s['local_users_per_s']:.2f} |")
    d = payload["demand"]
    lines.append(f"| train demand (sales rows/s) | {d['sales_rows']:,} rows, horizon 2, "
                 f"point + 3 quantiles, {d['n_estimators']} rounds, 1 thread per process | "
                 f"{d['local_rows_per_s']:,} | {d['dask_rows_per_s']:,} (lightgbm.dask) | "
                 f"{d['dask_rows_per_s'] / d['local_rows_per_s']:.2f} |")
    sm = payload["sampling"]
    for label in ("cluster_1_partition", f"cluster_{w}_partitions"):
        lines.append(f"| copula sampling (rows/s) | {sm['rows']:,} rows, "
                     f"{label.replace('cluster_', '').replace('_', ' ')} | "
                     f"{sm['local_rows_per_s']:,} | {sm[label + '_rows_per_s']:,} | "
                     f"{sm[label + '_rows_per_s'] / sm['local_rows_per_s']:.2f} |")
    table = "\n".join(lines)
    write_results("scale", payload, table)
    print(table)


if __name__ == "__main__":  # spawned workers import this module: no work at import
    main()
