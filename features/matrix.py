"""Interactions -> a sparse user x item matrix with id maps both ways."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.errors import check_param
from features.sql import sql

Weight = Literal["count", "qty", "value", "binary"]
WEIGHTS = ("count", "qty", "value", "binary")


@dataclass(frozen=True)
class InteractionMatrix:
    """A CSR user x item matrix (float32) and the ids of its rows and columns.

    Row ``i`` is user ``user_ids[i]``, column ``j`` is item ``item_ids[j]``; ids are
    sorted strings, so the same data always gives the same layout.
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.matrix.shape[0]), int(self.matrix.shape[1]))

    def user_index(self, ids: object) -> np.ndarray:
        """Row numbers of ``ids``; -1 for an id the matrix does not have."""
        return _lookup(self.user_ids, ids)

    def item_index(self, ids: object) -> np.ndarray:
        """Column numbers of ``ids``; -1 for an id the matrix does not have."""
        return _lookup(self.item_ids, ids)

    def to_frame(self) -> pd.DataFrame:
        """Back to long format: user_id, item_id, weight (one row per stored cell)."""
        coo = self.matrix.tocoo()
        return pd.DataFrame({
            "user_id": self.user_ids[coo.row],
            "item_id": self.item_ids[coo.col],
            "weight": coo.data,
        })


def _lookup(sorted_ids: np.ndarray, ids: object) -> np.ndarray:
    arr = np.asarray(ids, dtype=object).astype(str)
    pos = np.searchsorted(sorted_ids, arr)
    pos = np.clip(pos, 0, max(len(sorted_ids) - 1, 0))
    found = (len(sorted_ids) > 0) & (sorted_ids[pos] == arr) if len(sorted_ids) else \
        np.zeros(arr.shape, dtype=bool)
    return np.where(found, pos, -1).astype(np.int64)


def build_user_items(
    interactions: pd.DataFrame,
    *,
    weight: Weight = "count",
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> InteractionMatrix:
    """Aggregate interactions per (user, item) in DuckDB and build the CSR matrix.

    Parameters
    ----------
    interactions : DataFrame
        At least ``user_id`` and ``item_id``; ``qty`` / ``value`` for those weights.
    weight : {"count", "qty", "value", "binary"}
        What a cell holds: the number of interactions, the summed quantity, the summed
        value, or 1.
    user_ids, item_ids : array, optional
        Fix the row / column layout (e.g. to the training matrix's); pairs whose ids are
        not listed are dropped.
    """
    check_param("build_user_items", "weight", weight, weight in WEIGHTS,
                f"one of {', '.join(WEIGHTS)}")
    agg = {"count": "count(*)", "qty": "sum(qty)", "value": "sum(value)", "binary": "1"}[weight]
    cells = sql(
        f"""SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(item_id AS VARCHAR) AS item_id,
                   CAST({agg} AS FLOAT) AS w
            FROM t GROUP BY 1, 2""",
        t=interactions[[c for c in ("user_id", "item_id", "qty", "value")
                        if c in interactions.columns]],
    )
    users = np.sort(cells["user_id"].unique().astype(str)) if user_ids is None \
        else np.asarray(user_ids).astype(str)
    items = np.sort(cells["item_id"].unique().astype(str)) if item_ids is None \
        else np.asarray(item_ids).astype(str)
    if user_ids is not None and np.any(users[1:] < users[:-1]):
        raise ValueError("user_ids must be sorted (as InteractionMatrix.user_ids are)")
    if item_ids is not None and np.any(items[1:] < items[:-1]):
        raise ValueError("item_ids must be sorted (as InteractionMatrix.item_ids are)")
    rows = _lookup(users, cells["user_id"].to_numpy())
    cols = _lookup(items, cells["item_id"].to_numpy())
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        (cells["w"].to_numpy(dtype=np.float32)[keep], (rows[keep], cols[keep])),
        shape=(len(users), len(items)), dtype=np.float32,
    )
    matrix.sort_indices()
    return InteractionMatrix(matrix, users.astype(object), items.astype(object))
