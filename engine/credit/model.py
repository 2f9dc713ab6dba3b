"""The LightGBM probability-of-default model of genlift's credit-risk job
(:class:`CreditModel`): monotone constraints where a feature's direction is known,
calibration chosen on held-out rows, reason codes from LightGBM's SHAP contributions
(``pred_contrib``), scorecard points (PDO scaling) and per-row errors instead of crashes
or silent scores. See docs/architecture.md, "Credit risk".

Typing of the input (numerics as float, categoricals with categories fixed at fit) is
:class:`features.credit.CreditFeatures`; this module never re-implements it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import StratifiedKFold, train_test_split

from engine.credit.base import REFIT, CreditPD
from engine.credit.calibration import Calibrator, choose_calibration
from engine.credit.data import (
    check_labelled,
    feature_matrix,
    frame_fingerprint,
    raise_problems,
)
from features.credit import ID, TARGET, CreditFeatures
from features.errors import (
    DataValidationError,
    check_choice,
    check_int,
    check_param,
    check_real,
)

logger = logging.getLogger(__name__)

#: Known risk directions on german-credit (+1: PD rises with the feature, -1: falls).
#: Checked on the 1,000 applicants (Spearman correlation with ``default``):
#: duration_in_month +0.21 (p < 1e-10), credit_amount +0.09 (p = 0.006; the smallest
#: amounts default slightly more, a pattern most scorecard policies flatten anyway),
#: age_in_years -0.11 (p < 0.001). Applied only to columns a frame actually has.
DEFAULT_MONOTONE: Mapping[str, int] = {
    "duration_in_month": 1, "credit_amount": 1, "age_in_years": -1,
}
ARRAYS_FILE = "arrays.npz"
MODEL_FILE = "model_{}.txt"  # one LightGBM text model per bag
_CALIBRATIONS = ("auto", "isotonic", "platt", "none")


class CreditModel(CreditPD):
    """LightGBM probability-of-default model with monotone constraints, calibration,
    reason codes and scorecard points.

    Parameters
    ----------
    monotone : mapping of str to int, optional
        Feature -> +1 (PD may only rise with it), -1 (only fall) or 0 (free). Features
        must be numeric columns of the training frame. ``None`` uses
        :data:`DEFAULT_MONOTONE` for the columns the frame has (german-credit's
        duration, amount and age); pass ``{}`` for no constraints.
    calibration : {"auto", "isotonic", "platt", "none"}, default "auto"
        How raw LightGBM probabilities become PDs. ``"auto"`` picks the one with the
        lowest Brier score on the held-out real rows (``calibration_scores_``).
    n_bags : int, default 5
        LightGBM models to cross-fit. With ``n_bags >= 2`` the real applicants are cut
        into ``n_bags`` stratified parts; bag ``b`` grows trees on the other parts (plus
        any synthetic rows) and early-stops on part ``b``. The calibration is fitted on
        the out-of-fold raw log-odds of every real applicant, and a PD is the calibrated
        mean of the bags' log-odds. Every real row thus serves both for training and,
        once, for validation; on german-credit this is worth about +0.01 AUC and a lower
        Brier score over one 80/20 split. ``n_bags=1`` is the single split below.
    validation_fraction : float in (0, 0.5], default 0.2
        With ``n_bags=1``: the stratified share of the real applicants held out from
        tree growing, used for early stopping and to fit the calibration. Synthetic rows
        never enter a validation part.
    n_estimators : int, default 1000
        Maximum boosting rounds (early stopping usually ends sooner).
    learning_rate : float, default 0.1
        On german-credit 0.03, 0.06 and 0.1 give the same CV AUC and Brier; 0.1 needs
        about 3x fewer trees, which makes the SHAP reason codes 3x faster.
    num_leaves : int, default 8
    min_child_samples : int, default 20
        LightGBM's ``min_data_in_leaf``.
    reg_lambda : float, default 1.0
        L2 regularisation of the leaf values.
    early_stopping_rounds : int, default 50
    pdo : float, default 20
        Points to double the odds (good : bad).
    base_score : float, default 600
        Points at odds ``base_odds``.
    base_odds : float, default 50
        Odds good : bad that get ``base_score`` points.
    n_reasons : int, default 4
        Reason codes per applicant in :meth:`score`.
    n_jobs : int or None, default None
        LightGBM threads. ``None``: one thread to fit (credit samples are small; on 1,000
        rows two threads fit 4x slower than one) and all cores to predict batches of
        at least 5,000 rows. An int fixes both.
    random_state : int, default 0
        Seed of the validation split and of LightGBM.

    Attributes
    ----------
    features_ : CreditFeatures
        Column typing learned from the real training applicants.
    boosters_ : list of lightgbm.Booster
        One per bag, holding only the trees kept by early stopping.
    best_iterations_ : list of int
    monotone_ : dict of str to int
        The constraints actually applied.
    direction_check_ : dict of str to float
        Spearman correlation of each constrained feature with ``default`` on the training
        rows; a constraint whose sign disagrees is logged as a warning.
    calibration_ : str
        The calibration in use.
    calibration_scores_ : dict of str to float
        Held-out Brier score of each candidate (for "platt"/"isotonic" out-of-fold
        within the held-out rows, so isotonic cannot win by memorising them).
    calibrator_ : Calibrator
    n_synthetic_ : int
        Synthetic rows that took part in training (0 when none or weight 0).
    fingerprint_ : str
        sha256 of the real training frame.

    Examples
    --------
    >>> from features.datasets import fetch  # doctest: +SKIP
    >>> apps = fetch("german-credit")["applicants"]  # doctest: +SKIP
    >>> model = CreditModel().fit(apps)  # doctest: +SKIP
    >>> model.score(apps.drop(columns="default")).head()  # doctest: +SKIP
    """

    artifact_refit = REFIT

    def __init__(self, *, monotone: Mapping[str, int] | None = None, calibration: str = "auto",
                 n_bags: int = 5, validation_fraction: float = 0.2, n_estimators: int = 1000,
                 learning_rate: float = 0.1, num_leaves: int = 8, min_child_samples: int = 20,
                 reg_lambda: float = 1.0, early_stopping_rounds: int = 50, pdo: float = 20.0,
                 base_score: float = 600.0, base_odds: float = 50.0, n_reasons: int = 4,
                 n_jobs: int | None = None, random_state: int = 0) -> None:
        self.monotone = monotone
        self.calibration = calibration
        self.n_bags = n_bags
        self.validation_fraction = validation_fraction
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.n_reasons = n_reasons
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _validate_params(self) -> None:
        own = "CreditModel"
        check_choice(own, "calibration", self.calibration, _CALIBRATIONS)
        check_real(own, "validation_fraction", self.validation_fraction, 0.0, 0.5,
                   low_open=True)
        for name, low in (("n_bags", 1), ("n_estimators", 1), ("num_leaves", 2),
                          ("min_child_samples", 1), ("early_stopping_rounds", 1),
                          ("n_reasons", 0), ("random_state", 0)):
            check_int(own, name, getattr(self, name), low)
        check_real(own, "learning_rate", self.learning_rate, 0.0, low_open=True)
        check_real(own, "reg_lambda", self.reg_lambda, 0.0)
        check_real(own, "pdo", self.pdo, 0.0, low_open=True)
        check_real(own, "base_score", self.base_score)
        check_real(own, "base_odds", self.base_odds, 0.0, low_open=True)
        if self.n_jobs is not None:
            check_int(own, "n_jobs", self.n_jobs, 1)
        ok = self.monotone is None or (isinstance(self.monotone, Mapping) and all(
            isinstance(k, str) and v in (-1, 0, 1) and not isinstance(v, bool)
            for k, v in self.monotone.items()))
        check_param(own, "monotone", self.monotone, ok,
                    "None or a mapping of feature name to -1, 0 or +1")

    def resolve_monotone(self, features: CreditFeatures) -> dict[str, int]:
        if self.monotone is None:
            return {k: v for k, v in DEFAULT_MONOTONE.items() if k in features.numeric_}
        wrong = [k for k in self.monotone if k not in features.numeric_]
        if wrong:
            raise DataValidationError(
                f"monotone names {', '.join(map(repr, wrong))}, which "
                f"{'is' if len(wrong) == 1 else 'are'} not numeric feature columns of "
                "applicants", table="applicants", column=wrong[0],
                fix="constrain only numeric feature columns (categoricals have no order)")
        return {k: int(v) for k, v in self.monotone.items() if v != 0}

    def booster_params(self, names: list[str], monotone: Mapping[str, int]
                       ) -> dict[str, Any]:
        """LightGBM parameters of this model for the feature ``names`` and the resolved
        ``monotone`` constraints (:meth:`resolve_monotone`); the tuning search of
        ``engine.credit.champion`` trains with exactly these."""
        return {
            "objective": "binary", "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves), "min_data_in_leaf": int(self.min_child_samples),
            "lambda_l2": float(self.reg_lambda), "max_cat_to_onehot": 8,
            "cat_smooth": 10.0, "min_data_per_group": max(5, int(self.min_child_samples)),
            "monotone_constraints": [monotone.get(c, 0) for c in names],
            "monotone_constraints_method": "intermediate",
            "seed": int(self.random_state), "deterministic": True, "force_col_wise": True,
            "num_threads": 1 if self.n_jobs is None else int(self.n_jobs), "verbosity": -1,
        }

    # ------------------------------------------------------------------------ fit
    def fit(self, applicants: pd.DataFrame, *, synthetic: pd.DataFrame | None = None,
            synthetic_weight: float = 1.0, holdout: pd.DataFrame | None = None
            ) -> CreditModel:
        """Learn the PD model from labelled applicants.

        Parameters
        ----------
        applicants : DataFrame
            ``applicant_id`` (optional here), feature columns and ``default`` (0/1).
            Every feature value must be present: rows with a missing value are rejected
            (they could not be scored either).
        synthetic : DataFrame, optional
            Synthetic applicants with the same columns (extra columns such as
            ``is_synthetic`` are ignored). They are appended to the tree-growing part
            only, never to the validation part that drives early stopping and
            calibration. Their categories must be known to the real data.
        synthetic_weight : float, default 1.0
            LightGBM sample weight (>= 0) of every synthetic row; 0 is the same as no
            synthetic data.
        holdout : DataFrame, optional
            Real labelled applicants used only for early stopping and calibration: one
            booster then grows on every row of ``applicants`` (+ synthetic) and ``n_bags``
            / ``validation_fraction`` are not used. Pass it when the synthetic rows were
            made from ``applicants`` (oversampling, a generator fitted on them): the
            internal parts would otherwise be scored on rows the synthetic data copies.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            No ``default`` column, labels other than 0/1, fewer than 2 rows of a class,
            missing feature values, or synthetic rows with unseen categories.
        """
        self._validate_params()
        check_real("CreditModel.fit", "synthetic_weight", synthetic_weight, 0.0)
        frame = check_labelled(applicants, "CreditModel.fit", "applicants")
        features = CreditFeatures().fit(frame)
        if not features.feature_names_:
            raise DataValidationError("applicants has no feature columns", table="applicants",
                                      fix="add feature columns beside applicant_id/default")
        raise_problems(features, frame, "applicants",
                        "fill or drop rows with missing feature values before fitting")
        monotone = self.resolve_monotone(features)
        X = feature_matrix(features, frame)
        y = frame[TARGET].astype(int).to_numpy()

        X_syn, y_syn, w_syn = np.zeros((0, X.shape[1])), np.zeros(0, int), np.zeros(0)
        if synthetic is not None and synthetic_weight > 0:
            syn = check_labelled(synthetic, "CreditModel.fit", "synthetic_applicants",
                                  both_classes=False)
            raise_problems(features, syn, "synthetic_applicants",
                            "generate synthetic applicants from these real applicants' "
                            "categories, with every feature present")
            X_syn, y_syn = feature_matrix(features, syn), syn[TARGET].astype(int).to_numpy()
            w_syn = np.full(len(syn), float(synthetic_weight))
        elif synthetic is not None:
            logger.info("CreditModel: synthetic_weight=0, ignoring %d synthetic rows",
                        len(synthetic))

        names = features.feature_names_
        self.direction_check_ = {}
        for col, sign in monotone.items():
            rho = float(stats.spearmanr(X[:, names.index(col)], y).statistic)
            self.direction_check_[col] = rho
            if np.isfinite(rho) and rho * sign < 0:
                logger.warning("CreditModel: monotone %s=%+d but its Spearman correlation "
                               "with default on the training rows is %+.3f", col, sign, rho)
        params = self.booster_params(names, monotone)
        cat_idx = [j for j, c in enumerate(names) if c in features.categories_]
        rows = np.arange(len(y))
        if holdout is not None:
            hold = check_labelled(holdout, "CreditModel.fit", "holdout_applicants")
            raise_problems(features, hold, "holdout_applicants",
                            "fill or drop holdout rows with missing or unseen values")
            X_out, y_out = feature_matrix(features, hold), hold[TARGET].astype(int).to_numpy()
            X, y = np.vstack([X, X_out]), np.concatenate([y, y_out])
            splits = [(rows, np.arange(len(rows), len(y)))]
        elif self.n_bags == 1:
            splits = [train_test_split(rows, test_size=self.validation_fraction, stratify=y,
                                       random_state=self.random_state)]
        else:
            if min(y.sum(), len(y) - y.sum()) < self.n_bags:
                raise DataValidationError(
                    f"applicants has too few rows of a class for n_bags={self.n_bags} "
                    f"stratified parts ({int(y.sum())} defaults, {int(len(y) - y.sum())} "
                    "non-defaults)", table="applicants", column=TARGET,
                    fix="fit on more applicants or lower n_bags")
            splits = list(StratifiedKFold(n_splits=self.n_bags, shuffle=True,
                                          random_state=self.random_state).split(rows, y))
        logger.info("CreditModel: fitting %d bag(s) on %d applicants (+%d synthetic), "
                    "monotone %s", len(splits), len(y), len(y_syn), monotone)
        margin_oof = np.full(len(y), np.nan)
        self.boosters_, self.best_iterations_ = [], []
        for idx_fit, idx_val in splits:
            train_set = lgb.Dataset(
                np.vstack([X[idx_fit], X_syn]), label=np.concatenate([y[idx_fit], y_syn]),
                weight=np.concatenate([np.ones(len(idx_fit)), w_syn]),
                feature_name=list(names), categorical_feature=cat_idx, free_raw_data=False)
            val_set = lgb.Dataset(X[idx_val], label=y[idx_val], reference=train_set)
            booster = lgb.train(params, train_set, num_boost_round=int(self.n_estimators),
                                valid_sets=[val_set], valid_names=["validation"],
                                callbacks=[lgb.early_stopping(int(self.early_stopping_rounds),
                                                              verbose=False)])
            best = int(booster.best_iteration or booster.current_iteration())
            # Keep only the trees in use, so the saved text model and predictions agree.
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
            margin_oof[idx_val] = booster.predict(X[idx_val], raw_score=True)
            self.boosters_.append(booster)
            self.best_iterations_.append(best)
        held = ~np.isnan(margin_oof)  # every row when bagging, the validation part otherwise
        method, scores = choose_calibration(margin_oof[held], y[held].astype(float),
                                             int(self.random_state))
        if self.calibration != "auto":
            method = self.calibration
        self.calibration_, self.calibration_scores_ = method, scores
        self.calibrator_ = Calibrator(method).fit(margin_oof[held], y[held])
        self.features_ = features
        self.monotone_ = monotone
        self.n_synthetic_ = len(y_syn)
        self.synthetic_weight_ = float(synthetic_weight) if len(y_syn) else 0.0
        self.fingerprint_ = frame_fingerprint(frame)
        logger.info("CreditModel: trees per bag %s, calibration %s (held-out Brier %s)",
                    self.best_iterations_, method,
                    {k: round(v, 4) for k, v in scores.items()})
        return self

    def _contributions(self, X: np.ndarray) -> np.ndarray:
        """SHAP contributions (last column: bias) of the bag-averaged raw log-odds.

        SHAP values are additive, so the mean over bags is the exact SHAP decomposition
        of the averaged model; each row sums to its raw log-odds.
        """
        threads = self._threads(len(X))
        return np.mean([b.predict(X, pred_contrib=True, num_threads=threads)
                        for b in self.boosters_], axis=0)

    def _margin(self, X: np.ndarray) -> np.ndarray:
        threads = self._threads(len(X))
        return np.mean([b.predict(X, raw_score=True, num_threads=threads)
                        for b in self.boosters_], axis=0)

    def _threads(self, n_rows: int) -> int:
        if self.n_jobs is not None:
            return int(self.n_jobs)
        return 0 if n_rows >= 5000 else 1  # 0: OpenMP's default, all cores

    # ------------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise RuntimeError("This CreditModel instance is not fitted yet; call "
                               "fit(applicants) before using it.")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated PD of every applicant.

        Strict: any row that cannot be scored raises. Use :meth:`score` for per-row
        errors.

        Returns
        -------
        ndarray of float64, shape (len(frame),)

        Raises
        ------
        DataValidationError
            A feature column is absent, or some row has a missing value, an unseen
            category or text in a numeric column.
        """
        frame = self._check_frame(frame, "CreditModel.predict_proba")
        raise_problems(self.features_, frame, "applicants",
                        "use CreditModel.score for per-row errors, or fix those rows")
        if len(frame) == 0:
            return np.zeros(0)
        return self.calibrator_.predict(self._margin(feature_matrix(self.features_, frame)))

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw log-odds of default before calibration (strict, as :meth:`predict_proba`).

        Calibration is monotone, so these rank applicants as the PDs do, but without the
        ties an isotonic calibration makes (ranking metrics such as AUC should use them).
        """
        frame = self._check_frame(frame, "CreditModel.decision_function")
        raise_problems(self.features_, frame, "applicants",
                       "use CreditModel.score for per-row errors, or fix those rows")
        if len(frame) == 0:
            return np.zeros(0)
        return self._margin(feature_matrix(self.features_, frame))

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """PD, points and reason codes per applicant, with a per-row error column.

        Parameters
        ----------
        frame : DataFrame
            ``applicant_id`` and the feature columns of training (a ``default`` column,
            if present, is ignored).

        Returns
        -------
        DataFrame
            One row per input row, in input order: ``applicant_id``, ``pd``, ``score``,
            ``reason_1`` .. ``reason_<n_reasons>`` (feature names with the largest
            positive SHAP contributions to this applicant's PD, '' when fewer features
            push the PD up), ``reason_<k>_value`` (those contributions, in log-odds of the
            uncalibrated model; calibration is monotone so it keeps their order) and
            ``error`` ('' or why the row was not scored). Rows with an error have NaN
            ``pd``/``score`` and no reasons: they are never scored.

        Raises
        ------
        DataValidationError
            ``applicant_id`` or a feature column is absent (a frame-level problem).
        """
        frame = self._check_frame(frame, "CreditModel.score")
        if ID not in frame.columns:
            raise DataValidationError(f"applicants has no '{ID}' column", table="applicants",
                                      column=ID, fix="add an id per applicant to score")
        errors = self.features_.problems(frame).to_numpy(dtype=object)
        ok = errors == ""
        n, k = len(frame), int(self.n_reasons)
        pd_ = np.full(n, np.nan)
        names = np.full((n, k), "", dtype=object)
        values = np.full((n, k), np.nan)
        if ok.any():
            X = feature_matrix(self.features_, frame.loc[ok])
            kk = min(k, X.shape[1])  # a model with fewer features has fewer reasons
            if kk == 0:  # no reasons wanted: skip the (much slower) SHAP pass
                pd_[ok] = self.calibrator_.predict(self._margin(X))
            else:
                full = self._contributions(X)
                # SHAP values plus the bias column add up to the raw log-odds exactly.
                pd_[ok] = self.calibrator_.predict(full.sum(axis=1))
                contrib = full[:, :-1]
                order = np.argsort(-contrib, axis=1, kind="stable")[:, :kk]
                top = np.take_along_axis(contrib, order, axis=1)
                feat = np.asarray(self.features_.feature_names_, dtype=object)[order]
                up = top > 0
                names[np.ix_(ok, np.arange(kk))] = np.where(up, feat, "")
                values[np.ix_(ok, np.arange(kk))] = np.where(up, top, np.nan)
        if (~ok).any():
            logger.warning("CreditModel.score: %d of %d rows not scored (first: %s)",
                           int((~ok).sum()), n, errors[~ok][0])
        return self.score_frame(frame, errors, pd_, self.points(pd_), names, values)

    # --------------------------------------------------------------- persistence
    # save(path) / load(path) come from features.artifacts.Artifact; the folder holds
    # model_<b>.txt (one LightGBM text model per bag) and arrays.npz (calibration arrays).
    def _artifact_config(self) -> dict[str, Any]:
        config = super()._artifact_config()  # JSON types; a mapping would become its text
        config["monotone"] = None if self.monotone is None else {
            str(k): int(v) for k, v in self.monotone.items()}
        return config

    def _save_state(self, folder: Path) -> dict[str, Any]:
        files = [MODEL_FILE.format(i) for i in range(len(self.boosters_))]
        for name, booster in zip(files, self.boosters_, strict=True):
            (folder / name).write_text(booster.model_to_string(), encoding="utf-8")
        with open(folder / ARRAYS_FILE, "wb") as fh:
            np.savez(fh, platt=self.calibrator_.coef_, iso_x=self.calibrator_.x_,
                     iso_y=self.calibrator_.y_)
        return {"features": self.features_.state(),
                "monotone": self.monotone_, "direction_check": self.direction_check_,
                "calibration": self.calibration_,
                "calibration_scores": self.calibration_scores_,
                "best_iterations": self.best_iterations_, "n_synthetic": self.n_synthetic_,
                "synthetic_weight": self.synthetic_weight_, "model_files": files}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> CreditModel:
        model = cls(**config)
        model.features_ = CreditFeatures.from_state(state["features"])
        names = [str(name) for name in state["model_files"]]
        if any(Path(name).name != name for name in names):
            raise ValueError(f"model_files must name files of the folder; got {names}")
        try:
            model.boosters_ = [lgb.Booster(model_str=(folder / name).read_text("utf-8"))
                               for name in names]
        except lgb.basic.LightGBMError as exc:
            raise ValueError(f"LightGBMError: {exc}") from exc
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as data:
            cal = Calibrator(state["calibration"])
            cal.coef_, cal.x_, cal.y_ = data["platt"], data["iso_x"], data["iso_y"]
        model.calibrator_ = cal
        model.calibration_ = state["calibration"]
        model.calibration_scores_ = dict(state["calibration_scores"])
        model.monotone_ = {k: int(v) for k, v in state["monotone"].items()}
        model.direction_check_ = dict(state["direction_check"])
        model.best_iterations_ = [int(v) for v in state["best_iterations"]]
        model.n_synthetic_ = int(state["n_synthetic"])
        model.synthetic_weight_ = float(state["synthetic_weight"])
        return model
