"""Credit champion / challenger on german-credit and credit-data.

5 x 5 repeated stratified CV per dataset; every model is fitted on the same training
folds and scored on the same test folds:

- ``champion``: `genlift train credit` (``--model auto``): :func:`engine.credit.select_champion`
  run inside each outer training part (its own 2 x 5 CV, LightGBM search, choice);
- ``scorecard``: :class:`engine.credit.Scorecard` (monotone WOE bins, PDO points);
- ``lightgbm_tuned``: :class:`engine.credit.CreditModel` with the parameters the
  champion's search picked on that training part (``--model lightgbm``);
- ``woe_logistic``: :class:`engine.credit.WoeLogistic` (5 quantile bins, C = 1);
- ``plain_logistic``: scikit-learn one-hot + standardised numbers, LogisticRegression
  with its default C = 1 (the user's baseline of issue 17);
- ``lightgbm_default``: :class:`engine.credit.CreditModel` with its defaults (genlift's
  model before issue 17).

credit-data (R modeldata's ``credit_data``, 4,454 loans) has missing values; before the
CV, for every model alike, a missing number becomes the column median plus a
``<column>_missing`` yes/no column, a missing category the category "missing", and a
category of fewer than 10 loans the column's most common one (3 loans in all).

Metrics per test fold: AUC, KS, Brier, PR-AUC, recall at FPR 0.1. Means carry 95%
t-intervals over the 25 folds with the Nadeau-Bengio correction; champion - model
differences are paired over the same folds. Targets of issue 17: champion AUC >= the
best of (woe_logistic, plain_logistic, lightgbm_default) on both datasets, german-credit
champion AUC >= 0.79, champion Brier no worse than the best of them.

    python -m benchmarks.bench_credit [--datasets german-credit credit-data]
        [--repeats 5] [--folds 5] [--inner-repeats 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks.common import peak_rss_mb, write_results
from engine.credit import (
    METRICS,
    CreditModel,
    Scorecard,
    WoeLogistic,
    corrected_interval,
    credit_metrics,
    select_champion,
)
from features.credit import ID, TARGET
from features.datasets import fetch

MODELS = ("champion", "scorecard", "lightgbm_tuned", "woe_logistic", "plain_logistic",
          "lightgbm_default")
BASELINES = ("woe_logistic", "plain_logistic", "lightgbm_default")
GERMAN_AUC_TARGET = 0.79


def load(name: str) -> pd.DataFrame:
    """Labelled applicants of ``name`` with ``applicant_id``, features and ``default``."""
    if name == "german-credit":
        return fetch(name)["applicants"]
    apps = fetch(name)["loans"].rename(columns={"loan_id": ID})
    for col in list(apps.columns):
        if col in (ID, TARGET):
            continue
        if pd.api.types.is_numeric_dtype(apps[col]):
            miss = apps[col].isna()
            values = apps[col].astype(float)
            if miss.any():
                apps[f"{col}_missing"] = np.where(miss, "yes", "no")
                values = values.fillna(float(values.median()))
            apps[col] = values
        else:
            text = apps[col].astype(object).where(apps[col].notna(), "missing").astype(str)
            counts = text.value_counts()
            # a category of fewer than 10 loans can miss a whole training fold
            apps[col] = text.where(~text.isin(counts.index[counts < 10]), counts.index[0])
    return apps


class PlainLogistic:
    """One-hot categories + standardised numbers + LogisticRegression (default C)."""

    def fit(self, frame: pd.DataFrame) -> PlainLogistic:
        X = frame.drop(columns=[ID, TARGET])
        cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        nums = [c for c in X.columns if c not in cats]
        self.pipe_ = Pipeline([
            ("encode", ColumnTransformer([
                ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
                ("num", StandardScaler(), nums)])),
            ("lr", LogisticRegression(max_iter=2000))])
        self.pipe_.fit(X, frame[TARGET].astype(int))
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipe_.predict_proba(frame.drop(columns=[ID, TARGET], errors="ignore"))[:, 1]


def _fmt(cell: dict[str, Any], digits: int = 4) -> str:
    return (f"{cell['mean']:.{digits}f} [{cell['ci_low']:.{digits}f}, "
            f"{cell['ci_high']:.{digits}f}]")


def _fit_models(train: pd.DataFrame, champ: Any, report: dict[str, Any], seed: int
                ) -> tuple[dict[str, Any], dict[str, float]]:
    """The other five models on one training part (the champion's candidates reused)."""
    fits: dict[str, Callable[[], Any]] = {
        "scorecard": lambda: champ if isinstance(champ, Scorecard)
        else Scorecard(**report["scorecard"]["params"]).fit(train),
        "lightgbm_tuned": lambda: champ if isinstance(champ, CreditModel)
        else CreditModel(random_state=seed, **report["lightgbm"]["params"]).fit(train),
        "woe_logistic": lambda: WoeLogistic().fit(train),
        "plain_logistic": lambda: PlainLogistic().fit(train),
        "lightgbm_default": lambda: CreditModel(random_state=seed).fit(train),
    }
    models: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for key, fit in fits.items():
        start = time.perf_counter()
        models[key] = fit()
        seconds[key] = time.perf_counter() - start
    return models, seconds


def run_dataset(name: str, repeats: int, folds: int, inner_repeats: int, seed: int
                ) -> dict[str, Any]:
    apps = load(name)
    y = apps[TARGET].astype(int).to_numpy()
    records: list[dict[str, Any]] = []
    choices: list[dict[str, Any]] = []
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    for i, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y)):
        train, test = apps.iloc[tr], apps.iloc[te]
        start = time.perf_counter()
        champ, report = select_champion(train, repeats=inner_repeats, seed=seed + i)
        champ_s = time.perf_counter() - start
        choices.append({"champion": report["champion"], "reason": report["reason"],
                        "lightgbm_params": report["lightgbm"]["params"],
                        "paired_auc": report["paired_auc"], "seconds": champ_s})
        models, seconds = _fit_models(train, champ, report, seed + i)
        models["champion"], seconds["champion"] = champ, champ_s
        for key in MODELS:
            records.append({"repeat": i // folds, "fold": i % folds, "model": key,
                            **credit_metrics(y[te], models[key].predict_proba(test)),
                            "fit_seconds": seconds[key]})
        logging.getLogger("bench_credit").warning(
            "%s fold %d/%d: champion %s (%.1f s)", name, i + 1, repeats * folds,
            report["champion"], champ_s)
    table = pd.DataFrame(records)
    ratio = 1.0 / (folds - 1)
    summary = {m: {k: corrected_interval(table.loc[table.model == m, k].to_numpy(), ratio)
                   for k in (*METRICS, "fit_seconds")} for m in MODELS}
    champ_rows = table[table.model == "champion"].set_index(["repeat", "fold"])
    paired = {}
    for m in MODELS[1:]:
        other = table[table.model == m].set_index(["repeat", "fold"])
        paired[f"champion - {m}"] = {
            k: corrected_interval((champ_rows[k] - other[k]).to_numpy(), ratio)
            for k in ("auc", "brier")}
    best_auc = max(summary[m]["auc"]["mean"] for m in BASELINES)
    best_brier = min(summary[m]["brier"]["mean"] for m in BASELINES)
    c_auc, c_brier = summary["champion"]["auc"]["mean"], summary["champion"]["brier"]["mean"]
    targets: dict[str, Any] = {"champion_auc_ge_best_baseline": c_auc >= best_auc,
                               "champion_brier_le_best_baseline": c_brier <= best_brier,
                               "best_baseline_auc": best_auc, "best_baseline_brier": best_brier}
    if name == "german-credit":
        targets["champion_auc_ge_0.79"] = c_auc >= GERMAN_AUC_TARGET
    counts = pd.Series([c["champion"] for c in choices]).value_counts().to_dict()
    return {"dataset": name, "n_applicants": len(apps), "default_rate": float(y.mean()),
            "features": [c for c in apps.columns if c not in (ID, TARGET)],
            "folds": records, "summary": summary, "paired": paired, "targets": targets,
            "champion_counts": counts, "selections": choices}


def markdown(res: dict[str, Any], args: argparse.Namespace) -> list[str]:
    s, p = res["summary"], res["paired"]
    rows = []
    for m in MODELS:
        diff = p.get(f"champion - {m}")
        rows.append([m, _fmt(s[m]["auc"]), _fmt(s[m]["brier"]), f"{s[m]['ks']['mean']:.4f}",
                     f"{s[m]['pr_auc']['mean']:.4f}",
                     _fmt(diff["auc"]) if diff else "", _fmt(diff["brier"]) if diff else "",
                     f"{s[m]['fit_seconds']['mean']:.2f}"])
    header = ["model", "AUC", "Brier", "KS", "PR-AUC", "champion - model AUC",
              "champion - model Brier", "fit s / fold"]
    t = res["targets"]
    met = ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in t.items()
                    if isinstance(v, bool))
    return [
        f"## {res['dataset']} ({res['n_applicants']:,} applicants, "
        f"{res['default_rate']:.1%} defaults), {args.repeats} x {args.folds} repeated "
        "stratified CV", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows), "",
        f"Champion picked per outer fold: {res['champion_counts']}. Targets: {met} "
        f"(champion AUC {s['champion']['auc']['mean']:.4f} vs best baseline "
        f"{t['best_baseline_auc']:.4f}; Brier {s['champion']['brier']['mean']:.4f} vs "
        f"{t['best_baseline_brier']:.4f}).", ""]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["german-credit", "credit-data"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--inner-repeats", type=int, default=2,
                    help="repeats of the champion's own CV inside each training part")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    with threadpool_limits(1, "blas"):  # small regressions: BLAS threads only contend
        for name in args.datasets:
            results.append(run_dataset(name, args.repeats, args.folds, args.inner_repeats,
                                       args.seed))
            out, text = _write(results, args, time.perf_counter() - start)  # each dataset
    print(text)
    print(f"\nwrote {out}")


def _write(results: list[dict[str, Any]], args: argparse.Namespace, seconds: float
           ) -> tuple[Any, str]:
    lines = ["# Credit champion / challenger", "",
             "Mean [95% CI] over the test folds (t-interval, Nadeau-Bengio corrected for "
             "overlapping training sets); differences paired over the same folds. "
             "`python -m benchmarks.bench_credit" + (
                 f" --inner-repeats {args.inner_repeats}" if args.inner_repeats != 2 else "")
             + "`", ""]
    for res in results:
        lines += markdown(res, args)
    lines.append(f"Wall time {seconds:.0f} s on 2 cores shared with other jobs.")
    text = "\n".join(lines)
    payload = {"config": vars(args), "datasets": results, "seconds": seconds,
               "peak_rss_mb": peak_rss_mb()}
    return write_results("credit", payload, text), text


if __name__ == "__main__":
    main()
