"""What the two matrix-factorisation recommenders (ALS, BPR) share: scores are
``user_factors_ @ item_factors_.T``, persisted as two float32 arrays."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from engine.recommenders.base import Recommender, resolve_gpu
from features.errors import check_int, check_random_state


class FactorRecommender(Recommender):
    """A recommender whose state is user and item factors around a wrapped implicit model."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    model_: Any

    def __init__(self, *, factors: int, regularization: float, iterations: int,
                 random_state: int | np.random.Generator | None,
                 use_gpu: bool | str) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.use_gpu = use_gpu

    def _validate_params(self) -> None:
        name = self._name
        check_int(name, "factors", self.factors, 1)
        self._check_reals(name)
        check_int(name, "iterations", self.iterations, 1)
        check_random_state(name, self.random_state)
        resolve_gpu(name, self.use_gpu)

    @abstractmethod
    def _check_reals(self, name: str) -> None:
        """Check the real-valued parameters, in the order of the signature."""

    @abstractmethod
    def _new_model(self, gpu: bool) -> Any:
        """A new implicit model to fit, on CUDA when ``gpu``."""

    def _fit(self, train: sp.csr_matrix, n_real: int, *, show_progress: bool) -> None:
        gpu = resolve_gpu(self._name, self.use_gpu)
        # Logged under the subclass's module, where the fit used to live.
        logging.getLogger(type(self).__module__).info(
            "%s: fitting on %s", self._name, "CUDA (implicit.gpu)" if gpu else "CPU")
        with threadpool_limits(1, "blas"):
            model = self._new_model(gpu)
            model.fit(train, show_progress=show_progress)
        self._take_factors(model, n_real, gpu)

    @abstractmethod
    def _attach(self, model: Any = None) -> None:
        """Wrap the factors in an implicit model again (after fit or load)."""

    def _take_factors(self, model: Any, n_real: int, gpu: bool) -> None:
        """Keep a fitted implicit model's factors as float32 numpy (real users only)."""
        if gpu:  # inference, saving and the FAISS layer all work on numpy factors
            model = model.to_cpu()
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        # A copy, so the synthetic users' rows are not kept alive behind a view.
        self.user_factors_ = np.array(model.user_factors[:n_real], dtype=np.float32, order="C")
        self._attach(model)

    def _score_block(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T

    def _similar_candidates(self, item_idx: np.ndarray,
                            n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.model_.similar_items(item_idx, N=n)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.user_factors_ = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        self._attach()
