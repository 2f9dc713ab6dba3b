"""Tabular generators side by side with the `ctgan` package, in one run.

On german-credit applicants and MovieLens users: genlift's GaussianCopula, TabularVAE
and TabularGAN against ctgan's CTGAN and TVAE, all with the same epoch budget and the
same torch thread count. Each is fitted on 80% of the rows and judged on the other 20%
by an independent judge (SDMetrics' QualityReport) and by our detection AUC.

    python -m benchmarks.bench_augment [--epochs 150] [--rows 100000]

Needs the bench extra (`pip install -e '.[bench]'`: ctgan, sdmetrics).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from augment.copula import GaussianCopula
from augment.quality import detection_auc
from augment.tabular import TabularGAN, TabularVAE
from benchmarks.common import peak_rss_mb, write_results
from features.datasets import fetch


def datasets() -> dict[str, pd.DataFrame]:
    apps = fetch("german-credit")["applicants"].drop(columns=["applicant_id"])
    users = fetch("movielens-100k")["users"].drop(columns=["user_id"])
    users["age"] = users["age"].astype(int)
    return {"german-credit": apps, "movielens-users": users}


def discrete(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
            or frame[c].nunique() <= 2]


def metadata(frame: pd.DataFrame) -> dict[str, Any]:
    cats = set(discrete(frame))
    return {"columns": {c: {"sdtype": "categorical" if c in cats else "numerical"}
                        for c in frame.columns}}


def sdv_quality(real: pd.DataFrame, synth: pd.DataFrame) -> float:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(real, synth[real.columns], metadata(real), verbose=False)
    return float(report.get_score())


def run_ours(name: str, train: pd.DataFrame, epochs: int, seed: int) -> tuple[Any, int]:
    model: Any
    if name == "genlift GaussianCopula":
        model = GaussianCopula(random_state=seed)
    elif name == "genlift TabularVAE":
        model = TabularVAE(epochs=epochs, random_state=seed)
    else:
        model = TabularGAN(epochs=epochs, random_state=seed)
    model.fit(train)
    return (lambda n: model.sample(n, random_state=seed + 1).drop(columns="is_synthetic"),
            len(getattr(model, "history_", [])))


def run_ctgan(name: str, train: pd.DataFrame, epochs: int, seed: int) -> tuple[Any, int]:
    from ctgan import CTGAN, TVAE

    torch.manual_seed(seed)  # ctgan draws from the global generators
    np.random.seed(seed)  # noqa: NPY002 - the peer reads the legacy global state
    model = (CTGAN if name == "ctgan CTGAN" else TVAE)(epochs=epochs)
    model.fit(train, discrete_columns=discrete(train))
    return model.sample, epochs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--rows", type=int, default=100_000, help="rows sampled for the rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None, help="subset of model names")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    torch.set_num_threads(1)  # genlift's default (GENLIFT_TORCH_THREADS=1): same for ctgan
    # The first torch optimizer imports torch._dynamo (seconds, once per process): take it
    # here so that it is not charged to whichever model happens to be timed first.
    importlib.import_module("torch._dynamo")
    models = {"genlift GaussianCopula": run_ours, "genlift TabularVAE": run_ours,
              "genlift TabularGAN": run_ours, "ctgan TVAE": run_ctgan, "ctgan CTGAN": run_ctgan}
    if args.only:
        models = {k: v for k, v in models.items() if k in args.only}
    results: list[dict[str, Any]] = []
    for data_name, frame in datasets().items():
        rng = np.random.default_rng(args.seed)
        order = rng.permutation(len(frame))
        cut = int(0.8 * len(frame))
        train = frame.iloc[order[:cut]].reset_index(drop=True)
        test = frame.iloc[order[cut:]].reset_index(drop=True)
        for model_name, runner in models.items():
            start = time.perf_counter()
            sampler, epochs_run = runner(model_name, train, args.epochs, args.seed)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            big = sampler(args.rows)
            rate = args.rows / (time.perf_counter() - start)
            synth = big.iloc[: len(train)].reset_index(drop=True)
            row = {"dataset": data_name, "model": model_name, "epochs_budget": args.epochs,
                   "epochs_run": epochs_run, "fit_s": round(fit_s, 2),
                   "sample_rows_per_s": round(rate),
                   # the usual SDMetrics reading: synthetic vs the data it learned from
                   "sdmetrics_quality": round(sdv_quality(train, synth), 4),
                   # the stricter one: vs real rows the generator never saw
                   "sdmetrics_quality_holdout": round(sdv_quality(test, synth), 4),
                   "detection_auc": round(detection_auc(test, synth), 4)}
            results.append(row)
            print(row, flush=True)
    for row in results:  # fit-time ratio against ctgan's CTGAN on the same data
        ref = next((r for r in results if r["dataset"] == row["dataset"]
                    and r["model"] == "ctgan CTGAN"), None)
        row["ctgan_fit_s_over_this"] = round(ref["fit_s"] / row["fit_s"], 1) if ref else None
    header = ("| dataset | model | epochs run / budget | fit s | CTGAN fit / this | "
              "sample rows/s | SDMetrics quality (vs train) | (vs held out) | "
              "detection AUC (held out) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [f"| {r['dataset']} | {r['model']} | {r['epochs_run']} / {r['epochs_budget']} | "
             f"{r['fit_s']} | {r['ctgan_fit_s_over_this']}x | {r['sample_rows_per_s']:,} | "
             f"{r['sdmetrics_quality']} | {r['sdmetrics_quality_holdout']} | "
             f"{r['detection_auc']} |" for r in results]
    table = "\n".join([header, *lines])
    write_results("augment", {"epochs": args.epochs, "rows_sampled": args.rows,
                              "torch_threads": 1, "results": results,
                              "peak_rss_mb": round(peak_rss_mb(), 1)}, table)
    print(table)


if __name__ == "__main__":
    main()
