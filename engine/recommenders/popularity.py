"""The most-popular-items baseline behind ``Recommender``."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from engine.recommenders.base import Recommender

logger = logging.getLogger(__name__)


class PopularityRecommender(Recommender):
    """Recommend the items most users interacted with, the same list for everyone.

    The baseline every personalised model has to beat, and the fallback of all of them
    for unknown users. Popularity is ``popularity_``: the number of real users who
    interacted with an item, plus ``synthetic_weight`` times the number of synthetic
    users who did; ties go to the item that sorts first.

    Notes
    -----
    ``similar_items`` returns the most popular other items (this model knows no
    item-item relation).
    """

    def __init__(self) -> None:
        pass

    def _fit(self, train: sp.csr_matrix, n_real: int, *, show_progress: bool) -> None:
        logger.debug("%s: nothing to learn beyond popularity_", self._name)

    def _candidates(self, rows: np.ndarray | None, history: sp.csr_matrix, n: int, *,
                    exclude_seen: bool,
                    filter_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._popular_candidates(history, n, exclude_seen=exclude_seen,
                                        filter_idx=filter_idx)

    def _score_block(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_.astype(np.float32),
                               (rows.size, self.popularity_.size))

    def _similar_candidates(self, item_idx: np.ndarray,
                            n: int) -> tuple[np.ndarray, np.ndarray]:
        top = self._pop_order[:n]
        shape = (item_idx.size, top.size)
        return (np.broadcast_to(top, shape),
                np.broadcast_to(self.popularity_[top].astype(np.float32), shape))
