"""What the two matrix-factorisation recommenders (ALS, BPR) share: scores are
``user_factors_ @ item_factors_.T``, persisted as two float32 arrays."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.recommenders.base import Recommender


class FactorRecommender(Recommender):
    """A recommender whose state is user and item factors around a wrapped implicit model."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    model_: Any

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
