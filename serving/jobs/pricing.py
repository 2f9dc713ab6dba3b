"""Jobs behind `genlift train | evaluate pricing` and `genlift price portfolio`: the GBM
and GLM cost models trained on the store's policies with their relativities and the
champion picked by repeated CV; the held-out evaluation (Gini, double lift, deviance,
calibration); and a simulated portfolio shift priced against the real book."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.base import Generator
from augment.registry import make_generator
from engine.insurance import GBMPricing, GLMPricing, PricingModel, check_loading
from engine.insurance.pricing_data import ID, TABLE
from engine.insurance.pricing_evaluation import cross_validate, holdout_evaluation
from engine.insurance.pricing_portfolio import (
    Condition,
    book_loss_ratios,
    book_summary,
    check_conditions,
    parse_condition,
    parse_mix,
    price_book,
    simulate_book,
)
from features.artifacts import write_json_atomic
from features.errors import DataValidationError, check_choice, check_int
from features.io import write_parquet_atomic
from features.store import Store
from serving.jobs.augment import read_fit
from serving.jobs.model_folders import check_model_folder
from serving.reports.pricing import (
    write_evaluation_report,
    write_portfolio_report,
    write_train_report,
)

logger = logging.getLogger(__name__)

CHAMPIONS = ("auto", "gbm", "glm")


def _policies(store: Store) -> pd.DataFrame:
    if not store.has(TABLE):
        raise DataValidationError(f"the store has no {TABLE} table", table=TABLE,
                                  fix=f"genlift --db {store.path} data fetch medical-insurance "
                                      "(or import your own policies)")
    return store.read(TABLE)


def _model_params(objective: str, tweedie_power: float) -> dict[str, dict[str, Any]]:
    common = {"objective": objective, "tweedie_power": tweedie_power}
    return {"gbm": dict(common), "glm": dict(common)}


def train_pricing(store: Store, out: str | Path, *, objective: str = "gamma",
                  tweedie_power: float = 1.5, loading: float = 1.25, champion: str = "auto",
                  cv_repeats: int = 2, cv_folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Fit the GBM and the GLM on every policy and save them in ``out/gbm`` and
    ``out/glm``; pick the champion (``auto``: the higher Gini in repeated CV); write the
    relativities (``relativities.csv``, ``glm_coefficients.csv``), the champion's premiums
    (``premiums.parquet``), ``train.json`` and ``pricing.html``; record the run."""
    check_choice("train pricing", "champion", champion, CHAMPIONS)
    loading = check_loading(loading, "train pricing")
    check_int("train pricing", "cv_repeats", cv_repeats, 1)
    check_int("train pricing", "cv_folds", cv_folds, 2)
    out = Path(out)
    policies = _policies(store)
    config = {"model": "pricing", "objective": objective, "tweedie_power": tweedie_power,
              "loading": loading, "champion": champion, "cv_repeats": cv_repeats,
              "cv_folds": cv_folds, "seed": seed}
    run_id = store.start_run("train-pricing", config, seed=seed, tables=[TABLE])
    try:
        params = _model_params(objective, tweedie_power)
        gbm = GBMPricing(random_state=seed, **params["gbm"])
        gbm.fit(policies)
        glm = GLMPricing(**params["glm"])
        glm.fit(policies)
        cv = None
        chosen = champion
        if champion == "auto":
            cv = cross_validate(policies, repeats=cv_repeats, folds=cv_folds, seed=seed,
                                model_params=params)
            chosen = cv["champion"]
        models: dict[str, PricingModel] = {"gbm": gbm, "glm": glm}
        for name, model in models.items():
            model.save(out / name)
        rel = pd.concat([glm.relativities(policies), gbm.relativities(policies)],
                        ignore_index=True)
        out.mkdir(parents=True, exist_ok=True)
        rel.to_csv(out / ".relativities.csv.tmp", index=False)
        (out / ".relativities.csv.tmp").replace(out / "relativities.csv")
        glm.coef_.to_csv(out / ".glm_coefficients.csv.tmp", index=False)
        (out / ".glm_coefficients.csv.tmp").replace(out / "glm_coefficients.csv")
        best = models[chosen]
        premiums = pd.DataFrame({
            ID: policies[ID].astype(str).to_numpy() if ID in policies else
            np.arange(len(policies)).astype(str),
            "expected_cost_gbm": gbm.predict(policies),
            "expected_cost_glm": glm.predict(policies)})
        premiums["premium"] = best.premium(policies, loading)
        write_parquet_atomic(premiums, out / "premiums.parquet")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    summary: dict[str, Any] = {
        "run_id": run_id, "policies": len(policies), "champion": chosen,
        "objective": objective, "loading": loading,
        "gbm_trees_per_bag": gbm.best_iterations_, "gbm_monotone": gbm.monotone_,
        "gbm_balance_factor": round(gbm.balance_factor_, 4),
        "glm_balance_factor": round(glm.balance_factor_, 4),
        "mean_premium": float(premiums["premium"].mean()), "out": str(out)}
    if cv is not None:
        summary["cv_gini"] = {m: round(cv["summary"][m]["gini"]["mean"], 4)
                              for m in ("gbm", "glm")}
    summary["report"] = str(write_train_report(summary, rel, glm.coef_, premiums, cv,
                                               out / "pricing.html"))
    meta = {**config, **summary, "fingerprints": store.fingerprints([TABLE]),
            "cv": None if cv is None else {k: v for k, v in cv.items() if k != "folds"}}
    write_json_atomic(meta, out / "train.json")
    store.finish_run(run_id, metrics={k: v for k, v in summary.items() if k != "report"})
    return summary


def evaluate_pricing(store: Store, *, repeats: int = 5, folds: int = 5, seed: int = 0,
                     test_fraction: float = 0.2, objective: str = "gamma",
                     tweedie_power: float = 1.5, out: str | Path | None = None
                     ) -> dict[str, Any]:
    """Repeated CV on a training part (champion = higher CV Gini), then GBM vs GLM on the
    held-out policies (:func:`engine.insurance.pricing_evaluation.holdout_evaluation`),
    recorded as a run; with ``out`` also ``out/evaluation.json`` and
    ``out/evaluation.html``. Returns the result without per-fold records."""
    policies = _policies(store)
    config = {"repeats": repeats, "folds": folds, "test_fraction": test_fraction,
              "objective": objective, "tweedie_power": tweedie_power}
    run_id = store.start_run("evaluate-pricing", config, seed=seed, tables=[TABLE])
    try:
        result = holdout_evaluation(policies, test_fraction=test_fraction, repeats=repeats,
                                    folds=folds, seed=seed,
                                    model_params=_model_params(objective, tweedie_power))
        result = {"run_id": run_id, **{k: v for k, v in result.items() if k != "cv_folds"}}
        champion = result["champion"]
        result["target"] = {
            "champion": champion,
            "champion_cv_gini": result["cv"]["summary"][champion]["gini"]["mean"],
            "glm_cv_gini": result["cv"]["summary"]["glm"]["gini"]["mean"],
            "met": bool(result["cv"]["summary"][champion]["gini"]["mean"]
                        >= result["cv"]["summary"]["glm"]["gini"]["mean"])}
        if out is not None:
            out = Path(out)
            result["html"] = str(write_evaluation_report(result, out / "evaluation.html"))
            write_json_atomic(result, out / "evaluation.json")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    store.finish_run(run_id, metrics={"cv": result["cv"]["summary"], "test": result["test"],
                                      "gini_delta": result["gini_delta"],
                                      "champion": result["champion"]})
    return result


def _generator(store: Store, policies: pd.DataFrame, generator: str,
               generator_dir: str | Path | None, epochs: int | None, seed: int
               ) -> tuple[Generator, dict[str, Any]]:
    if generator_dir is not None:
        gen, info = read_fit(generator_dir, "price portfolio --generator-dir")
        if info.get("table") != TABLE:
            raise DataValidationError(
                f"{generator_dir} holds a generator fitted on {info.get('table')!r}, not on "
                f"{TABLE}", table=TABLE, fix="genlift augment fit --kind tabular --table "
                "policies --out DIR, then pass that DIR")
        return gen, {"generator_dir": str(generator_dir), "generator": info.get("generator")}
    gen = make_generator("tabular", generator, epochs=epochs, random_state=seed)
    gen.fit(policies.drop(columns=[c for c in (ID,) if c in policies.columns]))
    return gen, {"generator": generator, "fit_seconds": round(gen.fit_seconds_, 2)}


def _mix(books: Mapping[str, pd.DataFrame], factors: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for col in factors:
        ref = next(iter(books.values()))[col]
        if pd.api.types.is_numeric_dtype(ref.dtype) and not pd.api.types.is_bool_dtype(ref):
            rows.append({"factor": col, "value": "mean",
                         **{n: float(pd.to_numeric(b[col]).mean()) for n, b in books.items()}})
            continue
        for level in sorted(ref.astype(str).unique()):
            rows.append({"factor": col, "value": level,
                         **{n: float((b[col].astype(str) == level).mean())
                            for n, b in books.items()}})
    return rows


def price_portfolio(store: Store, model_dir: str | Path, out: str | Path, *,
                    conditions: Sequence[str] = (), mix: str | None = None,
                    n: int | None = None, loading: float | None = None,
                    generator: str = "copula", generator_dir: str | Path | None = None,
                    epochs: int | None = None, n_books: int = 1000, seed: int = 0
                    ) -> dict[str, Any]:
    """Price a simulated portfolio shift against the real book with the champion of
    `train pricing` in ``model_dir``.

    The generator is read from ``generator_dir`` (a `genlift augment fit --table
    policies` folder) or fitted here (``generator``). Writes ``out/portfolio.json``,
    ``out/portfolio.html`` and the priced simulated book ``out/simulated_book.parquet``.
    """
    parsed: list[Condition] = [parse_condition(c) for c in conditions]
    mixed = parse_mix(mix) if mix else None
    check_int("price portfolio", "n_books", n_books, 100)
    model_dir = check_model_folder(model_dir, "pricing", "price portfolio")
    out = Path(out)
    trained = json.loads((model_dir / "train.json").read_text())
    champion = str(trained["champion"])
    model = PricingModel.load(model_dir / champion)
    loading = check_loading(trained["loading"] if loading is None else loading,
                            "price portfolio")
    policies = _policies(store)
    check_conditions(parsed, policies, mixed)  # before any generator is fitted
    size = len(policies) if n is None else check_int("price portfolio", "n", n, 1)
    if not (parsed or mixed):
        raise DataValidationError("no portfolio shift given",
                                  fix="add --condition smoker=yes, --condition age>=50 or "
                                      "--mix region=southeast:0.5,northwest:0.5")
    config: dict[str, Any] = {
        "model_dir": str(model_dir), "champion": champion, "loading": loading,
        "conditions": [str(c) for c in parsed],
        "mix": None if mixed is None else f"{mixed[0]}={mixed[1]}", "n": size,
        "n_books": n_books, "seed": seed}
    run_id = store.start_run("price-portfolio", config, seed=seed, tables=[TABLE])
    try:
        gen, gen_info = _generator(store, policies, generator, generator_dir, epochs, seed)
        simulated = simulate_book(gen, policies, size, conditions=parsed, mix=mixed,
                                  random_state=seed)
        control = simulate_book(gen, policies, size, random_state=seed + 1)
        books = {"real": price_book(model, policies, loading),
                 "control": price_book(model, control, loading),
                 "simulated": price_book(model, simulated, loading)}
        ratios = {name: book_loss_ratios(b, n_books=n_books, random_state=seed + i)
                  for i, (name, b) in enumerate(books.items())}
        result: dict[str, Any] = {
            "config": {**config, **gen_info},
            "books": {name: book_summary(b, ratios[name]) for name, b in books.items()},
            "mix": _mix(books, model.features_.names_)}
        real_lr = result["books"]["real"]["loss_ratio"]
        result["loss_ratio_change"] = result["books"]["simulated"]["loss_ratio"] - real_lr
        result["control_loss_ratio_gap"] = result["books"]["control"]["loss_ratio"] - real_lr
        out.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(books["simulated"], out / "simulated_book.parquet")
        result["html"] = str(write_portfolio_report(result, books, ratios,
                                                    out / "portfolio.html"))
        result["run_id"] = run_id
        write_json_atomic(result, out / "portfolio.json")
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    store.finish_run(run_id, metrics={"books": result["books"]})
    return result


__all__ = ["CHAMPIONS", "evaluate_pricing", "price_portfolio", "train_pricing"]
