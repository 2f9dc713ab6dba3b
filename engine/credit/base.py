"""What every saved credit PD model shares (:class:`CreditPD`): one artifact family, so a
champion folder may hold either model and :func:`load_credit_model` reads whichever was
saved; scorecard points by PDO scaling; and the ``score`` output layout."""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from engine.estimator import Estimator
from features.artifacts import Artifact
from features.credit import ID, CreditFeatures

REFIT = "train the model (`genlift train credit`)"
_PD_CLIP = 1e-6  # PD bounds for the points formula: a PD of exactly 0 or 1 has no log-odds


def pdo_scaling(pdo: float, base_score: float, base_odds: float) -> tuple[float, float]:
    """``(factor, offset)`` of ``points = offset + factor * ln(odds good : bad)``:
    ``factor = pdo / ln 2`` and ``offset = base_score - factor * ln(base_odds)``, so odds
    ``base_odds`` score ``base_score`` and each doubling of the odds adds ``pdo``."""
    factor = float(pdo) / math.log(2.0)
    return factor, float(base_score) - factor * math.log(float(base_odds))


class CreditPD(Estimator, Artifact):
    """Base of genlift's credit PD models (:class:`CreditModel`, :class:`Scorecard`).

    Subclasses have ``pdo``, ``base_score``, ``base_odds`` and ``n_reasons`` parameters,
    ``features_`` (a fitted :class:`features.credit.CreditFeatures`), ``calibration_``,
    ``predict_proba(frame)`` and ``score(frame)`` with the layout of
    :meth:`score_frame`. They save into one artifact family ("credit"): a folder written
    by either replaces the other's, and :func:`load_credit_model` loads both.
    """

    artifact_kind: ClassVar[str] = "credit"
    artifact_refit: ClassVar[str] = REFIT
    pdo: float
    base_score: float
    base_odds: float
    n_reasons: int
    features_: CreditFeatures
    calibration_: str

    def _check_fitted(self) -> None:
        raise NotImplementedError

    def _check_frame(self, frame: object, owner: str) -> pd.DataFrame:
        self._check_fitted()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{owner} expects a pandas DataFrame; got {type(frame).__name__}")
        return frame

    def points(self, pd_: np.ndarray) -> np.ndarray:
        """Scorecard points of PDs: ``offset + factor * ln(odds_good)``.

        ``factor = pdo / ln 2`` and ``offset = base_score - factor * ln(base_odds)``, so
        odds (good : bad) ``base_odds`` score ``base_score`` points and each doubling of
        the odds adds ``pdo`` points. PDs are clipped to ``[1e-6, 1 - 1e-6]`` first (an
        isotonic calibration can output 0 or 1). NaN stays NaN.
        """
        p = np.clip(np.asarray(pd_, dtype=float), _PD_CLIP, 1 - _PD_CLIP)
        factor, offset = pdo_scaling(self.pdo, self.base_score, self.base_odds)
        return offset + factor * np.log((1 - p) / p)

    def score_frame(self, frame: pd.DataFrame, errors: np.ndarray, pd_: np.ndarray,
                    score: np.ndarray, names: np.ndarray, values: np.ndarray
                    ) -> pd.DataFrame:
        """The ``score`` output: ``applicant_id, pd, score, reason_1, reason_1_value, ...,
        error``, one row per input row in input order."""
        out = pd.DataFrame({ID: frame[ID].to_numpy(), "pd": pd_, "score": score})
        for j in range(int(self.n_reasons)):
            out[f"reason_{j + 1}"] = names[:, j]
            out[f"reason_{j + 1}_value"] = values[:, j]
        out["error"] = errors
        return out

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def fit(self, applicants: pd.DataFrame, *, synthetic: pd.DataFrame | None = None,
            synthetic_weight: float = 1.0) -> CreditPD:
        raise NotImplementedError

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw log-odds of default before calibration (same order as the PDs)."""
        raise NotImplementedError

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError


def load_credit_model(path: str | os.PathLike[str], **options: Any) -> CreditPD:
    """Load a saved credit model of either class (the champion `genlift train credit`
    kept): a :class:`CreditModel` or a :class:`Scorecard`."""
    return CreditPD.load(path, **options)
