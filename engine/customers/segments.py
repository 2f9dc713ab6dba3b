"""Customer segments: k-means, a Gaussian mixture or RFM cells, on a customer feature
table (:mod:`engine.customers.table`).

Features are scaled first (:class:`CustomerScaler`): skewed non-negative numbers (counts,
money) through ``log1p``, then every number standardised, missing values set to the
training median; categories one-hot, each scaled by 1/sqrt(2) so that a differing
category adds 1 to a squared distance, as one standard deviation does.

``k`` is chosen over ``k_range`` unless given: the silhouette (on a fixed sample of at
most ``silhouette_sample`` customers) for k-means, the BIC for the mixture; the whole
curve is kept in ``k_curve_``. RFM scores recency, frequency and monetary value 1-5 by
the training quintiles and names the cells with the usual RFM grid (R against the mean of
F and M): champions, loyal customers, potential loyalists, new customers, promising, need
attention, about to sleep, at risk, can't lose them, hibernating.

Labels are stable: customers are put in id order before fitting (a shuffled input is the
same fit), and clusters are renamed ``S1``, ``S2``, ... by size (largest first), ties by
centre, so the names do not depend on the algorithm's internal numbering.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from engine.customers.table import ID, RFM
from engine.estimator import Estimator
from features.artifacts import Artifact
from features.errors import DataValidationError, check_choice, check_int, check_random_state
from features.store import fingerprint_frame

logger = logging.getLogger(__name__)

METHODS = ("kmeans", "gmm", "rfm")
REFIT = "segment the customers again (`genlift segment`)"
ONE_HOT = 1.0 / np.sqrt(2.0)
#: added to the mixture's covariances (features are standardised): a one-hot column that is
#: constant inside a component would otherwise give it an unbounded likelihood
REG_COVAR = 0.05
SKEW_LOG = 1.0  # numbers this skewed (and never negative) are scaled on log1p
#: (R scores, FM scores) -> name; the widely used RFM grid, first match wins
RFM_GRID: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal customers", (3, 4, 5), (4, 5)),
    ("can't lose them", (1, 2), (5,)),
    ("at risk", (1, 2), (3, 4)),
    ("hibernating", (1, 2), (1, 2)),
    ("potential loyalists", (4, 5), (2, 3)),
    ("new customers", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need attention", (3,), (3,)),
    ("about to sleep", (3,), (1, 2)),
)
RFM_NAMES = tuple(name for name, _, _ in RFM_GRID)


class CustomerScaler:
    """Numbers (log1p where skewed, standardised, median-filled) and one-hot categories
    as one matrix; fitted state is JSON (:meth:`state`)."""

    def fit(self, frame: pd.DataFrame, numeric: list[str], categorical: list[str]
            ) -> CustomerScaler:
        self.numeric_ = list(numeric)
        self.categories_ = {c: sorted(frame[c].dropna().astype(str).unique().tolist())
                            for c in categorical}
        self.log_: list[str] = []
        self.median_: dict[str, float] = {}
        self.mean_: dict[str, float] = {}
        self.sd_: dict[str, float] = {}
        for col in self.numeric_:
            v = frame[col].to_numpy(dtype=float, na_value=np.nan)
            finite = v[np.isfinite(v)]
            if finite.size and finite.min() >= 0 and pd.Series(finite).skew() > SKEW_LOG:
                self.log_.append(col)
            med = float(np.median(finite)) if finite.size else 0.0
            self.median_[col] = med
            z = self._raw(col, v)
            self.mean_[col] = float(z.mean())
            sd = float(z.std())
            self.sd_[col] = sd if sd > 0 else 1.0
        return self

    def _raw(self, col: str, v: np.ndarray) -> np.ndarray:
        v = np.where(np.isfinite(v), v, self.median_[col])
        return np.log1p(np.maximum(v, 0.0)) if col in self.log_ else v

    @property
    def columns(self) -> list[str]:
        """Names of the matrix's columns (``col=value`` for a category)."""
        return [*self.numeric_, *(f"{c}={v}" for c, vals in self.categories_.items()
                                  for v in vals)]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in [*self.numeric_, *self.categories_] if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"the customers lack feature column(s) {', '.join(missing)} the segments "
                "were built on", column=missing[0],
                fix="score a table with the columns the segments were fitted on")
        parts = [((self._raw(c, frame[c].to_numpy(dtype=float, na_value=np.nan))
                   - self.mean_[c]) / self.sd_[c])[:, None] for c in self.numeric_]
        for col, values in self.categories_.items():
            text = frame[col].astype("string").to_numpy(dtype=object, na_value=None)
            parts.append(np.stack([(text == v) for v in values], axis=1).astype(float)
                         * ONE_HOT)
        return np.hstack(parts) if parts else np.zeros((len(frame), 0))

    def state(self) -> dict[str, Any]:
        return {"numeric": self.numeric_, "categories": self.categories_, "log": self.log_,
                "median": self.median_, "mean": self.mean_, "sd": self.sd_}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CustomerScaler:
        obj = cls()
        obj.numeric_ = list(state["numeric"])
        obj.categories_ = {k: list(v) for k, v in state["categories"].items()}
        obj.log_ = list(state["log"])
        obj.median_ = {k: float(v) for k, v in state["median"].items()}
        obj.mean_ = {k: float(v) for k, v in state["mean"].items()}
        obj.sd_ = {k: float(v) for k, v in state["sd"].items()}
        return obj


def rfm_scores(frame: pd.DataFrame, edges: Mapping[str, list[float]]) -> np.ndarray:
    """R, F and M scores 1-5 (an ``(n, 3)`` int array) by the quintile ``edges``: more
    recent, more frequent and more spending customers score higher."""
    out = np.empty((len(frame), 3), dtype=np.int64)
    for j, col in enumerate(RFM):
        v = frame[col].to_numpy(dtype=float, na_value=np.nan)
        e = np.asarray(edges[col], dtype=float)
        if col == "recency_days":  # fewer days since the last purchase is better
            v = np.where(np.isfinite(v), v, np.inf)
            out[:, j] = 5 - np.searchsorted(e, v, side="left")
        else:
            v = np.where(np.isfinite(v), v, -np.inf)
            out[:, j] = 1 + np.searchsorted(e, v, side="left")
    return np.clip(out, 1, 5)


def rfm_names(scores: np.ndarray) -> np.ndarray:
    """The RFM grid's segment name of each (R, F, M) score row."""
    r = scores[:, 0]
    fm = np.floor((scores[:, 1] + scores[:, 2]) / 2 + 0.5).astype(int)  # half rounds up
    out = np.full(len(scores), "need attention", dtype=object)
    done = np.zeros(len(scores), dtype=bool)
    for name, rs, fms in RFM_GRID:
        hit = ~done & np.isin(r, rs) & np.isin(fm, fms)
        out[hit] = name
        done |= hit
    return out


class CustomerSegmenter(Estimator, Artifact):
    """Segments of customers, with automatic ``k``, stable labels and save / load.

    Parameters
    ----------
    method : {"kmeans", "gmm", "rfm"}
    k : int or None
        Number of segments; None chooses it over ``k_range`` (silhouette for k-means,
        BIC for the mixture). RFM has its own cells and takes no ``k``.
    k_range : tuple of int
        Smallest and largest k tried when choosing (capped at customers - 1).
    n_init : int
        Restarts of k-means / the mixture per k.
    silhouette_sample : int
        Customers the silhouette is computed on (a fixed sample, for speed).
    random_state : int or None

    Examples
    --------
    >>> from engine.customers.table import CustomerTable
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 1, 50), rng.normal(10, 1, 30)]
    >>> frame = pd.DataFrame({"user_id": [f"u{i:02d}" for i in range(80)], "spend": x})
    >>> seg = CustomerSegmenter(random_state=0).fit(CustomerTable(frame, "t", ["spend"], []))
    >>> seg.k_, sorted(seg.sizes_.items())
    (2, [('S1', 50), ('S2', 30)])
    """

    artifact_kind: ClassVar[str] = "segments"
    artifact_refit: ClassVar[str] = REFIT
    model_: Any

    def __init__(self, *, method: str = "kmeans", k: int | None = None,
                 k_range: tuple[int, int] = (2, 10), n_init: int = 4,
                 silhouette_sample: int = 3000, random_state: int | None = 0) -> None:
        self.method = method
        self.k = k
        self.k_range = k_range
        self.n_init = n_init
        self.silhouette_sample = silhouette_sample
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def check_params(self, n_customers: int | None = None) -> None:
        """Raise ``ValueError`` / :class:`DataValidationError` for bad settings (and a
        ``k`` the number of customers cannot hold) before any work."""
        owner = type(self).__name__
        check_choice(owner, "method", self.method, METHODS)
        check_random_state(owner, self.random_state)
        check_int(owner, "n_init", self.n_init, 1)
        check_int(owner, "silhouette_sample", self.silhouette_sample, 10)
        lo_hi = tuple(self.k_range) if isinstance(self.k_range, list | tuple) else ()
        if len(lo_hi) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                      for v in lo_hi) or not 2 <= lo_hi[0] <= lo_hi[1]:
            raise ValueError(f"The 'k_range' parameter of {owner} must be two ints "
                             f"2 <= low <= high. Got {self.k_range!r} instead.")
        if self.k is not None:
            if self.method == "rfm":
                raise DataValidationError(
                    f"RFM segments are fixed cells ({len(RFM_NAMES)} names); k={self.k} "
                    "does not apply", fix="leave --k out (auto) with --method rfm, or use "
                    "kmeans / gmm")
            check_int(owner, "k", self.k, 2)
        if n_customers is None:
            return
        if self.k is not None and self.k > n_customers:
            raise DataValidationError(
                f"k={self.k} segments asked for {n_customers} customers: a segment needs at "
                "least one customer", n_rows=n_customers,
                fix=f"use --k between 2 and {n_customers}, or --k auto")
        if self.method != "rfm" and self.k is None and n_customers < 3:
            raise DataValidationError(
                f"choosing k needs at least 3 customers; the table has {n_customers}",
                n_rows=n_customers, fix="segment more customers, or give --k")
        if self.method == "rfm" and n_customers < 5:
            raise DataValidationError(
                f"RFM quintiles need at least 5 customers; the table has {n_customers}",
                n_rows=n_customers, fix="segment more customers")

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise RuntimeError("CustomerSegmenter is not fitted yet: call fit(table) first")

    # --------------------------------------------------------------------- fit
    def fit(self, table: Any, *, show_progress: bool | None = False) -> CustomerSegmenter:
        """Segment the customers of ``table`` (a :class:`CustomerTable`); labels land in
        ``labels_`` (a Series by ``user_id``, in id order)."""
        frame: pd.DataFrame = table.frame.sort_values(ID, kind="stable", ignore_index=True)
        self.check_params(len(frame))
        if self.method == "rfm":
            missing = [c for c in RFM if c not in table.numeric]
            if missing:
                raise DataValidationError(
                    f"RFM segments need {', '.join(RFM)}; the {table.source} table has no "
                    f"{', '.join(missing)}", table=table.source, column=missing[0],
                    fix="segment interactions, users or transactions, or use --method kmeans")
        self.source_ = table.source
        self.scaler_ = CustomerScaler().fit(frame, table.numeric, table.categorical)
        x = self.scaler_.transform(frame)
        self.fingerprint_ = fingerprint_frame(frame)
        self.k_curve_: list[dict[str, float]] = []
        if self.method == "rfm":
            self._fit_rfm(frame)
            raw = rfm_names(rfm_scores(frame, self.rfm_edges_))
            self.segment_names_ = [n for n in RFM_NAMES if (raw == n).any()]
            labels = raw
        else:
            lo, hi = self.k_range
            ks = [int(self.k)] if self.k is not None else \
                list(range(lo, min(hi, len(frame) - 1) + 1))
            best: Any = None
            found: float | None = None
            for k in tqdm(ks, desc=f"{self.method} k", disable=not show_progress):
                # one BLAS / OpenMP thread: the same fit on a busy or an idle machine, and
                # no oversubscription when other jobs share the cores
                with threadpool_limits(1):
                    model, score = self._fit_k(x, k)
                self.k_curve_.append({"k": k, "score": score})
                better = found is None or (score > found if self.method == "kmeans"
                                           else score < found)
                if better:
                    best, found = model, score
            self.model_ = best  # ks holds at least one k
            codes = self._raw_predict(x)
            order = self._canonical_order(codes, x)
            self.order_ = order  # order_[j] = internal cluster of label S{j+1}
            self.segment_names_ = [f"S{j + 1}" for j in range(len(order))]
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            labels = np.array(self.segment_names_, dtype=object)[rank[codes]]
        self.k_ = len(self.segment_names_)
        self.score_name_ = {"kmeans": "silhouette", "gmm": "BIC", "rfm": ""}[self.method]
        self.score_ = next((c["score"] for c in self.k_curve_ if c["k"] == self.k_), None)
        self.labels_ = pd.Series(labels, index=frame[ID].to_numpy(), name="segment")
        self.sizes_ = {n: int((labels == n).sum()) for n in self.segment_names_}
        logger.info("%s: %d segments on %d customers", self.method, self.k_, len(frame))
        return self

    def _seed(self) -> int:
        return int(self.random_state) if isinstance(self.random_state, int) else 0

    def _fit_k(self, x: np.ndarray, k: int) -> tuple[Any, float]:
        if self.method == "kmeans":
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self._seed()).fit(x)
            labels = km.labels_
            if len(np.unique(labels)) < 2:
                return km, -1.0
            n = min(self.silhouette_sample, len(x))
            sample = np.random.default_rng(self._seed()).choice(len(x), n, replace=False) \
                if n < len(x) else np.arange(len(x))
            if len(np.unique(labels[sample])) < 2:
                return km, -1.0
            return km, float(silhouette_score(x[sample], labels[sample]))
        gm = GaussianMixture(n_components=k, covariance_type="full", n_init=self.n_init,
                             reg_covar=REG_COVAR, random_state=self._seed()).fit(x)
        return gm, float(gm.bic(x))

    def _raw_predict(self, x: np.ndarray) -> np.ndarray:
        if self.method == "kmeans":  # the nearest centre, as KMeans.predict
            c = self._centres()
            d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
            return np.argmin(d, axis=1).astype(np.int64)
        return np.asarray(self.model_.predict(x), dtype=np.int64)

    def _centres(self) -> np.ndarray:
        m = self.model_
        return np.asarray(m.cluster_centers_ if self.method == "kmeans" else m.means_)

    def _canonical_order(self, codes: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Internal clusters sorted by size (largest first), ties by centre."""
        centres = self._centres()
        sizes = np.bincount(codes, minlength=len(centres))
        keys = [(-int(sizes[j]), *np.round(centres[j], 8).tolist()) for j in
                range(len(centres))]
        return np.array(sorted(range(len(centres)), key=lambda j: keys[j]), dtype=np.int64)

    def _fit_rfm(self, frame: pd.DataFrame) -> None:
        qs = [0.2, 0.4, 0.6, 0.8]
        self.rfm_edges_ = {c: np.quantile(frame[c].to_numpy(dtype=float, na_value=np.nan)
                                          [np.isfinite(frame[c].to_numpy(
                                              dtype=float, na_value=np.nan))], qs).tolist()
                           for c in RFM}

    # ----------------------------------------------------------------- predict
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The segment of each row of ``frame`` (new customers, same feature columns)."""
        self._check_fitted()
        if self.method == "rfm":
            missing = [c for c in RFM if c not in frame.columns]
            if missing:
                raise DataValidationError(f"RFM segments need {', '.join(missing)}",
                                          column=missing[0], fix="score a table with RFM "
                                          "columns (interactions, users or transactions)")
            return rfm_names(rfm_scores(frame, self.rfm_edges_))
        x = self.scaler_.transform(frame)
        codes = self._raw_predict(x)
        rank = np.empty(len(self.order_), dtype=np.int64)
        rank[self.order_] = np.arange(len(self.order_))
        return np.array(self.segment_names_, dtype=object)[rank[codes]]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The scaled feature matrix of ``frame`` (what the clusters live in)."""
        self._check_fitted()
        return self.scaler_.transform(frame)

    # --------------------------------------------------------------- save/load
    def _save_state(self, folder: Path) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {}
        if self.method == "kmeans":
            arrays["centres"] = self._centres()
        elif self.method == "gmm":
            m = self.model_
            arrays = {"weights": m.weights_, "means": m.means_,
                      "covariances": m.covariances_,
                      "precisions_cholesky": m.precisions_cholesky_}
        if self.method != "rfm":
            arrays["order"] = self.order_
        np.savez(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]
        return {"source": self.source_, "scaler": self.scaler_.state(),
                "segment_names": self.segment_names_, "k": self.k_,
                "k_curve": self.k_curve_, "score_name": self.score_name_,
                "score": self.score_, "sizes": self.sizes_,
                "rfm_edges": getattr(self, "rfm_edges_", None)}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> CustomerSegmenter:
        config = {**config, "k_range": tuple(config["k_range"])}
        obj = cls(**config)
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        obj.source_ = state["source"]
        obj.scaler_ = CustomerScaler.from_state(state["scaler"])
        obj.segment_names_ = list(state["segment_names"])
        obj.k_ = int(state["k"])
        obj.k_curve_ = list(state["k_curve"])
        obj.score_name_ = state["score_name"]
        obj.score_ = state["score"]
        obj.sizes_ = dict(state["sizes"])
        if obj.method == "rfm":
            obj.rfm_edges_ = {k: list(v) for k, v in state["rfm_edges"].items()}
        else:
            obj.order_ = arrays["order"].astype(np.int64)
            if obj.method == "kmeans":
                km = KMeans(n_clusters=len(arrays["centres"]))
                km.cluster_centers_ = arrays["centres"]
                obj.model_ = km
            else:
                gm = GaussianMixture(n_components=len(arrays["weights"]),
                                     covariance_type="full")
                gm.weights_, gm.means_ = arrays["weights"], arrays["means"]
                gm.covariances_ = arrays["covariances"]
                gm.precisions_cholesky_ = arrays["precisions_cholesky"]
                gm.n_features_in_ = arrays["means"].shape[1]
                obj.model_ = gm
        obj.labels_ = pd.Series(dtype=object, name="segment")  # labels stay with the run
        return obj


__all__ = ["METHODS", "RFM_GRID", "RFM_NAMES", "CustomerScaler", "CustomerSegmenter",
           "rfm_names", "rfm_scores"]
