"""The points scorecard of genlift's credit champion / challenger (:class:`Scorecard`):
monotone weight-of-evidence bins, a logistic regression on the WOE values and points per
bin by PDO scaling, with calibration, reason codes and per-row errors as
:class:`CreditModel` has them. See docs/architecture.md, "Credit risk"."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from engine.credit.base import CreditPD, pdo_scaling
from engine.credit.calibration import Calibrator, choose_calibration
from engine.credit.data import check_labelled, feature_matrix, frame_fingerprint, raise_problems
from features.credit import ID, TARGET, CreditFeatures
from features.errors import DataValidationError, check_choice, check_int, check_real

logger = logging.getLogger(__name__)

ARRAYS_FILE = "scorecard.npz"
_CALIBRATIONS = ("auto", "platt", "none")  # both keep the points additive


def _pava(good: np.ndarray, bad: np.ndarray, increasing: bool) -> list[list[int]]:
    """Pool adjacent bins (pool-adjacent-violators) until the bad rate is strictly
    increasing (or decreasing) along them; returns the groups of bin indices."""
    blocks: list[list[Any]] = []  # [good, bad, members]
    for i in range(len(good)):
        blocks.append([good[i], bad[i], [i]])
        while len(blocks) > 1:
            g1, b1, _ = blocks[-2]
            g2, b2, _ = blocks[-1]
            r1, r2 = b1 / max(g1 + b1, 1e-12), b2 / max(g2 + b2, 1e-12)
            if (r2 > r1) if increasing else (r2 < r1):
                break
            g, b, m = blocks.pop()
            blocks[-1][0] += g
            blocks[-1][1] += b
            blocks[-1][2] += m
    return [blk[2] for blk in blocks]


def _merge_small(good: np.ndarray, bad: np.ndarray, groups: list[list[int]],
                 min_count: float) -> list[list[int]]:
    """Merge the smallest group into its neighbour with the closer bad rate until every
    group holds at least ``min_count`` (weighted) rows. Adjacent merges keep a monotone
    sequence monotone."""
    groups = [list(g) for g in groups]
    while len(groups) > 1:
        n = np.array([good[g].sum() + bad[g].sum() for g in groups])
        i = int(np.argmin(n))
        if n[i] >= min_count:
            break
        rate = np.array([bad[g].sum() for g in groups]) / np.maximum(n, 1e-12)
        if i == 0:
            j = 1
        elif i == len(groups) - 1:
            j = i - 1
        else:
            j = i - 1 if abs(rate[i] - rate[i - 1]) <= abs(rate[i] - rate[i + 1]) else i + 1
        lo, hi = min(i, j), max(i, j)
        groups[lo] = groups[lo] + groups[hi]
        del groups[hi]
    return groups


def _woe(good: np.ndarray, bad: np.ndarray, s: float) -> tuple[np.ndarray, float]:
    """WOE ``ln(good share / bad share)`` per bin with pseudo-count ``s``, and the IV."""
    m = len(good)
    pg = (good + s) / (good.sum() + s * m)
    pb = (bad + s) / (bad.sum() + s * m)
    woe = np.log(pg / pb)
    return woe, float(((pg - pb) * woe).sum())


def _num_label(edges: np.ndarray, b: int) -> str:
    lo = f"{edges[b - 1]:g}" if b > 0 else "-inf"
    hi = f"{edges[b]:g}" if b < len(edges) else "inf"
    return f"[{lo}, {hi})"


class Scorecard(CreditPD):
    """Points scorecard: monotone WOE bins, logistic regression on WOE, PDO points.

    Numeric features start from ``max_bins`` quantile bins of the real training rows;
    adjacent bins are pooled until the bad rate is monotone along the feature (rising or
    falling, whichever keeps the higher information value: pool-adjacent-violators),
    then bins holding less than ``min_bin_share`` of the rows are merged into the
    neighbour with the closer bad rate. Categories are ordered by smoothed bad rate and
    small ones merged with their neighbour the same way. Every bin gets
    ``WOE = ln(good share / bad share)`` (pseudo-count ``smoothing``), a logistic
    regression is fitted on the WOE values, and each bin's points are

    ``points = -factor * a * (coef_j * WOE_jb + intercept / p) + (offset - factor * c) / p``

    (``p`` features in the card, ``a``/``c`` the Platt calibration, 1/0 without), so an
    applicant's score, the sum of its bins' points, is exactly
    ``offset + factor * ln(odds good : bad)`` of its calibrated PD.

    Parameters
    ----------
    max_bins : int, default 20
        Starting quantile bins per numeric feature.
    min_bin_share : float in (0, 0.5], default 0.03
        Smallest share of the training rows in a final bin. On german-credit (2 x 5 CV)
        20 bins / 3% gave AUC 0.790, 10 bins / 5% 0.784 and 10 bins / 10% 0.778.
    smoothing : float, default 0.5
        Pseudo-count added to every bin's good and bad counts in the WOE.
    C : float, default 0.3
        Inverse L2 strength of the logistic regression (german-credit, 2 x 5 CV: AUC
        0.790 with 0.3 or 1.0, Brier 0.1660 with 0.3, 0.1667 with 1.0).
    calibration : {"auto", "platt", "none"}, default "auto"
        "auto" picks by out-of-fold Brier. Isotonic calibration is not offered: a step
        map of the log-odds would break the additive points.
    pdo, base_score, base_odds : float, default 20, 600, 50
        Points to double the odds; points at odds (good : bad) ``base_odds``.
    n_reasons : int, default 4
        Reason codes per applicant: the features whose bin loses the most points
        against that feature's best bin.
    random_state : int, default 0
        Seed of the calibration folds.

    Attributes
    ----------
    features_ : CreditFeatures
    bins_ : dict
        Per feature: ``edges`` (numerics; bin ``b`` is ``[edges[b-1], edges[b])``) or
        ``groups`` (categoricals: group of each category code), ``labels``, ``woe``,
        ``points``, ``count``, ``bad_rate``.
    coef_ : dict of str to float
        Regression coefficient of each feature (0 for features left out).
    intercept_ : float
    directions_ : dict of str to int
        +1 when the bad rate rises with a numeric feature, -1 when it falls, 0 one bin.
    iv_ : dict of str to float
    dropped_ : list of str
        Features left out: one bin, or a coefficient of the wrong sign.
    calibration_, calibration_scores_, calibrator_, fingerprint_
        As in :class:`CreditModel`.

    Examples
    --------
    >>> card = Scorecard().fit(apps)  # doctest: +SKIP
    >>> card.table().head()  # doctest: +SKIP
    """

    def __init__(self, *, max_bins: int = 20, min_bin_share: float = 0.03,
                 smoothing: float = 0.5, C: float = 0.3, calibration: str = "auto",
                 pdo: float = 20.0, base_score: float = 600.0, base_odds: float = 50.0,
                 n_reasons: int = 4, random_state: int = 0) -> None:
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.smoothing = smoothing
        self.C = C
        self.calibration = calibration
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.n_reasons = n_reasons
        self.random_state = random_state

    def _validate_params(self) -> None:
        own = "Scorecard"
        check_int(own, "max_bins", self.max_bins, 2)
        check_int(own, "n_reasons", self.n_reasons, 0)
        check_int(own, "random_state", self.random_state, 0)
        check_real(own, "min_bin_share", self.min_bin_share, 0.0, 0.5, low_open=True)
        check_real(own, "smoothing", self.smoothing, 0.0, low_open=True)
        check_real(own, "C", self.C, 0.0, low_open=True)
        check_choice(own, "calibration", self.calibration, _CALIBRATIONS)
        check_real(own, "pdo", self.pdo, 0.0, low_open=True)
        check_real(own, "base_score", self.base_score)
        check_real(own, "base_odds", self.base_odds, 0.0, low_open=True)

    # ------------------------------------------------------------------------ fit
    def _bin_numeric(self, x: np.ndarray, x_all: np.ndarray, y: np.ndarray, w: np.ndarray,
                     min_count: float) -> tuple[np.ndarray, int]:
        """Inner edges of the monotone bins and the direction of the bad rate."""
        qs = np.quantile(x, np.linspace(0, 1, int(self.max_bins) + 1)[1:-1])
        edges = np.unique(qs)
        codes = np.searchsorted(edges, x_all, side="right")
        m = len(edges) + 1
        good = np.bincount(codes, weights=w * (y == 0), minlength=m)
        bad = np.bincount(codes, weights=w * (y == 1), minlength=m)
        tried: list[tuple[float, int, list[list[int]]]] = []
        for sign in (1, -1):
            groups = _merge_small(good, bad, _pava(good, bad, sign > 0), min_count)
            g = np.array([good[k].sum() for k in groups])
            b = np.array([bad[k].sum() for k in groups])
            tried.append((_woe(g, b, float(self.smoothing))[1], sign, groups))
        _, sign, groups = max(tried, key=lambda t: t[0])  # a tie keeps the rising one
        # a group's upper edge is the edge after its last fine bin
        new_edges = np.array([edges[grp[-1]] for grp in groups[:-1]], dtype=float)
        return new_edges, (sign if len(groups) > 1 else 0)

    def _group_categories(self, codes: np.ndarray, y: np.ndarray, w: np.ndarray, m: int,
                          min_count: float) -> np.ndarray:
        """Group index of every category code: small categories merged with their
        neighbour in smoothed-bad-rate order."""
        good = np.bincount(codes, weights=w * (y == 0), minlength=m)
        bad = np.bincount(codes, weights=w * (y == 1), minlength=m)
        prior = bad.sum() / max(good.sum() + bad.sum(), 1e-12)
        s = float(self.smoothing)
        rate = (bad + s * prior * 2) / (good + bad + s * 2)
        order = np.argsort(rate, kind="stable")
        groups = _merge_small(good[order], bad[order], [[i] for i in range(m)], min_count)
        out = np.zeros(m, dtype=np.int64)
        for gi, grp in enumerate(sorted(groups, key=lambda g: min(g))):
            out[order[grp]] = gi
        return out

    def _codes(self, X: np.ndarray) -> np.ndarray:
        codes = np.empty(X.shape, dtype=np.int64)
        for j, col in enumerate(self.features_.feature_names_):
            card = self.bins_[col]
            if "edges" in card:
                codes[:, j] = np.searchsorted(card["edges"], X[:, j], side="right")
            else:
                codes[:, j] = card["groups"][X[:, j].astype(np.int64)]
        return codes

    def _woe_matrix(self, codes: np.ndarray, names: Sequence[str]) -> np.ndarray:
        cols = [self.bins_[c]["woe"][codes[:, self.features_.feature_names_.index(c)]]
                for c in names]
        return np.column_stack(cols) if cols else np.zeros((len(codes), 0))

    def _regress(self, Z: np.ndarray, y: np.ndarray, w: np.ndarray) -> LogisticRegression:
        lr = LogisticRegression(C=float(self.C), max_iter=2000)
        return lr.fit(Z, y, sample_weight=w)

    def fit(self, applicants: pd.DataFrame, *, synthetic: pd.DataFrame | None = None,
            synthetic_weight: float = 1.0) -> Scorecard:
        """Bin, weigh and regress on labelled applicants.

        ``synthetic`` rows (weight ``synthetic_weight``) count towards the bin tallies and
        the regression but never move the starting quantile cuts.

        Raises
        ------
        DataValidationError
            As :meth:`CreditModel.fit`: no or non-0/1 ``default``, fewer than 2 rows of a
            class, missing feature values, unseen categories in synthetic rows.
        """
        self._validate_params()
        check_real("Scorecard.fit", "synthetic_weight", synthetic_weight, 0.0)
        # Small regressions: BLAS threads only contend (measured 15x slower on 2 cores).
        with threadpool_limits(1, "blas"):
            return self._fit(applicants, synthetic, synthetic_weight)

    def _fit(self, applicants: pd.DataFrame, synthetic: pd.DataFrame | None,
             synthetic_weight: float) -> Scorecard:
        frame = check_labelled(applicants, "Scorecard.fit", "applicants")
        features = CreditFeatures().fit(frame)
        if not features.feature_names_:
            raise DataValidationError("applicants has no feature columns", table="applicants",
                                      fix="add feature columns beside applicant_id/default")
        raise_problems(features, frame, "applicants",
                       "fill or drop rows with missing feature values before fitting")
        X_real = feature_matrix(features, frame)
        X, y = X_real, frame[TARGET].astype(int).to_numpy()
        w = np.ones(len(y))
        if synthetic is not None and synthetic_weight > 0:
            syn = check_labelled(synthetic, "Scorecard.fit", "synthetic_applicants",
                                 both_classes=False)
            raise_problems(features, syn, "synthetic_applicants",
                           "generate synthetic applicants from the real categories")
            X = np.vstack([X, feature_matrix(features, syn)])
            y = np.concatenate([y, syn[TARGET].astype(int).to_numpy()])
            w = np.concatenate([w, np.full(len(syn), float(synthetic_weight))])
        self.features_ = features
        min_count = float(self.min_bin_share) * float(w.sum())
        s = float(self.smoothing)
        self.bins_, self.iv_, self.directions_ = {}, {}, {}
        for j, col in enumerate(features.feature_names_):
            card: dict[str, Any] = {}
            if col in features.categories_:
                cats = features.categories_[col]
                groups = self._group_categories(X[:, j].astype(np.int64), y, w, len(cats),
                                                min_count)
                card["groups"] = groups
                card["labels"] = [", ".join(c for c, g in zip(cats, groups, strict=True)
                                            if g == k) for k in range(int(groups.max()) + 1)]
                codes = groups[X[:, j].astype(np.int64)]
            else:
                edges, sign = self._bin_numeric(X_real[:, j], X[:, j], y, w, min_count)
                card["edges"] = edges
                card["labels"] = [_num_label(edges, b) for b in range(len(edges) + 1)]
                self.directions_[col] = sign
                codes = np.searchsorted(edges, X[:, j], side="right")
            m = len(card["labels"])
            good = np.bincount(codes, weights=w * (y == 0), minlength=m)
            bad = np.bincount(codes, weights=w * (y == 1), minlength=m)
            card["woe"], self.iv_[col] = _woe(good, bad, s)
            card["count"] = good + bad
            card["bad_rate"] = bad / np.maximum(good + bad, 1e-12)
            self.bins_[col] = card
        codes = self._codes(X)
        active = [c for c in features.feature_names_ if len(self.bins_[c]["labels"]) > 1]
        self.dropped_ = [c for c in features.feature_names_ if c not in active]
        while True:
            lr = self._regress(self._woe_matrix(codes, active), y, w) if active else None
            # WOE grows with the good share, so a PD model needs a negative coefficient;
            # a positive one comes from collinearity and would reverse the bins' order.
            coefs = dict(zip(active, lr.coef_[0], strict=True)) if lr is not None else {}
            wrong = [c for c in active if coefs[c] > 0]
            if not wrong:
                break
            worst = max(wrong, key=coefs.__getitem__)
            logger.info("Scorecard: dropping %s (coefficient of the wrong sign)", worst)
            active.remove(worst)
            self.dropped_.append(worst)
        self.active_ = active
        self.coef_ = {c: 0.0 for c in features.feature_names_}
        if lr is not None:
            self.coef_.update({c: float(b) for c, b in zip(active, lr.coef_[0], strict=True)})
            self.intercept_ = float(lr.intercept_[0])
        else:
            prior = float((w * y).sum() / w.sum())
            self.intercept_ = float(np.log(prior / (1 - prior)))
        margin = self._margin_codes(codes)
        oof = self._oof_margin(codes, y, w)
        method, scores = choose_calibration(oof[: len(frame)], y[: len(frame)].astype(float),
                                            int(self.random_state))
        scores = {k: v for k, v in scores.items() if k in ("platt", "none")}
        method = min(scores, key=lambda k: scores[k]) if self.calibration == "auto" \
            else self.calibration
        self.calibration_, self.calibration_scores_ = method, scores
        self.calibrator_ = Calibrator(method).fit(margin, y, sample_weight=w)
        self._set_points()
        self.fingerprint_ = frame_fingerprint(frame)
        logger.info("Scorecard: %d features in the card (%d left out), calibration %s",
                    len(active), len(self.dropped_), method)
        return self

    def _oof_margin(self, codes: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Out-of-fold log-odds of the regression (bins fixed), for the calibration."""
        n_min = int(min(y.sum(), len(y) - y.sum()))
        if not self.active_ or n_min < 2:
            return self._margin_codes(codes)
        Z = self._woe_matrix(codes, self.active_)
        oof = np.empty(len(y))
        folds = StratifiedKFold(n_splits=min(5, n_min), shuffle=True,
                                random_state=int(self.random_state))
        for fit_idx, out_idx in folds.split(Z, y):
            lr = self._regress(Z[fit_idx], y[fit_idx], w[fit_idx])
            oof[out_idx] = lr.decision_function(Z[out_idx])
        return oof

    def _margin_codes(self, codes: np.ndarray) -> np.ndarray:
        Z = self._woe_matrix(codes, self.active_)
        coef = np.array([self.coef_[c] for c in self.active_])
        return self.intercept_ + (Z @ coef if len(coef) else np.zeros(len(codes)))

    def _set_points(self) -> None:
        factor, offset = pdo_scaling(self.pdo, self.base_score, self.base_odds)
        a, c = (self.calibrator_.coef_ if self.calibration_ == "platt" else (1.0, 0.0))
        p = len(self.active_)
        self.base_points_ = 0.0 if p else offset - factor * (a * self.intercept_ + c)
        for col, card in self.bins_.items():
            if col in self.active_:
                card["points"] = (-factor * a * (self.coef_[col] * card["woe"]
                                                 + self.intercept_ / p)
                                  + (offset - factor * c) / p)
            else:
                card["points"] = np.zeros(len(card["labels"]))

    # ------------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "bins_"):
            raise RuntimeError("This Scorecard instance is not fitted yet; call "
                               "fit(applicants) before using it.")

    def table(self) -> pd.DataFrame:
        """The scorecard: ``feature, bin, count, bad_rate, woe, coef, points`` per bin
        (training counts; features left out have 0 points)."""
        self._check_fitted()
        rows = []
        for col, card in self.bins_.items():
            for b, label in enumerate(card["labels"]):
                rows.append({"feature": col, "bin": label, "count": float(card["count"][b]),
                             "bad_rate": float(card["bad_rate"][b]),
                             "woe": float(card["woe"][b]), "coef": self.coef_[col],
                             "points": float(card["points"][b])})
        return pd.DataFrame(rows)

    def _row_points(self, X: np.ndarray) -> np.ndarray:
        codes = self._codes(X)
        return np.column_stack([self.bins_[c]["points"][codes[:, j]]
                                for j, c in enumerate(self.features_.feature_names_)])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated PD of every applicant (strict: rows that cannot be scored raise;
        :meth:`score` gives per-row errors)."""
        frame = self._check_frame(frame, "Scorecard.predict_proba")
        raise_problems(self.features_, frame, "applicants",
                       "use Scorecard.score for per-row errors, or fix those rows")
        if len(frame) == 0:
            return np.zeros(0)
        X = feature_matrix(self.features_, frame)
        return self.calibrator_.predict(self._margin_codes(self._codes(X)))

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw log-odds of default before calibration (ranks as the PDs, without the ties
        a calibration can make)."""
        frame = self._check_frame(frame, "Scorecard.decision_function")
        raise_problems(self.features_, frame, "applicants",
                       "use Scorecard.score for per-row errors, or fix those rows")
        if len(frame) == 0:
            return np.zeros(0)
        return self._margin_codes(self._codes(feature_matrix(self.features_, frame)))

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """PD, points and reason codes per applicant, with a per-row error column.

        Same layout as :meth:`CreditModel.score`: ``applicant_id, pd, score,
        reason_<k>, reason_<k>_value, error``. ``score`` is the sum of the applicant's
        bin points; a reason is a feature whose bin scores below that feature's best
        bin, largest loss first, and its value the points lost (for adverse-action
        notices). Rows that cannot be scored get NaN ``pd``/``score``, no reasons and
        the error text.

        Raises
        ------
        DataValidationError
            ``applicant_id`` or a feature column is absent.
        """
        frame = self._check_frame(frame, "Scorecard.score")
        if ID not in frame.columns:
            raise DataValidationError(f"applicants has no '{ID}' column", table="applicants",
                                      column=ID, fix="add an id per applicant to score")
        errors = self.features_.problems(frame).to_numpy(dtype=object)
        ok = errors == ""
        n, k = len(frame), int(self.n_reasons)
        pd_, score = np.full(n, np.nan), np.full(n, np.nan)
        names = np.full((n, k), "", dtype=object)
        values = np.full((n, k), np.nan)
        if ok.any():
            X = feature_matrix(self.features_, frame.loc[ok])
            pts = self._row_points(X)
            score[ok] = pts.sum(axis=1) + self.base_points_
            pd_[ok] = self.calibrator_.predict(self._margin_codes(self._codes(X)))
            best = np.array([self.bins_[c]["points"].max()
                             for c in self.features_.feature_names_])
            lost = best[None, :] - pts
            kk = min(k, lost.shape[1])
            order = np.argsort(-lost, axis=1, kind="stable")[:, :kk]
            top = np.take_along_axis(lost, order, axis=1)
            feat = np.asarray(self.features_.feature_names_, dtype=object)[order]
            hit = top > 1e-9
            names[np.ix_(ok, np.arange(kk))] = np.where(hit, feat, "")
            values[np.ix_(ok, np.arange(kk))] = np.where(hit, top, np.nan)
        if (~ok).any():
            logger.warning("Scorecard.score: %d of %d rows not scored (first: %s)",
                           int((~ok).sum()), n, errors[~ok][0])
        return self.score_frame(frame, errors, pd_, score, names, values)

    # --------------------------------------------------------------- persistence
    # The folder holds scorecard.npz (bins, WOE, points, calibration) and params.json.
    def _save_state(self, folder: Path) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {
            "platt": self.calibrator_.coef_, "iso_x": self.calibrator_.x_,
            "iso_y": self.calibrator_.y_}
        cards = {}
        for j, (col, card) in enumerate(self.bins_.items()):
            key = "edges" if "edges" in card else "groups"
            arrays[f"{key}_{j}"] = card[key]
            for name in ("woe", "points", "count", "bad_rate"):
                arrays[f"{name}_{j}"] = np.asarray(card[name], dtype=float)
            cards[col] = {"index": j, "kind": key, "labels": list(card["labels"])}
        with open(folder / ARRAYS_FILE, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        return {"features": self.features_.state(),
                "bins": cards, "coef": self.coef_, "intercept": self.intercept_,
                "active": self.active_, "dropped": self.dropped_, "iv": self.iv_,
                "directions": self.directions_, "base_points": self.base_points_,
                "calibration": self.calibration_,
                "calibration_scores": self.calibration_scores_}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> Scorecard:
        model = cls(**config)
        model.features_ = CreditFeatures.from_state(state["features"])
        model.bins_ = {}
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as data:
            cal = Calibrator(state["calibration"])
            cal.coef_, cal.x_, cal.y_ = data["platt"], data["iso_x"], data["iso_y"]
            for col in model.features_.feature_names_:
                meta = state["bins"][col]
                j, key = int(meta["index"]), str(meta["kind"])
                card: dict[str, Any] = {key: data[f"{key}_{j}"],
                                        "labels": [str(x) for x in meta["labels"]]}
                for name in ("woe", "points", "count", "bad_rate"):
                    card[name] = data[f"{name}_{j}"]
                model.bins_[col] = card
        model.calibrator_ = cal
        model.calibration_ = str(state["calibration"])
        model.calibration_scores_ = {k: float(v) for k, v in
                                     state["calibration_scores"].items()}
        model.coef_ = {k: float(v) for k, v in state["coef"].items()}
        model.intercept_ = float(state["intercept"])
        model.active_ = [str(c) for c in state["active"]]
        model.dropped_ = [str(c) for c in state["dropped"]]
        model.iv_ = {k: float(v) for k, v in state["iv"].items()}
        model.directions_ = {k: int(v) for k, v in state["directions"].items()}
        model.base_points_ = float(state["base_points"])
        return model
