"""The classic scorecard baseline of the credit champion / challenger: weight-of-evidence
binning and a logistic regression (:class:`WoeLogistic`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from engine.credit.data import check_labelled, feature_matrix, raise_problems
from engine.estimator import Estimator
from features.credit import TARGET, CreditFeatures
from features.errors import check_int, check_real


class WoeLogistic(Estimator):
    """Weight-of-evidence binning plus logistic regression: the classic scorecard baseline.

    Numeric features are cut at quantiles of the training data (at most ``bins`` bins;
    tied quantiles merge), categorical features keep one bin per category. Each bin gets
    ``WOE = ln((good_b + s) / (G + s m)) - ln((bad_b + s) / (B + s m))`` with additive
    smoothing ``s`` over the feature's ``m`` bins, so a bin with no defaults has a finite
    WOE. A logistic regression is then fitted on the WOE-encoded features.

    Parameters
    ----------
    bins : int, default 5
        Maximum quantile bins per numeric feature.
    C : float, default 1.0
        Inverse L2 regularisation strength of the logistic regression.
    smoothing : float, default 0.5
        Pseudo-count ``s`` added to every bin's good and bad counts.

    Attributes
    ----------
    features_ : CreditFeatures
    edges_ : dict of str to ndarray
        Inner cut points of each numeric feature (bin ``i`` is ``[edges[i-1], edges[i])``).
    woe_ : dict of str to ndarray
        WOE of each bin (numerics) or category (categoricals, in fixed category order).
    iv_ : dict of str to float
        Information value of each feature.
    model_ : sklearn.linear_model.LogisticRegression
    """

    def __init__(self, *, bins: int = 5, C: float = 1.0, smoothing: float = 0.5) -> None:
        self.bins = bins
        self.C = C
        self.smoothing = smoothing

    def _bin_codes(self, X: np.ndarray) -> np.ndarray:
        codes = np.empty(X.shape, dtype=np.int64)
        for j, col in enumerate(self.features_.feature_names_):
            if col in self.edges_:
                codes[:, j] = np.searchsorted(self.edges_[col], X[:, j], side="right")
            else:
                codes[:, j] = X[:, j].astype(np.int64)
        return codes

    def _encode(self, codes: np.ndarray) -> np.ndarray:
        return np.column_stack([self.woe_[c][codes[:, j]]
                                for j, c in enumerate(self.features_.feature_names_)])

    def fit(self, applicants: pd.DataFrame, *, synthetic: pd.DataFrame | None = None,
            synthetic_weight: float = 1.0) -> WoeLogistic:
        """Learn bins from the real applicants, then WOE and the regression.

        ``synthetic`` rows (weight ``synthetic_weight``) count towards the WOE tallies and
        the regression but never move the bin edges; weight 0 is the same as none.
        """
        check_int("WoeLogistic", "bins", self.bins, 2)
        check_real("WoeLogistic", "C", self.C, 0.0, low_open=True)
        check_real("WoeLogistic", "smoothing", self.smoothing, 0.0, low_open=True)
        check_real("WoeLogistic.fit", "synthetic_weight", synthetic_weight, 0.0)
        frame = check_labelled(applicants, "WoeLogistic.fit", "applicants")
        self.features_ = CreditFeatures().fit(frame)
        raise_problems(self.features_, frame, "applicants",
                        "fill or drop rows with missing feature values before fitting")
        X = feature_matrix(self.features_, frame)
        y = frame[TARGET].astype(int).to_numpy()
        w = np.ones(len(y))
        self.edges_ = {}
        for j, col in enumerate(self.features_.feature_names_):
            if col in self.features_.numeric_:
                qs = np.quantile(X[:, j], np.linspace(0, 1, self.bins + 1)[1:-1])
                self.edges_[col] = np.unique(qs)
        if synthetic is not None and synthetic_weight > 0:
            syn = check_labelled(synthetic, "WoeLogistic.fit", "synthetic_applicants",
                                  both_classes=False)
            raise_problems(self.features_, syn, "synthetic_applicants",
                            "generate synthetic applicants from the real categories")
            X = np.vstack([X, feature_matrix(self.features_, syn)])
            y = np.concatenate([y, syn[TARGET].astype(int).to_numpy()])
            w = np.concatenate([w, np.full(len(syn), float(synthetic_weight))])
        codes = self._bin_codes(X)
        s = float(self.smoothing)
        good_total, bad_total = float(w[y == 0].sum()), float(w[y == 1].sum())
        self.woe_, self.iv_ = {}, {}
        for j, col in enumerate(self.features_.feature_names_):
            m = (len(self.edges_[col]) + 1 if col in self.edges_
                 else len(self.features_.categories_[col]))
            good = np.bincount(codes[:, j], weights=w * (y == 0), minlength=m)
            bad = np.bincount(codes[:, j], weights=w * (y == 1), minlength=m)
            pg, pb = (good + s) / (good_total + s * m), (bad + s) / (bad_total + s * m)
            self.woe_[col] = np.log(pg / pb)
            self.iv_[col] = float(((pg - pb) * self.woe_[col]).sum())
        self.model_ = LogisticRegression(C=float(self.C), max_iter=2000)
        self.model_.fit(self._encode(codes), y, sample_weight=w)
        return self

    def _design(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The WOE-encoded rows (strict: rows that cannot be scored raise); None if empty."""
        if not hasattr(self, "model_"):
            raise RuntimeError("This WoeLogistic instance is not fitted yet; call "
                               "fit(applicants) before using it.")
        raise_problems(self.features_, frame, "applicants", "fix or drop those rows")
        if len(frame) == 0:
            return None
        return self._encode(self._bin_codes(feature_matrix(self.features_, frame)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """PD of every applicant (strict: rows that cannot be scored raise)."""
        X = self._design(frame)
        return np.zeros(0) if X is None else self.model_.predict_proba(X)[:, 1]

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Log-odds of default (the logistic regression's linear score)."""
        X = self._design(frame)
        return np.zeros(0) if X is None else self.model_.decision_function(X)
