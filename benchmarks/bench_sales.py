"""Synthetic sales windows on real data: fidelity against a held-out period.

Dominick's refrigerated orange juice (``dominicks-oj``: 83 stores x 11 brands, weekly).
Every method sees the weeks before ``--cutoff`` only and produces ``--windows`` windows of
12 weeks; they are compared with all 12-week windows of the held-out weeks (starting every
4 weeks), which none of them saw:

- ``w1_log_units``: Wasserstein-1 distance of log1p(units), pooled;
- ``acf1_w1``: Wasserstein-1 distance of the per-window lag-1 autocorrelation of log1p(units);
- ``promo_uplift`` / ``elasticity``: exp(promo coefficient) and log-price slope of a
  within-series (store x item fixed effects) regression of log1p(units) on log price,
  promo and feat; ``*_err`` is the absolute error against the held-out real value
  (log-ratio for the uplift);
- ``w1_vs_train``: Wasserstein-1 distance of log1p(units) to the training rows (what the
  methods are fit to; the held-out distance also contains the period shift);
- ``copy_corr``: correlation of the synthetic log units with the real training log units
  of the week whose covariates they copy (1 = a copy of the training data; lower is more
  novel).

Methods: the generator (``ar`` and ``vae``), and the naive baselines ``jitter_copy``
(real training windows, units x lognormal(0, 0.2)) and ``resid_bootstrap`` (real training
covariates, units = the training fixed-effects regression fit + the residuals of another
random training window, so autocorrelation and tails are kept). ``train_copy`` (the real
training windows themselves) shows the distance due to the period shift alone.

    python -m benchmarks.bench_sales [--windows 5000] [--epochs 60] [--cutoff 1992-01-01]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from augment.quality_paths import markdown_table
from augment.sales import SalesWindowGenerator, lag1_acf
from benchmarks.common import parse_torch_args, peak_rss_mb, write_results
from features.datasets import fetch

LENGTH = 12
KEYS = ["store_id", "item_id", "date"]


def real_windows(sales: pd.DataFrame, length: int, stride: int) -> pd.DataFrame:
    """All runs of ``length`` consecutive weeks of each series (starting every ``stride``
    weeks of a run), in the sample format with ``window_id``."""
    s = sales.sort_values(KEYS).reset_index(drop=True)
    new_run = (s["store_id"] != s["store_id"].shift()) | (s["item_id"] != s["item_id"].shift()) \
        | (s["date"].diff() != pd.Timedelta(days=7))
    run = new_run.cumsum().to_numpy()
    pos = s.groupby(run).cumcount().to_numpy()
    run_len = np.bincount(run)[run]
    starts = np.flatnonzero((pos % stride == 0) & (pos + length <= run_len))
    rows = (starts[:, None] + np.arange(length)).ravel()
    out = s.iloc[rows].reset_index(drop=True)
    out["window_id"] = np.repeat(np.arange(len(starts)), length)
    return out


def fe_fit(frame: pd.DataFrame) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Within-series OLS of log1p(units) on [log price, promo, feat]: (coefficients,
    series intercepts, residuals)."""
    d = frame.assign(y=np.log1p(frame["units"]), lp=np.log(frame["price"]))
    cols = ["y", "lp", "promo", "feat"]
    means = d.groupby(["store_id", "item_id"])[cols].transform("mean")
    dm = d[cols] - means
    coef, *_ = np.linalg.lstsq(dm[["lp", "promo", "feat"]].to_numpy(), dm["y"].to_numpy(),
                               rcond=None)
    x = d[["lp", "promo", "feat"]].to_numpy()
    intercept = (d["y"] - x @ coef).groupby([d["store_id"], d["item_id"]]).mean()
    resid = dm["y"].to_numpy() - dm[["lp", "promo", "feat"]].to_numpy() @ coef
    return coef, intercept, resid


def scorecard(windows: pd.DataFrame, real: pd.DataFrame, train: pd.DataFrame,
              length: int) -> dict[str, float]:
    y_syn = np.log1p(windows["units"].to_numpy(dtype=float))
    y_real = np.log1p(real["units"].to_numpy(dtype=float))
    coef_s, _, _ = fe_fit(windows)
    coef_r, _, _ = fe_fit(real)
    train_y = np.log1p(train.set_index(KEYS)["units"])
    copied = train_y.reindex(pd.MultiIndex.from_frame(windows[KEYS])).to_numpy()
    ok = np.isfinite(copied)
    copy_corr = float(np.corrcoef(y_syn[ok], copied[ok])[0, 1]) if ok.sum() > 2 else np.nan
    y_train = np.log1p(train["units"].to_numpy(dtype=float))
    return {
        "w1_log_units": float(stats.wasserstein_distance(y_real, y_syn)),
        "acf1_w1": float(stats.wasserstein_distance(lag1_acf(y_real.reshape(-1, length)),
                                                    lag1_acf(y_syn.reshape(-1, length)))),
        "acf1_mean": float(lag1_acf(y_syn.reshape(-1, length)).mean()),
        "promo_uplift": float(np.exp(coef_s[1])),
        "promo_uplift_err": float(abs(coef_s[1] - coef_r[1])),
        "elasticity": float(coef_s[0]),
        "elasticity_err": float(abs(coef_s[0] - coef_r[0])),
        "copy_corr": copy_corr,
        "w1_vs_train": float(stats.wasserstein_distance(y_train, y_syn)),
    }


def baseline_sampler(train: pd.DataFrame, kind: str) -> Callable[[int, int], pd.DataFrame]:
    """A sampler ``(n, seed) -> windows`` of the naive baselines."""
    pool = real_windows(train, LENGTH, 1)
    n_pool = pool["window_id"].nunique()
    coef, intercept, _ = fe_fit(train)
    if kind == "resid_bootstrap":
        x = pool[["price", "promo", "feat"]].to_numpy().copy()
        x[:, 0] = np.log(x[:, 0])
        key = pd.MultiIndex.from_frame(pool[["store_id", "item_id"]])
        fitted = intercept.reindex(key).to_numpy() + x @ coef
        resid = (np.log1p(pool["units"].to_numpy()) - fitted).reshape(n_pool, LENGTH)
        fitted = fitted.reshape(n_pool, LENGTH)

    def sample(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, n_pool, n)
        rows = (pick[:, None] * LENGTH + np.arange(LENGTH)).ravel()
        out = pool.iloc[rows].reset_index(drop=True)
        out["window_id"] = np.repeat(np.arange(n), LENGTH)
        if kind == "jitter_copy":
            out["units"] = np.round(out["units"] * np.exp(rng.normal(0, 0.2, len(out))))
        elif kind == "resid_bootstrap":
            donor = rng.integers(0, n_pool, n)
            y = fitted[pick] + resid[donor]
            out["units"] = np.maximum(np.round(np.expm1(y)), 0).ravel()
        return out

    return sample


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--windows", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--cutoff", default="1992-01-01")
    args = parse_torch_args(ap, argv)

    sales = fetch("dominicks-oj")["sales"][[*KEYS, "units", "price", "promo", "feat"]]
    cutoff = pd.Timestamp(args.cutoff)
    train, test = sales[sales["date"] < cutoff], sales[sales["date"] >= cutoff]
    real = real_windows(test, LENGTH, 4)
    logging.info("train %d rows, held-out %d rows -> %d real windows", len(train), len(test),
                 real["window_id"].nunique())

    cards: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, Any]] = {}
    for model in ("ar", "vae"):
        gen = SalesWindowGenerator(model=model, window=LENGTH, epochs=args.epochs, patience=10,
                                   n_val_windows=1024, random_state=args.seed)
        logging.info("fitting %s", gen)
        gen.fit(train)
        start = time.perf_counter()
        windows = gen.sample(args.windows, random_state=args.seed + 1)
        sample_s = time.perf_counter() - start
        cards[model] = scorecard(windows, real, train, LENGTH)
        runs[model] = {"fit_seconds": gen.fit_seconds_, "sample_seconds": sample_s,
                       "windows_per_second": args.windows / sample_s,
                       "epochs_run": len(gen.history_), "best_epoch": gen.best_epoch_,
                       "best_val_score": gen.best_score_, "df": float(gen.net_.df()),
                       "params": {k: v for k, v in gen.get_params().items() if k != "callback"}}
        logging.info("%s: %s %s", model, runs[model], cards[model])
    for kind in ("jitter_copy", "resid_bootstrap", "train_copy"):
        start = time.perf_counter()
        sampler = baseline_sampler(train, kind)
        windows = sampler(args.windows, args.seed + 1)
        cards[kind] = scorecard(windows, real, train, LENGTH)
        runs[kind] = {"fit_seconds": 0.0, "sample_seconds": time.perf_counter() - start}
    cards["real_heldout"] = scorecard(real, real, train, LENGTH)

    frame = pd.DataFrame(cards).T
    frame["fit_s"] = [runs.get(n, {}).get("fit_seconds", float("nan")) for n in frame.index]
    frame["windows_per_s"] = [runs.get(n, {}).get("windows_per_second", float("nan"))
                              for n in frame.index]
    lines = [
        f"# Synthetic sales windows (dominicks-oj, train < {args.cutoff}, held-out after)",
        "",
        f"{args.windows} windows of {LENGTH} weeks per method vs "
        f"{real['window_id'].nunique()} held-out real windows; lower is better for w1, "
        "*_err and copy_corr; `real_heldout` is the target. "
        "`python -m benchmarks.bench_sales`",
        "",
        markdown_table(frame, digits=3),
        "",
    ]
    table = "\n".join(lines)
    payload = {"cutoff": args.cutoff, "n_windows": args.windows, "length": LENGTH,
               "seed": args.seed, "n_real_heldout_windows": int(real["window_id"].nunique()),
               "train_rows": len(train), "heldout_rows": len(test), "scorecards": cards,
               "runs": runs, "peak_rss_mb": peak_rss_mb(), "torch_threads": args.threads}
    out = write_results("sales", payload, table)
    print(table)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
