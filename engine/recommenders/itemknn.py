"""Item-item nearest neighbours (implicit's ``CosineRecommender`` & co.) behind ``Recommender``."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from engine.recommenders.base import Recommender
from features.errors import check_int, check_param

logger = logging.getLogger(__name__)

SIMILARITIES = ("cosine", "bm25", "tfidf")


class ItemKNNRecommender(Recommender):
    """Item-based collaborative filtering on a top-``k`` item-item similarity matrix.

    A thin wrapper of implicit's :class:`~implicit.nearest_neighbours.CosineRecommender`,
    :class:`~implicit.nearest_neighbours.BM25Recommender` (``K1=1.2, B=0.75``) and
    :class:`~implicit.nearest_neighbours.TFIDFRecommender`. A user's score for item ``j``
    is ``sum_i weight(u, i) * similarity[i, j]`` over the items ``i`` in their history,
    so unknown users with interactions need no fold-in beyond their history.

    Parameters
    ----------
    k : int, default 100
        Neighbours kept per item.
    similarity : {"cosine", "bm25", "tfidf"}, default "cosine"
        How the user x item weights are turned into item-item similarities.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix, shape (n_items, n_items)
        Row ``i`` holds item ``i``'s neighbours (itself included).
    model_ : implicit.nearest_neighbours.ItemItemRecommender

    Notes
    -----
    Items with no similarity to a user's history score 0 and are not returned by
    implicit; the base class fills such rows up with the most popular remaining items
    (score 0), so results still have exactly ``n`` columns.
    """


    def __init__(self, *, k: int = 100, similarity: str = "cosine") -> None:
        self.k = k
        self.similarity = similarity

    def _validate_params(self) -> None:
        check_int(self._name, "k", self.k, 1)
        check_param(self._name, "similarity", self.similarity,
                    isinstance(self.similarity, str) and self.similarity in SIMILARITIES,
                    "a str among {" + ", ".join(repr(s) for s in SIMILARITIES) + "}")

    def _new_model(self) -> Any:
        from implicit.nearest_neighbours import (
            BM25Recommender,
            CosineRecommender,
            TFIDFRecommender,
        )

        cls = {"cosine": CosineRecommender, "bm25": BM25Recommender,
               "tfidf": TFIDFRecommender}[self.similarity]
        return cls(K=int(self.k), num_threads=0)

    def _fit(self, train: sp.csr_matrix, n_real: int, *, show_progress: bool) -> None:
        model = self._new_model()
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit's own weighting helpers hand a COO matrix to its kNN routine and then
            # warn about converting it; the input we pass is CSR already.
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(train, show_progress=show_progress)
        self.similarity_ = model.similarity.tocsr()
        self.model_ = model

    def _candidates(self, rows: np.ndarray | None, history: sp.csr_matrix, n: int, *,
                    exclude_seen: bool,
                    filter_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The scorer reads each user's row of ``history``; the user ids are not used.
        return self.model_.recommend(np.arange(history.shape[0]), history, N=n,
                                     filter_already_liked_items=exclude_seen,
                                     filter_items=filter_idx if filter_idx.size else None)

    def _score_block(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.user_items_[rows] @ self.similarity_).todense())

    def _similar_candidates(self, item_idx: np.ndarray,
                            n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.model_.similar_items(item_idx, N=n)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"similarity_data": s.data, "similarity_indices": s.indices,
                "similarity_indptr": s.indptr}

    def _restore_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        from implicit.nearest_neighbours import NearestNeighboursScorer

        n_items = self.item_ids_.size
        self.similarity_ = sp.csr_matrix(
            (arrays["similarity_data"], arrays["similarity_indices"],
             arrays["similarity_indptr"]), shape=(n_items, n_items))
        model = self._new_model()
        # What implicit's own ItemItemRecommender.load does after reading its npz.
        model.similarity = self.similarity_
        model.scorer = NearestNeighboursScorer(self.similarity_)
        self.model_ = model
