"""Credit risk: a calibrated, monotone LightGBM PD model, a WOE-logistic baseline, PSI and CV.

The pieces of genlift's credit-risk job (docs/architecture.md, "Credit risk"):

- :class:`CreditModel` (``model.py``) - LightGBM binary PD model with monotone
  constraints, calibration (:class:`Calibrator`, ``calibration.py``), reason codes from
  SHAP contributions and scorecard points;
- :class:`WoeLogistic` (``baseline.py``) - the classic scorecard baseline:
  weight-of-evidence binning and a logistic regression;
- :func:`psi` / :func:`psi_table` and :func:`credit_metrics` (AUC, KS, Brier, PR-AUC,
  recall at a fixed false-positive rate) in ``metrics.py``;
- :func:`cross_validate` (``evaluation.py``) - repeated stratified CV with paired
  comparisons and CIs.

``data.py`` holds what they all read: labelled applicants checked and the float matrix.
"""

from engine.credit.baseline import WoeLogistic
from engine.credit.calibration import Calibrator
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

__all__ = [
    "DEFAULT_MONOTONE",
    "METRICS",
    "Calibrator",
    "CreditModel",
    "WoeLogistic",
    "credit_metrics",
    "cross_validate",
    "ks_statistic",
    "psi",
    "psi_table",
    "recall_at_fpr",
]
