"""Bayesian personalised ranking (implicit's ``BayesianPersonalizedRanking``) as a Recommender."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from engine.recommenders.factors import FactorRecommender
from features.errors import check_real

logger = logging.getLogger(__name__)


class BPRRecommender(FactorRecommender):
    """Matrix factorisation trained on the pairwise BPR ranking loss (Rendle et al. 2009).

    A thin wrapper of :class:`implicit.bpr.BayesianPersonalizedRanking`. implicit adds an
    item bias as the last factor column (and a constant 1 in the users' last column), so
    ``user_factors_ @ item_factors_.T`` is the score, bias included.

    Parameters
    ----------
    factors : int, default 64
        Latent dimensions (implicit stores ``factors + 1`` columns).
    learning_rate : float, default 0.01
        SGD step (> 0).
    regularization : float, default 0.01
        L2 penalty (>= 0); also scales the ridge of the fold-in solve.
    iterations : int, default 100
        Epochs over the interactions.
    random_state : int, numpy.random.Generator or None
        Seeds implicit's sampler. When set, the CPU fit runs on one thread, because
        implicit's multi-threaded (Hogwild) SGD is not reproducible.
    use_gpu : {"auto", True, False}, default "auto"
        ``"auto"`` uses CUDA when ``implicit.gpu.HAS_CUDA``; True requires it.

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_users, factors + 1)
    item_factors_ : ndarray of float32, shape (n_items, factors + 1)
    model_ : implicit.cpu.bpr.BayesianPersonalizedRanking

    Notes
    -----
    BPR ignores the matrix weights (any stored cell is a positive). ``synthetic_weight``
    is therefore applied by sampling: the synthetic rows are repeated
    ``floor(weight)`` times and, for the fractional part, each synthetic interaction is
    kept once more with probability ``weight - floor(weight)`` (seeded by
    ``random_state``), so a synthetic user's expected share of the SGD updates scales
    with the weight.

    Unknown users are folded in by a confidence-weighted ridge regression of their
    history (confidence ``1 + count``) on the item factors, the item bias held fixed.
    """


    def __init__(self, *, factors: int = 64, learning_rate: float = 0.01,
                 regularization: float = 0.01, iterations: int = 100,
                 random_state: int | np.random.Generator | None = None,
                 use_gpu: bool | str = "auto") -> None:
        super().__init__(factors=factors, regularization=regularization,
                         iterations=iterations, random_state=random_state, use_gpu=use_gpu)
        self.learning_rate = learning_rate

    def _check_reals(self, name: str) -> None:
        check_real(name, "learning_rate", self.learning_rate, 0.0, low_open=True)
        check_real(name, "regularization", self.regularization, 0.0)

    def _num_threads(self) -> int:
        return 1 if self.random_state is not None else 0

    def _training_matrix(self, real: sp.csr_matrix, synthetic: sp.csr_matrix,
                         weight: float) -> sp.csr_matrix:
        whole = int(np.floor(weight))
        frac = weight - whole
        parts = [real] + [synthetic] * whole
        if frac > 0:
            rng = np.random.default_rng(self.random_state)
            keep = rng.random(synthetic.nnz) < frac
            coo = synthetic.tocoo()
            thinned = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])),
                                    shape=synthetic.shape, dtype=np.float32)
            parts.append(thinned[np.flatnonzero(np.diff(thinned.indptr) > 0)])
        logger.debug("%s: synthetic_weight=%g -> %d full copies + %s thinned copy", self._name,
                     weight, whole, "a" if frac > 0 else "no")
        return sp.vstack(parts, format="csr", dtype=np.float32)

    def _new_cpu_model(self) -> Any:
        import implicit.cpu.bpr

        return implicit.cpu.bpr.BayesianPersonalizedRanking(
            factors=int(self.factors), learning_rate=float(self.learning_rate),
            regularization=float(self.regularization), dtype=np.float32,
            iterations=int(self.iterations), num_threads=self._num_threads(),
            random_state=self.random_state)

    def _new_model(self, gpu: bool) -> Any:
        import implicit.bpr

        return implicit.bpr.BayesianPersonalizedRanking(
            factors=int(self.factors), learning_rate=float(self.learning_rate),
            regularization=float(self.regularization), dtype=np.float32,
            iterations=int(self.iterations), use_gpu=gpu,
            num_threads=self._num_threads(), random_state=self.random_state)

    def _attach(self, model: Any = None) -> None:
        cpu = model if model is not None else self._new_cpu_model()
        cpu.user_factors = self.user_factors_
        cpu.item_factors = self.item_factors_
        cpu.num_threads = 0  # one fitting thread is for reproducibility; scoring may use all
        self.model_ = cpu

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """User factors for users described only by their item history.

        Parameters
        ----------
        history : scipy.sparse.csr_matrix, shape (n_users, n_items)
            Non-negative counts per item, columns aligned to ``item_ids_``.

        Returns
        -------
        ndarray of float32, shape (n_users, factors + 1)
            Last column 1, as implicit's BPR user factors.
        """
        self._check_fitted()
        y = self.item_factors_[:, :-1].astype(np.float64)
        bias = self.item_factors_[:, -1].astype(np.float64)
        dim = y.shape[1]
        gram = y.T @ y
        ridge = float(self.regularization) * np.trace(gram) / dim + 1e-6 * (np.trace(gram) / dim
                                                                            + 1.0)
        base_rhs = -(y.T @ bias)
        out = np.zeros((history.shape[0], dim + 1), dtype=np.float32)
        out[:, -1] = 1.0
        for r in range(history.shape[0]):
            cols = history.indices[history.indptr[r]:history.indptr[r + 1]]
            w = history.data[history.indptr[r]:history.indptr[r + 1]].astype(np.float64)
            ys = y[cols]
            a = gram + (ys.T * w) @ ys + ridge * np.eye(dim)
            # target 1 - bias on seen items (confidence 1 + w), -bias elsewhere (confidence 1)
            rhs = base_rhs + ys.T @ ((1.0 + w) * (1.0 - bias[cols]) + bias[cols])
            out[r, :-1] = np.linalg.solve(a, rhs)
        return out

    def _candidates(self, rows: np.ndarray | None, history: sp.csr_matrix, n: int, *,
                    exclude_seen: bool,
                    filter_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        filt = filter_idx if filter_idx.size else None
        if rows is not None:
            return self.model_.recommend(rows, history, N=n,
                                         filter_already_liked_items=exclude_seen,
                                         filter_items=filt)
        from implicit.cpu.topk import topk

        with threadpool_limits(1, "blas"):
            users = self.fold_in(history)
        return topk(self.item_factors_, users, n,
                    filter_query_items=history if exclude_seen else None,
                    filter_items=filt, num_threads=0)
