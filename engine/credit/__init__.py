"""Credit risk: a calibrated, monotone LightGBM PD model, a WOE-logistic baseline, PSI and CV.

The pieces of genlift's credit-risk job (docs/architecture.md, "Credit risk"):

- :class:`CreditModel` (``model.py``) - LightGBM binary PD model with monotone
  constraints, calibration (:class:`Calibrator`, ``calibration.py``), reason codes from
  SHAP contributions and scorecard points;
- :class:`Scorecard` (``scorecard.py``) - monotone WOE bins, logistic regression and
  points per bin (PDO scaling), with the same calibration, reason codes and ``score``;
- :func:`select_champion` (``champion.py``) - a small LightGBM search and the choice
  between it and the scorecard by repeated-CV AUC (the scorecard on a tie);
- :class:`WoeLogistic` (``baseline.py``) - the classic scorecard baseline:
  weight-of-evidence binning and a logistic regression;
- :func:`psi` / :func:`psi_table` and :func:`credit_metrics` (AUC, KS, Brier, PR-AUC,
  recall at a fixed false-positive rate) in ``metrics.py``;
- :func:`cross_validate` (``evaluation.py``) - repeated stratified CV with paired
  comparisons and CIs.

Both saved models share one artifact family (``base.py``): :func:`load_credit_model`
reads whichever was saved. ``data.py`` holds what they all read: labelled applicants
checked and the float matrix.
"""

from engine.credit.base import CreditPD, load_credit_model, pdo_scaling
from engine.credit.baseline import WoeLogistic
from engine.credit.calibration import Calibrator
from engine.credit.champion import CHOICES, LGB_GRID, select_champion, tune_lightgbm
from engine.credit.evaluation import cross_validate
from engine.credit.metrics import (
    METRICS,
    credit_metrics,
    ks_statistic,
    psi,
    psi_table,
    recall_at_fpr,
)
from engine.credit.model import DEFAULT_MONOTONE, CreditModel
from engine.credit.scorecard import Scorecard
from engine.intervals import corrected_interval

__all__ = [
    "CHOICES",
    "DEFAULT_MONOTONE",
    "LGB_GRID",
    "METRICS",
    "Calibrator",
    "CreditModel",
    "CreditPD",
    "Scorecard",
    "WoeLogistic",
    "corrected_interval",
    "credit_metrics",
    "cross_validate",
    "load_credit_model",
    "pdo_scaling",
    "ks_statistic",
    "psi",
    "psi_table",
    "recall_at_fpr",
    "select_champion",
    "tune_lightgbm",
]
