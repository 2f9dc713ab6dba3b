"""Synthetic baskets on MovieLens-100k: the VAE and GAN decoders against a popularity baseline.

Users are split 80/20 (seeded). Each generator is fitted on the 80% (interactions plus
the users table: age, gender, occupation; zip_code is dropped), samples as many synthetic
users as there are held-out users, and the synthetic baskets are scored with
``basket_scorecard`` against the held-out 20% real baskets over the whole catalogue.

Two reference rows bracket the generators:

- ``popularity``: the naive baseline, items drawn without replacement with probability
  proportional to their training popularity, sizes from the training size distribution;
- ``real 80%``: real training users (as many as held-out users) scored the same way: the
  agreement two real samples of users reach, i.e. the ceiling.

    python -m benchmarks.bench_baskets [--epochs 100] [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch

from augment.baskets import BasketGenerator
from augment.quality_baskets import basket_scorecard
from benchmarks.common import peak_rss_mb, timed, write_results
from features.datasets import fetch

COLUMNS = [
    ("popularity_spearman", "pop. Spearman"), ("popularity_pearson", "pop. Pearson"),
    ("pmi_pearson", "PMI Pearson"), ("pair_coverage", "top pairs seen"),
    ("size_wasserstein", "size W1"), ("size_ks", "size KS"),
    ("coverage_synthetic", "coverage"), ("tail_share_synthetic", "tail share"),
]


def popularity_baseline(train: pd.DataFrame, n: int, rng: np.random.Generator
                        ) -> pd.DataFrame:
    """Items by training popularity (Gumbel top-k, without replacement), empirical sizes."""
    counts = train.drop_duplicates(["user_id", "item_id"])["item_id"].value_counts()
    sizes_pool = train.groupby("user_id")["item_id"].nunique().to_numpy()
    sizes = rng.choice(sizes_pool, n)
    logp = np.log(counts.to_numpy(dtype=float))
    scores = logp[None, :] + rng.gumbel(size=(n, len(counts)))
    order = np.argsort(-scores, axis=1)
    keep = np.arange(len(counts))[None, :] < sizes[:, None]
    return pd.DataFrame({"user_id": np.repeat(np.arange(n), sizes),
                         "item_id": counts.index.to_numpy()[order[keep]]})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (small networks run fastest on one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    tables = fetch("movielens-100k")
    inter, users = tables["interactions"], tables["users"]
    n_items = inter["item_id"].nunique()
    rng = np.random.default_rng(args.seed)
    ids = users["user_id"].to_numpy()
    test_ids = set(rng.choice(ids, size=len(ids) // 5, replace=False).tolist())
    is_test = inter["user_id"].isin(test_ids)
    train, test = inter[~is_test], inter[is_test]
    train_users = users[~users["user_id"].isin(test_ids)]
    n_test = len(test_ids)

    rows: dict[str, dict[str, Any]] = {}
    for model in ("vae", "gan"):
        # the GAN's validation fidelity dips for its first ~20 epochs before it climbs,
        # so it gets more patience and more (smaller) steps per epoch
        extra: dict[str, Any] = {"patience": 50, "batch_size": 64} if model == "gan" else {}
        gen = BasketGenerator(model=model, epochs=args.epochs, random_state=args.seed,
                              profile_columns=["age", "gender", "occupation"], **extra)
        gen.fit(train, train_users)
        t_sample, (_, synth) = timed(partial(gen.sample_users, n_test, random_state=1))
        t_big, _ = timed(partial(gen.sample_users, 10_000, random_state=2), repeat=1)
        rows[model] = {
            **basket_scorecard(test, synth, n_items=n_items),
            "fit_s": round(gen.fit_seconds_, 2),
            "epochs_run": len(gen.history_),
            "best_epoch": gen.best_epoch_,
            "best_val_fidelity": round(max(h["fidelity"] for h in gen.history_), 4),
            "users_per_s": round(10_000 / t_big),
            f"sample_{n_test}_s": round(t_sample, 3),
        }
    start = time.perf_counter()
    base = popularity_baseline(train, n_test, np.random.default_rng(args.seed))
    rows["popularity"] = {**basket_scorecard(test, base, n_items=n_items),
                          "fit_s": 0.0,
                          "users_per_s": round(n_test / (time.perf_counter() - start))}
    real_ids = rng.choice(train["user_id"].unique(), n_test, replace=False)
    rows["real 80%"] = basket_scorecard(test, train[train["user_id"].isin(real_ids)],
                                        n_items=n_items)

    payload = {
        "dataset": "movielens-100k",
        "train_users": int(train["user_id"].nunique()),
        "heldout_users": n_test,
        "n_items": n_items,
        "seed": args.seed,
        "epochs_max": args.epochs,
        "torch_threads": args.threads,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "results": {k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in r.items()}
                    for k, r in rows.items()},
    }
    head = "| generator | " + " | ".join(h for _, h in COLUMNS) + " | fit s | users/s |"
    lines = [head, "|---" + "|---:" * (len(COLUMNS) + 2) + "|"]
    for name, r in rows.items():
        cells = [f"{r[k]:.3f}" for k, _ in COLUMNS]
        fit = f"{r['fit_s']:.1f}" if "fit_s" in r else "-"
        ups = f"{r['users_per_s']:,}" if "users_per_s" in r else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fit} | {ups} |")
    real = rows["real 80%"]
    lines.append("")
    lines.append(f"MovieLens-100k, {payload['train_users']} training users, {n_test} held-out "
                 f"users scored, {n_items} items. Real held-out: mean basket size "
                 f"{real['size_mean_real']:.1f}, coverage {real['coverage_real']:.3f}, "
                 f"tail share {real['tail_share_real']:.3f}. torch threads: {args.threads}.")
    table = "\n".join(lines)
    write_results("baskets", payload, table)
    print(table)


if __name__ == "__main__":
    main()
