"""The Gaussian-copula baseline: every column to a normal score, one correlation matrix.

Continuous columns use the encoder's quantile transform; a categorical column's code
``c`` owns the slice ``[F(c-1), F(c))`` of the unit interval (categories ordered by
frequency) and its normal score is drawn uniformly inside that slice. Sampling draws
correlated normals and maps them back. A condition fixes a categorical value: its normal
score is drawn inside the value's slice (a truncated normal, sampled exactly by inverse
CDF) and the other scores come from the conditional Gaussian, so exactly ``n`` rows come
back with no rejection.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from augment.base import Generator
from augment.encoding import DEPENDENCE, TabularEncoder
from augment.runtime import RandomState, make_rngs
from features.errors import check_int, check_random_state, check_real

EPS = 1e-9


class GaussianCopula(Generator):
    """Gaussian-copula generator for mixed tables (the cheap baseline).

    Parameters
    ----------
    discrete_columns : list of str, optional
        Columns to treat as categorical (default: text/bool/category and 0/1 columns).
    shrinkage : float
        Weight of the identity in the correlation estimate (keeps it well conditioned).
    max_categories : int
        Categories kept per column; rarer ones share a resampled bucket.
    random_state : int or None
        Seeds the randomized transforms at fit time.
    """

    kind = "tabular"

    def __init__(self, *, discrete_columns: list[str] | None = None, shrinkage: float = 0.01,
                 max_categories: int = 1000, random_state: int | None = None) -> None:
        self.discrete_columns = discrete_columns
        self.shrinkage = shrinkage
        self.max_categories = max_categories
        self.random_state = random_state

    def _fit(self, frame: pd.DataFrame) -> None:
        check_real("GaussianCopula", "shrinkage", self.shrinkage, 0, 1)
        check_int("GaussianCopula", "max_categories", self.max_categories, 1)
        check_random_state("GaussianCopula", self.random_state)
        rng, _ = make_rngs(self.random_state)
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1).reset_index(drop=True)
        self.encoder_ = TabularEncoder(discrete_columns=self.discrete_columns,
                                       max_categories=self.max_categories,
                                       dependence=DEPENDENCE).fit(frame)
        cont, codes = self.encoder_.transform(frame, rng)
        self.cum_ = self._cumulative(codes)
        z = np.hstack([cont.astype(np.float64), self._codes_to_normal(codes, rng)])
        corr = np.corrcoef(z, rowvar=False) if z.shape[1] > 1 else np.ones((z.shape[1],) * 2)
        corr = np.nan_to_num(np.atleast_2d(corr), nan=0.0)
        np.fill_diagonal(corr, 1.0)
        self.corr_ = (1 - self.shrinkage) * corr + self.shrinkage * np.eye(len(corr))

    def _cumulative(self, codes: np.ndarray) -> list[np.ndarray]:
        out = []
        for j, k in enumerate(self.encoder_.cardinalities):
            freq = np.bincount(codes[:, j], minlength=k).astype(np.float64)
            out.append(np.r_[0.0, np.cumsum(freq) / freq.sum()])
        return out

    def _codes_to_normal(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        z = np.zeros(codes.shape, dtype=np.float64)
        for j, cum in enumerate(self.cum_):
            lo, hi = cum[codes[:, j]], cum[codes[:, j] + 1]
            z[:, j] = ndtri(np.clip(lo + rng.random(len(codes)) * (hi - lo), EPS, 1 - EPS))
        return z

    def _sample(self, n: int, conditions: dict[str, Any], random_state: RandomState
                ) -> pd.DataFrame:
        fixed = self.encoder_.condition_codes(conditions)
        rng, _ = make_rngs(random_state)
        n_cont = self.encoder_.n_continuous
        d = self.corr_.shape[0]
        given = np.array(sorted(n_cont + j for j in fixed), dtype=np.int64)
        free = np.setdiff1d(np.arange(d), given)
        z = np.zeros((n, d))
        if given.size:
            for j, code in fixed.items():
                lo, hi = self.cum_[j][code], self.cum_[j][code + 1]
                z[:, n_cont + j] = ndtri(np.clip(lo + rng.random(n) * (hi - lo), EPS, 1 - EPS))
            s_fg = self.corr_[np.ix_(free, given)]
            s_gg_inv = np.linalg.inv(self.corr_[np.ix_(given, given)])
            mean = z[:, given] @ (s_fg @ s_gg_inv).T
            cov = self.corr_[np.ix_(free, free)] - s_fg @ s_gg_inv @ s_fg.T
        else:
            mean, cov = np.zeros((n, free.size)), self.corr_
        if free.size:
            chol = np.linalg.cholesky(cov + 1e-9 * np.eye(free.size))
            z[:, free] = mean + rng.standard_normal((n, free.size)) @ chol.T
        codes = np.zeros((n, len(self.cum_)), dtype=np.int64)
        for j, cum in enumerate(self.cum_):
            u = ndtr(z[:, n_cont + j])
            codes[:, j] = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(cum) - 2)
        for j, code in fixed.items():
            codes[:, j] = code
        return self.encoder_.inverse(z[:, :n_cont].astype(np.float32), codes, rng)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self.encoder_.state()
        arrays = {**arrays, "corr": self.corr_,
                  **{f"cum::{j}": c for j, c in enumerate(self.cum_)}}
        return {"encoder": meta}, arrays

    def _restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.encoder_ = TabularEncoder.from_state(meta["encoder"], arrays)
        self.corr_ = arrays["corr"]
        self.cum_ = [arrays[f"cum::{j}"] for j in range(len(self.encoder_.cardinalities))]
