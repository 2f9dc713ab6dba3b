"""Alternating least squares (implicit's ``AlternatingLeastSquares``) behind ``Recommender``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from engine.recommenders.factors import FactorRecommender
from features.errors import check_real

logger = logging.getLogger(__name__)


class ALSRecommender(FactorRecommender):
    """Implicit-feedback matrix factorisation by alternating least squares.

    A thin wrapper of :class:`implicit.als.AlternatingLeastSquares` (Hu, Koren and
    Volinsky 2008 with conjugate-gradient steps). Fitting runs on implicit's CUDA path
    when it is available and ``use_gpu`` allows; the factors are then copied back to
    numpy, so inference, saving and loading are the same on every machine.

    Parameters
    ----------
    factors : int, default 64
        Latent dimensions.
    regularization : float, default 0.01
        L2 penalty (>= 0).
    alpha : float, default 1.0
        Confidence multiplier of the matrix weights (> 0).
    iterations : int, default 15
        ALS sweeps.
    random_state : int, numpy.random.Generator or None
        Seeds the initial factors; the CPU result is then reproducible.
    use_gpu : {"auto", True, False}, default "auto"
        ``"auto"`` uses CUDA when ``implicit.gpu.HAS_CUDA``; True requires it.

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_users, factors)
        Real users only (synthetic rows are dropped after fitting).
    item_factors_ : ndarray of float32, shape (n_items, factors)
    model_ : implicit.cpu.als.AlternatingLeastSquares
        The wrapped model (CPU, holding the arrays above).

    Notes
    -----
    Unknown users are folded in with implicit's ``recalculate_user`` (one
    least-squares solve against the fixed item factors).

    Examples
    --------
    >>> model = ALSRecommender(factors=32, random_state=0).fit(matrix)  # doctest: +SKIP
    >>> items, scores = model.recommend(["u1", "u2"], n=5)  # doctest: +SKIP
    """


    def __init__(self, *, factors: int = 64, regularization: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, random_state: int | np.random.Generator | None = None,
                 use_gpu: bool | str = "auto") -> None:
        super().__init__(factors=factors, regularization=regularization,
                         iterations=iterations, random_state=random_state, use_gpu=use_gpu)
        self.alpha = alpha

    def _check_reals(self, name: str) -> None:
        check_real(name, "regularization", self.regularization, 0.0)
        check_real(name, "alpha", self.alpha, 0.0, low_open=True)

    def _new_cpu_model(self) -> Any:
        import implicit.cpu.als

        # The constructor checks the BLAS thread pool once per process; keep it quiet too.
        with threadpool_limits(1, "blas"):
            return implicit.cpu.als.AlternatingLeastSquares(
                factors=int(self.factors), regularization=float(self.regularization),
                alpha=float(self.alpha), dtype=np.float32, iterations=int(self.iterations),
                random_state=self.random_state, num_threads=0)

    def _new_model(self, gpu: bool) -> Any:
        import implicit.als

        return implicit.als.AlternatingLeastSquares(
            factors=int(self.factors), regularization=float(self.regularization),
            alpha=float(self.alpha), dtype=np.float32, iterations=int(self.iterations),
            use_gpu=gpu, random_state=self.random_state, num_threads=0)

    def _attach(self, model: Any = None) -> None:
        """(Re)point a CPU implicit model at ``user_factors_`` / ``item_factors_``."""
        cpu = model if model is not None else self._new_cpu_model()
        cpu.user_factors = self.user_factors_
        cpu.item_factors = self.item_factors_
        self.model_ = cpu

    def _candidates(self, rows: np.ndarray | None, history: sp.csr_matrix, n: int, *,
                    exclude_seen: bool,
                    filter_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(1, "blas"):
            return self.model_.recommend(
                np.arange(history.shape[0]) if rows is None else rows, history, N=n,
                filter_already_liked_items=exclude_seen,
                filter_items=filter_idx if filter_idx.size else None,
                recalculate_user=rows is None)
