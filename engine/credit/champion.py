"""Champion / challenger of genlift's credit job: a small LightGBM search
(:func:`tune_lightgbm`) and the choice between the tuned LightGBM and the points
:class:`Scorecard` by repeated-CV AUC on the same folds (:func:`select_champion`).

The rule a risk team can defend: LightGBM becomes the champion only when its AUC beats
the scorecard's with the paired 95% interval over the folds (Nadeau-Bengio corrected)
above 0; otherwise the simpler, explainable scorecard is kept and the reason says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold

from engine.credit.base import CreditPD
from engine.credit.data import check_labelled, feature_matrix, raise_problems
from engine.credit.metrics import credit_metrics
from engine.credit.model import CreditModel
from engine.credit.scorecard import Scorecard
from engine.intervals import corrected_interval
from features.credit import TARGET, CreditFeatures
from features.errors import DataValidationError, check_choice, check_int

logger = logging.getLogger(__name__)

#: ``--model`` of `genlift train credit`.
CHOICES = ("auto", "lightgbm", "scorecard")

#: The LightGBM search: from stumps (an additive model, as a scorecard is) to 16 leaves,
#: with more data per leaf and more L2 where trees are larger. Rounds come from early
#: stopping. Kept to 6 so that german-credit's selection runs in seconds on one core.
LGB_GRID: tuple[Mapping[str, Any], ...] = (
    {"num_leaves": 2, "min_child_samples": 20, "reg_lambda": 1.0, "learning_rate": 0.1},
    {"num_leaves": 4, "min_child_samples": 20, "reg_lambda": 1.0, "learning_rate": 0.05},
    {"num_leaves": 4, "min_child_samples": 50, "reg_lambda": 10.0, "learning_rate": 0.05},
    {"num_leaves": 8, "min_child_samples": 20, "reg_lambda": 1.0, "learning_rate": 0.1},
    {"num_leaves": 8, "min_child_samples": 40, "reg_lambda": 10.0, "learning_rate": 0.05},
    {"num_leaves": 16, "min_child_samples": 30, "reg_lambda": 5.0, "learning_rate": 0.05},
)


def cv_splits(y: np.ndarray, repeats: int, folds: int, seed: int
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated stratified folds (the same for every candidate)."""
    n_min = int(min(y.sum(), len(y) - y.sum()))
    if n_min < folds:
        raise DataValidationError(
            f"applicants has too few rows of a class for {folds}-fold CV ({int(y.sum())} "
            f"defaults, {int(len(y) - y.sum())} non-defaults)", table="applicants",
            column=TARGET, fix="train on more applicants, lower the folds, or pick a model "
                               "with --model instead of auto")
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def tune_lightgbm(applicants: pd.DataFrame, splits: Sequence[tuple[np.ndarray, np.ndarray]],
                  *, grid: Sequence[Mapping[str, Any]] = LGB_GRID, seed: int = 0,
                  early_stopping_rounds: int = 50) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Pick LightGBM parameters by CV AUC on ``splits`` (``lightgbm.cv``, rounds by early
    stopping on the mean validation AUC), training exactly as :class:`CreditModel` does
    (its monotone constraints and categorical handling).

    Returns the best grid entry and one record per entry (``cv_auc``, ``rounds``).
    The test parts of ``splits`` serve as validation here, so the winner's CV AUC is
    optimistic; :func:`select_champion` therefore compares candidates on a fresh fit of
    :class:`CreditModel` per fold, whose early stopping uses only the training part.
    """
    frame = check_labelled(applicants, "tune_lightgbm", "applicants")
    features = CreditFeatures().fit(frame)
    raise_problems(features, frame, "applicants", "fill or drop rows with missing values")
    X, y = feature_matrix(features, frame), frame[TARGET].astype(int).to_numpy()
    names = features.feature_names_
    cat_idx = [j for j, c in enumerate(names) if c in features.categories_]
    records: list[dict[str, Any]] = []
    for cfg in grid:
        model = CreditModel(random_state=seed, **cfg)
        params = {**model.booster_params(names, model.resolve_monotone(features)),
                  "metric": "auc"}
        data = lgb.Dataset(X, label=y, feature_name=list(names), categorical_feature=cat_idx,
                           free_raw_data=False)
        res = lgb.cv(params, data, num_boost_round=int(model.n_estimators),
                     folds=list(splits), seed=seed, stratified=False,
                     callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)])
        curve = np.asarray(res["valid auc-mean"])
        records.append({**dict(cfg), "cv_auc": float(curve[-1]), "rounds": len(curve)})
    best = max(range(len(records)), key=lambda i: records[i]["cv_auc"])
    logger.info("tune_lightgbm: best %s", records[best])
    return dict(grid[best]), records


def _fold_scores(make: Any, frame: pd.DataFrame, y: np.ndarray,
                 splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Per-fold AUC and Brier of ``make(i)`` fitted on each training part. Test rows the
    fold's model cannot score (a category absent from that training part) are left out
    of that fold; both candidates type features alike, so they leave out the same rows."""
    aucs, briers, seconds, skipped = [], [], 0.0, 0
    for i, (tr, te) in enumerate(splits):
        start = time.perf_counter()
        model = make(i).fit(frame.iloc[tr])
        seconds += time.perf_counter() - start
        test = frame.iloc[te]
        ok = (model.features_.problems(test) == "").to_numpy()
        skipped += int((~ok).sum())
        m = credit_metrics(y[te][ok], model.predict_proba(test.loc[ok]))
        aucs.append(m["auc"])
        briers.append(m["brier"])
    return {"fold_auc": aucs, "fold_brier": briers, "fit_seconds": seconds / len(splits),
            "test_rows_left_out": skipped}


def _decide(report: dict[str, Any], folds: int) -> tuple[str, str]:
    lgb_auc = np.asarray(report["lightgbm"]["fold_auc"])
    sc_auc = np.asarray(report["scorecard"]["fold_auc"])
    diff = corrected_interval(lgb_auc - sc_auc, 1.0 / (folds - 1))
    report["paired_auc"] = {k: v for k, v in diff.items() if k in
                            ("mean", "ci_low", "ci_high", "p_value")}
    text = (f"CV AUC lightgbm - scorecard = {diff['mean']:+.4f} "
            f"[{diff['ci_low']:+.4f}, {diff['ci_high']:+.4f}]")
    if diff["ci_low"] > 0:
        return "lightgbm", f"{text}: LightGBM is better beyond the 95% interval"
    if diff["ci_high"] < 0:
        return "scorecard", f"{text}: the scorecard is better beyond the 95% interval"
    return "scorecard", (f"{text} includes 0: no significant difference, keeping the "
                         "simpler scorecard")


def select_champion(
    applicants: pd.DataFrame, *, model: str = "auto", repeats: int = 2, folds: int = 5,
    seed: int = 0, grid: Sequence[Mapping[str, Any]] = LGB_GRID,
    scorecard_params: Mapping[str, Any] | None = None,
    synthetic: pd.DataFrame | None = None, synthetic_weight: float = 1.0,
) -> tuple[CreditPD, dict[str, Any]]:
    """Fit the credit champion on labelled applicants.

    Parameters
    ----------
    applicants : DataFrame
        Labelled real applicants (``default`` 0/1).
    model : {"auto", "lightgbm", "scorecard"}, default "auto"
        "auto" cross-validates both candidates on the same ``repeats`` x ``folds``
        stratified folds and keeps LightGBM only when its AUC is significantly higher
        (paired corrected 95% interval of the difference above 0), else the scorecard.
        "lightgbm" / "scorecard" fit that candidate (LightGBM still tuned) and report
        its CV scores.
    repeats, folds : int, default 2, 5
    seed : int, default 0
        Seed of the folds and of the models.
    grid : sequence of dict, default :data:`LGB_GRID`
        LightGBM parameter sets searched by :func:`tune_lightgbm` on the same folds.
    scorecard_params : mapping, optional
        Constructor keywords of the :class:`Scorecard`.
    synthetic, synthetic_weight
        Synthetic applicants for the final fit only: the CV that picks the champion runs
        on real rows (synthetic rows made from all applicants would leak into its test
        parts).

    Returns
    -------
    champion : CreditModel or Scorecard
        Fitted on every applicant.
    report : dict
        ``model`` (requested), ``champion``, ``reason``, ``cv`` (repeats, folds, seed),
        per candidate ``cv_auc`` / ``cv_brier`` (mean and 95% corrected interval),
        ``fold_auc``, ``fold_brier``, ``params`` (LightGBM's with its ``tuning`` table),
        and with "auto" ``paired_auc`` (lightgbm - scorecard).
    """
    check_choice("select_champion", "model", model, CHOICES)
    check_int("select_champion", "repeats", repeats, 1)
    check_int("select_champion", "folds", folds, 2)
    frame = check_labelled(applicants, "select_champion", "applicants")
    y = frame[TARGET].astype(int).to_numpy()
    splits = cv_splits(y, repeats, folds, seed)
    sc_params = {"random_state": seed, **dict(scorecard_params or {})}
    wanted = ("lightgbm", "scorecard") if model == "auto" else (model,)
    report: dict[str, Any] = {"model": model, "cv": {"repeats": repeats, "folds": folds,
                                                     "seed": seed}}
    lgb_params: dict[str, Any] = {}
    if "lightgbm" in wanted:
        start = time.perf_counter()
        lgb_params, tuning = tune_lightgbm(frame, splits, grid=grid, seed=seed)
        tune_s = time.perf_counter() - start
        report["lightgbm"] = {
            **_fold_scores(lambda i: CreditModel(random_state=seed + i, **lgb_params),
                           frame, y, splits),
            "params": lgb_params, "tuning": tuning, "tuning_seconds": tune_s}
    if "scorecard" in wanted:
        report["scorecard"] = {**_fold_scores(lambda i: Scorecard(**sc_params), frame, y,
                                              splits), "params": sc_params}
    ratio = 1.0 / (folds - 1)
    for name in wanted:
        cand = report[name]
        for metric in ("auc", "brier"):
            iv = corrected_interval(np.asarray(cand[f"fold_{metric}"]), ratio)
            cand[f"cv_{metric}"] = {k: iv[k] for k in ("mean", "ci_low", "ci_high")}
    if model == "auto":
        champion, reason = _decide(report, folds)
    else:
        champion, reason = model, f"requested with --model {model}"
    report["champion"], report["reason"] = champion, reason
    fitted: CreditPD
    if champion == "lightgbm":
        fitted = CreditModel(random_state=seed, **lgb_params).fit(
            frame, synthetic=synthetic, synthetic_weight=synthetic_weight)
    else:
        fitted = Scorecard(**sc_params).fit(frame, synthetic=synthetic,
                                            synthetic_weight=synthetic_weight)
    logger.info("select_champion: %s (%s)", champion, reason)
    return fitted, report
