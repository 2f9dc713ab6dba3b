"""Collaborative-filtering recommenders behind one :class:`Recommender` contract.

``ALSRecommender`` and ``BPRRecommender`` wrap implicit's matrix factorisation,
``ItemKNNRecommender`` its item-item neighbours, ``EASERecommender`` is Steck's
closed-form linear item-item model, ``PopularityRecommender`` is the baseline and the
fallback for unknown users. All share ``fit`` (with synthetic rows), batch-first
``recommend`` with exactly ``n`` results, fold-in of new users, ``similar_items``,
``score_block`` and atomic ``save`` / ``load``.
"""

from engine.recommenders.als import ALSRecommender
from engine.recommenders.base import Recommender
from engine.recommenders.bpr import BPRRecommender
from engine.recommenders.ease import EASERecommender
from engine.recommenders.itemknn import ItemKNNRecommender
from engine.recommenders.popularity import PopularityRecommender
from engine.recommenders.sparse import matrix_fingerprint

__all__ = [
    "ALSRecommender",
    "BPRRecommender",
    "EASERecommender",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "Recommender",
    "matrix_fingerprint",
]
