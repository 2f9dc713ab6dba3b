"""Tabular generators against ctgan's CTGAN and TVAE on four real tables, in one run.

Tables: german-credit (applicants), credit-data (loans), telco-churn (customers) and
medical-insurance (policies), each without its id column, split 80/20 with a fixed seed;
every generator fits on the 80% and is judged against the held-out 20%: column shapes,
pair trends, detection AUC (LightGBM, 5 folds, synthetic vs held-out real), TSTR / TRTR
(the same LightGBM trained on synthetic vs on real rows, tested on the held-out rows:
ROC AUC for default and churn, R^2 for charges), distance to closest record, membership
inference, exact copies of training rows, fit seconds and sampling speed.

Generators: genlift's copula, vae, gan, diffusion and auto (augment.registry; a name the
registry does not know is skipped with a note) and ctgan's CTGAN and TVAE, at their
defaults (300 epochs) and at "the same wall time as ours": epochs scaled so that the
ctgan fit takes about as long as genlift's best generator (lowest detection AUC) took on
that table. A second table says which of the issue's targets genlift's best meets.

    python -m benchmarks.bench_augment [--tables german-credit ...] [--models copula ...]
        [--peers ctgan tvae] [--epochs N] [--ctgan-epochs 300] [--no-same-time]
        [--rows 100000] [--seed 0] [--dry-run]

ctgan pins pandas below 3 (through rdt), so it runs in the peers' own venv (`make
bench-env`, or GENLIFT_BENCH_PYTHON), one subprocess per fit (benchmarks/peers/
ctgan_fit.py); its fit and sampling seconds are measured there, without the interpreter
start. Without that venv the ctgan rows are skipped with a note. ctgan takes no missing
numbers: its copy of the data gets the SDV treatment (a missing-value flag column per such
number, the gap filled with the median, put back as missing after sampling) and its
missing categories a "<NA>" level.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from augment.quality import drop_copies, is_number_column, tabular_scorecard, utility
from augment.registry import make_generator
from benchmarks.common import peak_rss_mb, write_results
from benchmarks.peers import bench_python, peer_missing, run_peer
from features.datasets import fetch
from features.schemas import schema_for

# name -> (dataset, store table, TSTR target)
TABLES = {"german-credit": ("german-credit", "applicants", "default"),
          "credit-data": ("credit-data", "loans", "default"),
          "telco-churn": ("telco-churn", "customers", "churn"),
          "medical-insurance": ("medical-insurance", "policies", "charges")}
OURS = ("copula", "vae", "gan", "diffusion", "auto")
PEERS = {"ctgan": "CTGAN", "tvae": "TVAE"}
# the targets for genlift's best generator on each table
TARGETS = {"detection_auc": 0.75, "column_shapes": 0.90, "tstr_ratio": 0.95,
           "membership_auc": 0.55, "ctgan_speedup": 10.0, "sample_rows_per_s": 200_000}

Sampler = Callable[[int], pd.DataFrame]
#: rows sampled by a generator and the seconds that took
Drawn = tuple[pd.DataFrame, float]


def load_table(name: str) -> pd.DataFrame | None:
    """The table without its id column; None (with a note) when it cannot be fetched."""
    dataset, table, target = TABLES[name]
    try:
        frame = fetch(dataset)[table]
        key = [k for k in schema_for(table).key if k in frame.columns]
    except Exception as exc:  # noqa: BLE001 - a dataset not added yet, offline, ...
        print(f"note: skipping {name}: {type(exc).__name__}: {exc}", flush=True)
        return None
    if target not in frame.columns:
        print(f"note: skipping {name}: no target column {target!r}", flush=True)
        return None
    return frame.drop(columns=key).reset_index(drop=True)


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80% training rows, 20% held-out real rows, by a seeded permutation."""
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = int(0.8 * len(frame))
    return (frame.iloc[order[:cut]].reset_index(drop=True),
            frame.iloc[order[cut:]].reset_index(drop=True))


def fit_ours(name: str, train: pd.DataFrame, epochs: int | None, seed: int
             ) -> tuple[Sampler, int | None]:
    """Fit genlift's ``name``; its sampler and the epochs it ran (None: not epoch-based)."""
    model = make_generator("tabular", name, random_state=seed, epochs=epochs)
    model.fit(train)
    history = getattr(model, "history_", [])
    return (lambda n: model.sample(n, random_state=seed + 1).drop(columns="is_synthetic"),
            len(history) or None)


def ctgan_frame(train: pd.DataFrame) -> tuple[pd.DataFrame, list[str],
                                              Callable[[pd.DataFrame], pd.DataFrame]]:
    """ctgan's copy of ``train``, its discrete columns, and the function that turns its
    samples back into ``train``'s columns (missing values restored)."""
    data = pd.DataFrame(index=train.index)
    discrete: list[str] = []
    flags: dict[str, str] = {}
    for col in train.columns:
        s = train[col]
        if is_number_column(s):
            x = pd.to_numeric(s, errors="coerce").astype(float)
            if x.isna().any():
                flags[col] = f"{col}__missing"
                data[flags[col]] = np.where(x.isna(), "yes", "no")
                discrete.append(flags[col])
                x = x.fillna(float(x.median()))
            data[col] = x
        else:
            data[col] = s.astype(object).where(s.notna(), "<NA>").astype(str)
            discrete.append(col)

    def restore(sample: pd.DataFrame) -> pd.DataFrame:
        out = sample.copy()
        for col, flag in flags.items():
            out[col] = out[col].where(out[flag] != "yes", np.nan)
        for col in train.columns:
            if not is_number_column(train[col]):
                out[col] = out[col].astype(str).replace("<NA>", None)
                if pd.api.types.is_numeric_dtype(train[col]) and \
                        not pd.api.types.is_bool_dtype(train[col]):
                    out[col] = pd.to_numeric(out[col], errors="coerce")
        return out[list(train.columns)]

    return data, discrete, restore


def fit_ctgan(name: str, train: pd.DataFrame, epochs: int, seed: int, rows: int = 0,
              timeout: float = 7200.0) -> tuple[float, Drawn | None]:
    """Fit ctgan's ``name`` ("ctgan" or "tvae") in the bench venv and sample ``rows``
    rows: the fit seconds and (the restored rows, their sampling seconds), None for
    ``rows=0``. Seconds are the peer's own (measured in its process) plus the time
    spent here on its copy of the data and on restoring the samples. Raises
    RuntimeError when the peer did not run."""
    start = time.perf_counter()
    data, discrete, restore = ctgan_frame(train)
    prep_s = time.perf_counter() - start
    run = run_peer("ctgan_fit.py", {"train": data, "params": {
        "model": name, "epochs": epochs, "seed": seed, "discrete": discrete, "rows": rows,
        "threads": torch.get_num_threads()}}, timeout=timeout)
    if not run.ok:
        raise RuntimeError(f"{run.note}\n{run.result.get('log', '')}".strip())
    fit_s = prep_s + float(run.result["fit_s"])
    if rows <= 0:
        return fit_s, None
    start = time.perf_counter()
    sample = restore(run.frames["sample"])
    return fit_s, (sample, float(run.result["sample_s"]) + time.perf_counter() - start)


def draw(sampler: Sampler, rows: int) -> Drawn:
    """``rows`` rows from ``sampler`` and the seconds that took."""
    start = time.perf_counter()
    big = sampler(rows)
    return big, time.perf_counter() - start


def judge(train: pd.DataFrame, test: pd.DataFrame, drawn: Drawn, rows: int,
          target: str, seed: int) -> dict[str, Any]:
    """Sampling speed of the ``rows`` rows drawn, then the scorecard and utility of the
    first len(train) of them against the held-out rows."""
    big, seconds = drawn
    rate = rows / max(seconds, 1e-9)
    synth = big.iloc[: len(train)].reset_index(drop=True)
    card = tabular_scorecard(train, test, synth, random_state=seed, detection_folds=5)
    kept, _ = drop_copies(train, synth)
    try:
        useful = utility(train, test, kept, target, random_state=seed)
    except ValueError as exc:  # e.g. every synthetic row was a copy
        print(f"note: no TSTR: {exc}", flush=True)
        useful = {"tstr": float("nan"), "trtr": float("nan"), "ratio": float("nan"),
                  "metric": ""}
    return {"sample_rows_per_s": round(rate), "copies": card["copies_dropped"],
            "column_shapes": card["column_shapes"], "pair_trends": card["pair_trends"],
            "detection_auc": card["detection_auc"],
            "detection_top_features": card["detection_top_features"][:3],
            "tstr": useful["tstr"], "trtr": useful["trtr"], "tstr_ratio": useful["ratio"],
            "utility_metric": useful["metric"], "dcr_ratio": card.get("dcr_ratio"),
            "share_closer_than_p5": card.get("share_closer_than_p5"),
            "membership_auc": card.get("membership_auc")}


def same_time_epochs(budget_s: float, one_epoch_s: float, full_s: float,
                     full_epochs: int) -> int:
    """Epochs that make a ctgan fit last about ``budget_s``: seconds per epoch from the
    full and the one-epoch fits (their difference), the fixed cost (data transformer)
    from the one-epoch fit."""
    per_epoch = (full_s - one_epoch_s) / (full_epochs - 1) if full_epochs > 1 else one_epoch_s
    per_epoch = max(per_epoch, 1e-6)
    overhead = max(0.0, one_epoch_s - per_epoch)
    return max(1, round((budget_s - overhead) / per_epoch))


def r4(v: Any) -> Any:
    return round(float(v), 4) if isinstance(v, float | np.floating) else v


def run_table(name: str, frame: pd.DataFrame, args: argparse.Namespace,
              have_ctgan: bool) -> list[dict[str, Any]]:
    train, test = split(frame, args.seed)
    target = TABLES[name][2]
    rows: list[dict[str, Any]] = []

    def record(model: str, epochs: Any, fit_s: float, drawn: Drawn) -> dict[str, Any]:
        row = {"table": name, "model": model, "epochs": epochs, "fit_s": round(fit_s, 2),
               **{k: r4(v) for k, v in judge(train, test, drawn, args.rows, target,
                                             args.seed).items()}}
        rows.append(row)
        print({k: v for k, v in row.items() if k != "detection_top_features"}, flush=True)
        return row

    for model in args.models:
        try:
            start = time.perf_counter()
            sampler, epochs_run = fit_ours(model, train, args.epochs, args.seed)
            fit_s = time.perf_counter() - start
            record(f"genlift {model}", epochs_run, fit_s, draw(sampler, args.rows))
        except Exception as exc:  # noqa: BLE001 - an unknown name, a failing model: note it
            print(f"note: skipping genlift {model} on {name}: {type(exc).__name__}: {exc}",
                  flush=True)
    ours = [r for r in rows if np.isfinite(r["detection_auc"])]
    best = min(ours, key=lambda r: r["detection_auc"]) if ours else None
    for peer in args.peers if have_ctgan else []:
        label = f"ctgan {PEERS[peer]}"
        try:
            full_s, drawn = fit_ctgan(peer, train, args.ctgan_epochs, args.seed, args.rows)
            assert drawn is not None
            record(label, args.ctgan_epochs, full_s, drawn)
            if args.no_same_time or best is None:
                continue
            one_s, _ = fit_ctgan(peer, train, 1, args.seed)
            epochs = same_time_epochs(best["fit_s"], one_s, full_s, args.ctgan_epochs)
            fit_s, drawn = fit_ctgan(peer, train, epochs, args.seed, args.rows)
            assert drawn is not None
            row = record(f"{label} (same time)", epochs, fit_s, drawn)
            row["time_budget_s"] = best["fit_s"]
        except Exception as exc:  # noqa: BLE001 - report and go on with the next one
            print(f"note: {label} failed on {name}: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc()
    ctgan_default = next((r for r in rows if r["model"] == "ctgan CTGAN"), None)
    for row in rows:
        row["ctgan_fit_s_over_this"] = (round(ctgan_default["fit_s"] / row["fit_s"], 1)
                                        if ctgan_default and row["fit_s"] > 0 else None)
    return rows


def cell(v: Any, fmt: str = "{:.3f}") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return fmt.format(v) if isinstance(v, float | int) else str(v)


def results_table(results: list[dict[str, Any]]) -> str:
    header = ("| table | model | epochs | fit s | CTGAN fit / this | sample rows/s | copies | "
              "shapes | pair trends | detection AUC | TSTR | TRTR | TSTR / TRTR | "
              "DCR ratio | closer than p5 | membership AUC |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [
        f"| {r['table']} | {r['model']} | {cell(r['epochs'], '{}')} | {r['fit_s']} | "
        f"{cell(r['ctgan_fit_s_over_this'], '{}x')} | {r['sample_rows_per_s']:,} | "
        f"{r['copies']} | {cell(r['column_shapes'])} | {cell(r['pair_trends'])} | "
        f"{cell(r['detection_auc'])} | {cell(r['tstr'])} ({r['utility_metric']}) | "
        f"{cell(r['trtr'])} | {cell(r['tstr_ratio'])} | {cell(r['dcr_ratio'])} | "
        f"{cell(r['share_closer_than_p5'])} | {cell(r['membership_auc'])} |" for r in results]
    return "\n".join([header, *lines])


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per table, genlift's best generator (lowest detection AUC) against the targets."""
    out = []
    for table in dict.fromkeys(r["table"] for r in results):
        ours = [r for r in results if r["table"] == table and r["model"].startswith("genlift")
                and r["detection_auc"] is not None and np.isfinite(r["detection_auc"])]
        if not ours:
            continue
        best = min(ours, key=lambda r: r["detection_auc"])
        checks = {
            "detection_auc": (best["detection_auc"], best["detection_auc"]
                              <= TARGETS["detection_auc"]),
            "column_shapes": (best["column_shapes"], best["column_shapes"]
                              >= TARGETS["column_shapes"]),
            "tstr_ratio": (best["tstr_ratio"], best["tstr_ratio"] >= TARGETS["tstr_ratio"]),
            "membership_auc": (best["membership_auc"], best["membership_auc"]
                               <= TARGETS["membership_auc"]),
            "ctgan_speedup": (best["ctgan_fit_s_over_this"],
                              None if best["ctgan_fit_s_over_this"] is None else
                              best["ctgan_fit_s_over_this"] >= TARGETS["ctgan_speedup"]),
            "sample_rows_per_s": (best["sample_rows_per_s"], best["sample_rows_per_s"]
                                  >= TARGETS["sample_rows_per_s"]),
        }
        out.append({"table": table, "best": best["model"],
                    **{k: {"value": v, "met": None if ok is None else bool(ok)}
                       for k, (v, ok) in checks.items()}})
    return out


def targets_table(rows: list[dict[str, Any]]) -> str:
    header = ("| table | genlift's best | detection AUC <= 0.75 | shapes >= 0.90 | "
              "TSTR >= 0.95 x TRTR | membership AUC <= 0.55 | fit >= 10x faster than "
              "CTGAN | sampling >= 200k rows/s | met |\n"
              "|---|---|---|---|---|---|---|---|---:|")

    def mark(check: dict[str, Any], fmt: str) -> str:
        sign = {True: "yes", False: "NO", None: "n/a"}[check["met"]]
        return f"{cell(check['value'], fmt)} {sign}"

    fmts = {"detection_auc": "{:.3f}", "column_shapes": "{:.3f}", "tstr_ratio": "{:.3f}",
            "membership_auc": "{:.3f}", "ctgan_speedup": "{}x", "sample_rows_per_s": "{:,}"}
    lines = []
    for r in rows:
        met = sum(r[k]["met"] is True for k in fmts)
        known = sum(r[k]["met"] is not None for k in fmts)
        lines.append(f"| {r['table']} | {r['best']} | "
                     + " | ".join(mark(r[k], f) for k, f in fmts.items())
                     + f" | {met} / {known} |")
    return "\n".join([header, *lines])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    ap.add_argument("--models", nargs="+", default=list(OURS),
                    help="genlift's tabular generators by registry name (default: "
                         f"{' '.join(OURS)}; a name the registry rejects is skipped)")
    ap.add_argument("--peers", nargs="*", choices=list(PEERS), default=list(PEERS),
                    help="ctgan's models (default: ctgan tvae; none: --peers alone)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs for genlift's neural generators (default: each one's own)")
    ap.add_argument("--ctgan-epochs", type=int, default=300,
                    help="epochs for ctgan's CTGAN and TVAE (default 300, their default)")
    ap.add_argument("--no-same-time", action="store_true",
                    help="skip the ctgan runs at genlift's best fit time")
    ap.add_argument("--rows", type=int, default=100_000, help="rows sampled for the rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dry-run", action="store_true",
                    help="print the tables, leave benchmarks/results/augment.* alone")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    torch.set_num_threads(1)  # genlift's default (GENLIFT_TORCH_THREADS=1): same for ctgan
    # The first torch optimizer imports torch._dynamo (seconds, once per process): take it
    # here so that it is not charged to whichever model happens to be timed first.
    importlib.import_module("torch._dynamo")
    missing = peer_missing()
    have_ctgan = missing is None
    if not have_ctgan and args.peers:
        print(f"note: ctgan {missing}: no ctgan rows", flush=True)
    elif args.peers:
        print(f"note: ctgan runs in {bench_python()}", flush=True)
    results: list[dict[str, Any]] = []
    for name in args.tables:
        frame = load_table(name)
        if frame is not None:
            results += run_table(name, frame, args, have_ctgan)
    met = targets(results)
    table = results_table(results)
    goals = targets_table(met)
    print(table)
    print()
    print(goals)
    if args.dry_run:
        return
    write_results("augment", {
        "tables": args.tables, "epochs": args.epochs, "ctgan_epochs": args.ctgan_epochs,
        "same_time": not args.no_same_time, "rows_sampled": args.rows, "seed": args.seed,
        "torch_threads": 1, "results": results, "targets": met,
        "peak_rss_mb": round(peak_rss_mb(), 1)}, f"{table}\n\n{goals}")


if __name__ == "__main__":
    main()
