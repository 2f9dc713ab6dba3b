"""ctgan's CTGAN or TVAE for benchmarks/bench_augment.py, run in the bench venv.

    python ctgan_fit.py --train train.parquet --params params.json --out FOLDER

``train``: ctgan's copy of the training table (numbers as floats without missing values,
every discrete column as strings); ``params``: ``model`` ("ctgan" or "tvae"), ``epochs``,
``seed``, ``discrete`` (the discrete columns), ``rows`` (how many rows to sample, 0 for a
fit only) and ``threads`` (torch threads, 1 as for genlift's generators).

Seeds torch's and numpy's global generators (ctgan draws from them), fits, samples
``rows`` rows and writes them to ``FOLDER/sample.parquet``; ``FOLDER/result.json`` has
the fit and sampling seconds, measured here, without the interpreter start and the
imports (torch._dynamo, which the first optimizer imports, is imported before the clock
starts, as bench_augment does for genlift's generators).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
import warnings
from pathlib import Path

import ctgan
import numpy as np
import pandas as pd
import torch
from ctgan import CTGAN, TVAE


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--params", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    params = json.loads(args.params.read_text())
    warnings.filterwarnings("ignore")
    torch.set_num_threads(int(params.get("threads", 1)))
    importlib.import_module("torch._dynamo")
    data = pd.read_parquet(args.train)
    discrete = list(params["discrete"])
    for col in discrete:
        data[col] = data[col].astype(str).astype(object)
    seed = int(params["seed"])

    start = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - ctgan reads the legacy global state
    model = (CTGAN if params["model"] == "ctgan" else TVAE)(epochs=int(params["epochs"]))
    model.fit(data, discrete_columns=discrete)
    fit_s = time.perf_counter() - start

    rows = int(params.get("rows", 0))
    frames: dict[str, str] = {}
    sample_s = 0.0
    if rows > 0:
        start = time.perf_counter()
        sample = model.sample(rows)
        sample_s = time.perf_counter() - start
        sample.to_parquet(args.out / "sample.parquet", index=False)
        frames["sample"] = "sample.parquet"
    version = getattr(ctgan, "__version__", "?")
    (args.out / "result.json").write_text(json.dumps({
        "note": f"ctgan {version} (torch {torch.__version__}, pandas {pd.__version__}, "
                "bench venv)",
        "frames": frames, "fit_s": fit_s, "sample_s": sample_s, "rows": rows,
        "versions": {"ctgan": version, "torch": torch.__version__,
                     "pandas": pd.__version__}}))


if __name__ == "__main__":
    main()
