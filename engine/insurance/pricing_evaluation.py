"""Evaluation of the pricing models: repeated K-fold CV on the same folds with paired
differences and Nadeau-Bengio corrected intervals (:func:`cross_validate`), and the
held-out test (:func:`holdout_evaluation`): CV on the training part picks the champion
(the higher CV Gini), then both models are refitted there and compared on policies no
model or choice has seen: Gini and Lorenz curves, deviance, the double-lift chart and
calibration by decile, with a paired bootstrap interval of the Gini difference."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedKFold, train_test_split

from engine.insurance.pricing import GBMPricing, PricingModel
from engine.insurance.pricing_data import TARGET, check_policies, exposure_of
from engine.insurance.pricing_glm import GLMPricing
from engine.insurance.pricing_metrics import (
    METRICS,
    calibration_table,
    double_lift,
    gini_weighted,
    lorenz_curve,
    pricing_metrics,
)
from engine.intervals import corrected_interval, paired_differences
from features.errors import check_int, check_param, check_real

logger = logging.getLogger(__name__)

MODELS = ("gbm", "glm")


def make_model(name: str, seed: int, params: Mapping[str, Any] | None = None) -> PricingModel:
    """A new pricing model by name: ``gbm`` (:class:`GBMPricing`) or ``glm``."""
    params = dict(params or {})
    if name == "gbm":
        return GBMPricing(**{"random_state": seed, **params})
    if name == "glm":
        return GLMPricing(**params)
    raise ValueError(f"The 'models' parameter must name 'gbm' or 'glm'. Got {name!r} instead.")


def _check_models(owner: str, models: Sequence[str], baseline: str | None) -> list[str]:
    models = list(models)
    check_param(owner, "models", models, bool(models) and all(m in MODELS for m in models)
                and len(set(models)) == len(models),
                "a non-empty sequence of distinct names among 'gbm', 'glm'")
    check_param(owner, "baseline", baseline, baseline is None or baseline in MODELS,
                "None, 'gbm' or 'glm'")
    return models


def cross_validate(
    policies: pd.DataFrame, *, repeats: int = 5, folds: int = 5, seed: int = 0,
    models: Sequence[str] = MODELS, baseline: str | None = "glm",
    model_params: Mapping[str, Mapping[str, Any]] | None = None,
    synthetic_fn: Callable[[pd.DataFrame, int], pd.DataFrame | None] | None = None,
    synthetic_weight: float = 1.0,
) -> dict[str, Any]:
    """Repeated K-fold comparison of pricing models on the same folds.

    Parameters
    ----------
    policies : DataFrame
        Rating factors and ``charges``.
    repeats, folds : int, default 5, 5
    seed : int, default 0
        Seed of the folds; fold ``i`` gives the GBM seed ``seed + i``.
    models : sequence of {"gbm", "glm"}
    baseline : str or None, default "glm"
        Paired differences are ``model - baseline`` fold by fold.
    model_params : mapping, optional
        Constructor keywords per model name (``objective``, ``tweedie_power``, ...).
    synthetic_fn : callable, optional
        ``synthetic_fn(train_part, fold_seed)``: synthetic policies made from the training
        part only, added to every model's training rows; test parts stay real.

    Returns
    -------
    dict
        ``config``, ``folds`` (metrics per fold and model), ``summary`` (per model and
        metric: mean and corrected 95% interval), ``paired`` (per ``"<model> - <baseline>"``
        and metric: mean difference, corrected interval, p-value and verdict "better" /
        "worse" / "no significant difference") and ``champion`` (the higher mean Gini).
    """
    owner = "cross_validate"
    frame = check_policies(policies, owner)
    check_int(owner, "repeats", repeats, 1)
    check_int(owner, "folds", folds, 2)
    check_int(owner, "seed", seed, 0)
    check_real(owner, "synthetic_weight", synthetic_weight, 0.0)
    models = _check_models(owner, models, baseline)
    model_params = {k: dict(v) for k, v in (model_params or {}).items()}
    y = pd.to_numeric(frame[TARGET]).to_numpy(dtype=float)
    splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    records: list[dict[str, Any]] = []
    power = 2.0
    for i, (tr, te) in enumerate(splitter.split(np.zeros(len(y)))):
        train, test = frame.iloc[tr], frame.iloc[te]
        syn = synthetic_fn(train, seed + i) if synthetic_fn is not None else None
        for name in models:
            model = make_model(name, seed + i, model_params.get(name))
            start = time.perf_counter()
            model.fit(train, synthetic=syn, synthetic_weight=synthetic_weight)
            elapsed = time.perf_counter() - start
            power = model.power_
            records.append({"repeat": i // folds, "fold": i % folds, "model": name,
                            **pricing_metrics(y[te], model.predict(test), power=power,
                                              exposure=exposure_of(test)),
                            "fit_seconds": elapsed})
        logger.info("pricing cross_validate: fold %d/%d done", i + 1, repeats * folds)
    table = pd.DataFrame(records)
    ratio = 1.0 / (folds - 1)
    summary = {name: {m: corrected_interval(table.loc[table.model == name, m].to_numpy(),
                                            ratio)
                      for m in (*METRICS, "mean_ratio", "fit_seconds")} for name in models}
    paired = paired_differences(table, models, baseline, METRICS, ratio)
    champion = max(models, key=lambda m: summary[m]["gini"]["mean"])
    config = {"repeats": repeats, "folds": folds, "seed": seed, "models": models,
              "baseline": baseline, "n_policies": len(frame), "deviance_power": power,
              "synthetic": synthetic_fn is not None, "synthetic_weight": synthetic_weight,
              "model_params": model_params,
              "ci": "95% t-interval over folds, Nadeau-Bengio corrected"}
    return {"config": config, "folds": records, "summary": summary, "paired": paired,
            "champion": champion}


def paired_gini_bootstrap(actual: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *,
                          n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Gini(A) - Gini(B) on the same policies with a 95% percentile interval from a
    paired bootstrap over policies (both models scored on every resample)."""
    check_int("paired_gini_bootstrap", "n_boot", n_boot, 100)
    rng = np.random.default_rng(seed)
    n = len(actual)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    diff = gini_weighted(actual, pred_a, w) - gini_weighted(actual, pred_b, w)
    ones = np.ones((1, n))
    point = float(gini_weighted(actual, pred_a, ones)[0] - gini_weighted(actual, pred_b,
                                                                          ones)[0])
    lo, hi = np.nanpercentile(diff, [2.5, 97.5])
    return {"delta": point, "ci_low": float(lo), "ci_high": float(hi),
            "se": float(np.nanstd(diff, ddof=1))}


def holdout_evaluation(
    policies: pd.DataFrame, *, test_fraction: float = 0.2, repeats: int = 5, folds: int = 5,
    seed: int = 0, model_params: Mapping[str, Mapping[str, Any]] | None = None,
    n_bins: int = 10, n_boot: int = 2000,
) -> dict[str, Any]:
    """CV on a training part (champion = higher CV Gini), then both models refitted there
    and evaluated on the held-out policies.

    Returns
    -------
    dict
        ``cv`` (:func:`cross_validate` on the training part, without per-fold records
        under ``folds``), ``champion``, ``test`` (per model: metrics), ``gini_delta``
        (GBM - GLM on test, paired bootstrap CI), ``lorenz`` (per model and for the
        perfect ordering: x, y), ``double_lift`` and ``calibration`` (per model) as
        records, and ``config``.
    """
    owner = "holdout_evaluation"
    frame = check_policies(policies, owner)
    check_real(owner, "test_fraction", test_fraction, 0.0, 0.5, low_open=True)
    check_int(owner, "n_bins", n_bins, 2)
    train, test = train_test_split(frame, test_size=test_fraction, random_state=seed)
    cv = cross_validate(train, repeats=repeats, folds=folds, seed=seed,
                        model_params=model_params)
    fitted = {name: make_model(name, seed, (model_params or {}).get(name)).fit(train)
              for name in MODELS}
    y = pd.to_numeric(test[TARGET]).to_numpy(dtype=float)
    expo = exposure_of(test)
    preds = {name: m.predict(test) for name, m in fitted.items()}
    power = fitted["gbm"].power_
    lorenz = {name: dict(zip(("x", "y"), (a.tolist() for a in lorenz_curve(y, p, expo)),
                             strict=True)) for name, p in preds.items()}
    lorenz["perfect"] = dict(zip(("x", "y"), (a.tolist() for a in lorenz_curve(
        y, y / expo, expo)), strict=True))
    result = {
        "config": {"test_fraction": test_fraction, "seed": seed, "n_train": len(train),
                   "n_test": len(test), "repeats": repeats, "folds": folds,
                   "deviance_power": power, "n_boot": n_boot},
        "cv": {k: v for k, v in cv.items() if k != "folds"},
        "cv_folds": cv["folds"],
        "champion": cv["champion"],
        "test": {name: pricing_metrics(y, p, power=power, exposure=expo)
                 for name, p in preds.items()},
        "gini_delta": paired_gini_bootstrap(y, preds["gbm"], preds["glm"], n_boot=n_boot,
                                            seed=seed),
        "lorenz": lorenz,
        "double_lift": double_lift(y, preds["gbm"], preds["glm"], expo, n_bins
                                   ).to_dict(orient="records"),
        "calibration": {name: calibration_table(y, p, expo, n_bins).to_dict(orient="records")
                        for name, p in preds.items()},
    }
    return result
