"""Calibration of a credit model's raw log-odds into PDs (:class:`Calibrator`), and the
choice between the maps by out-of-fold Brier score (:func:`choose_calibration`)."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from engine.credit.data import sigmoid
from features.errors import check_choice

logger = logging.getLogger(__name__)

#: The maps a :class:`Calibrator` knows.
METHODS = ("isotonic", "platt", "none")


class Calibrator:
    """Map a model's raw log-odds to calibrated probabilities.

    Parameters
    ----------
    method : {"isotonic", "platt", "none"}
        ``"platt"``: a logistic regression on the raw log-odds (slope and intercept);
        ``"isotonic"``: a non-decreasing step-linear map of the raw probability
        (sklearn's ``IsotonicRegression``, clipped outside the fitted range);
        ``"none"``: the sigmoid of the raw log-odds.

    Both maps are non-decreasing, so calibration never reorders applicants (AUC and
    monotone constraints survive it). The learned state is plain arrays: ``coef_``
    (Platt ``[slope, intercept]``) or ``x_``/``y_`` (isotonic knots), read back with
    ``np.interp`` and no pickled sklearn object.
    """

    def __init__(self, method: str = "platt") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray,
            sample_weight: np.ndarray | None = None) -> Calibrator:
        """Learn the map from raw log-odds ``margin`` to labels ``y`` (0/1)."""
        check_choice("Calibrator", "method", self.method, METHODS)
        margin, y = np.asarray(margin, dtype=float), np.asarray(y, dtype=float)
        self.coef_ = np.array([1.0, 0.0])
        self.x_, self.y_ = np.zeros(0), np.zeros(0)
        if self.method == "platt":
            lr = LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(margin[:, None], y, sample_weight=sample_weight)
            slope, icpt = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if slope <= 0:  # a reversing map would undo the model's ranking
                logger.warning("Platt slope %.3g <= 0 on the calibration data; keeping the "
                               "raw probabilities", slope)
                slope, icpt = 1.0, 0.0
            self.coef_ = np.array([slope, icpt])
        elif self.method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True,
                                     out_of_bounds="clip")
            iso.fit(sigmoid(margin), y, sample_weight=sample_weight)
            self.x_ = np.asarray(iso.X_thresholds_, dtype=float)
            self.y_ = np.asarray(iso.y_thresholds_, dtype=float)
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the raw log-odds ``margin``."""
        margin = np.asarray(margin, dtype=float)
        if self.method == "isotonic":
            return np.interp(sigmoid(margin), self.x_, self.y_)
        return sigmoid(self.coef_[0] * margin + self.coef_[1])


def choose_calibration(margin: np.ndarray, y: np.ndarray, seed: int
                       ) -> tuple[str, dict[str, float]]:
    """Pick the calibration with the lowest out-of-fold Brier score on the validation part.

    Each candidate is fitted on 4/5 of the validation rows and scored on the other 1/5
    (5 folds), so isotonic regression cannot win by memorising its own fitting data.
    Returns the method and every candidate's score.
    """
    n_min = int(min(y.sum(), len(y) - y.sum()))
    scores: dict[str, float] = {"none": float(brier_score_loss(y, sigmoid(margin)))}
    if n_min < 2:
        return "none", scores
    folds = StratifiedKFold(n_splits=min(5, n_min), shuffle=True, random_state=seed)
    for method in ("platt", "isotonic"):
        oof = np.empty_like(margin)
        for fit_idx, out_idx in folds.split(margin, y):
            cal = Calibrator(method).fit(margin[fit_idx], y[fit_idx])
            oof[out_idx] = cal.predict(margin[out_idx])
        scores[method] = float(brier_score_loss(y, oof))
    return min(scores, key=lambda k: scores[k]), scores
