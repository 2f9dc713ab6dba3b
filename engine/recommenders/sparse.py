"""Sparse-matrix and id helpers of the recommenders: the interaction matrix checked on
the way in, its fingerprint, id lookups, and membership of (row, item) cells."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import scipy.sparse as sp

from features.errors import DataValidationError, GenliftWarning
from features.matrix import InteractionMatrix


def positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of every id in ``sorted_ids``; -1 where absent."""
    if sorted_ids.size == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, sorted_ids.size - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1).astype(np.int64)


def as_ids(values: object, what: str) -> np.ndarray:
    """A 1-D object array of id strings (a single string is one id)."""
    if isinstance(values, str):
        values = [values]
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of ids; got an array of shape "
                         f"{arr.shape}")
    return arr.astype(str).astype(object)


def binary(m: sp.csr_matrix) -> sp.csr_matrix:
    """The same pattern with every stored weight 1 (sorted indices)."""
    out = sp.csr_matrix((np.ones(m.nnz, dtype=np.float32), m.indices, m.indptr), shape=m.shape)
    out.sort_indices()
    return out


def empty_rows(n_rows: int, n_items: int) -> sp.csr_matrix:
    """A CSR matrix of ``n_rows`` rows with nothing stored."""
    return sp.csr_matrix((n_rows, n_items), dtype=np.float32)


def matrix_fingerprint(m: InteractionMatrix) -> str:
    """sha256 of an interaction matrix: layout, ids and every stored cell."""
    csr = m.matrix.tocsr()
    digest = hashlib.sha256()
    digest.update(np.asarray(csr.shape, dtype=np.int64).tobytes())
    for ids in (m.user_ids, m.item_ids):
        digest.update("\x1f".join(map(str, ids)).encode())
        digest.update(b"\x1e")
    for part in (csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                 csr.data.astype(np.float32)):
        digest.update(part.tobytes())
    return digest.hexdigest()


def checked_matrix(m: object, owner: str, what: str, table: str,
                    *, allow_empty: bool = False) -> sp.csr_matrix:
    """Validate an InteractionMatrix and return its CSR (float32, sorted, no zero cells)."""
    if not isinstance(m, InteractionMatrix):
        raise TypeError(f"{owner}.fit expects {what} as a features.matrix.InteractionMatrix "
                        f"(see build_user_items); got {type(m).__name__}")
    csr = sp.csr_matrix(m.matrix, dtype=np.float32)
    n_users, n_items = csr.shape
    if n_users != len(m.user_ids) or n_items != len(m.item_ids):
        raise DataValidationError(
            f"{what} has a {n_users} x {n_items} matrix but {len(m.user_ids)} user ids and "
            f"{len(m.item_ids)} item ids", table=table, fix="build it with build_user_items")
    if not allow_empty and (n_users == 0 or n_items == 0 or csr.nnz == 0):
        raise DataValidationError(
            f"{what} is empty: {n_users} users x {n_items} items with {csr.nnz} stored "
            "interactions", table=table, n_rows=0,
            fix="fit on a matrix with at least one user, one item and one interaction")
    coo = csr.tocoo()
    bad = ~np.isfinite(coo.data) | (coo.data < 0)
    if bad.any():
        where = np.flatnonzero(bad)[:5]
        examples = ", ".join(f"(user {m.user_ids[coo.row[i]]!r}, item {m.item_ids[coo.col[i]]!r}"
                             f": {coo.data[i]:g})" for i in where)
        raise DataValidationError(
            f"{what} has {int(bad.sum())} negative or non-finite weights ({examples}"
            f"{', ...' if bad.sum() > 5 else ''})", table=table, column="weight",
            n_rows=int(bad.sum()), rows=[int(coo.row[i]) + 1 for i in where],
            fix="weights are confidences and must be finite and >= 0")
    n_zero = int((csr.data == 0).sum())
    if n_zero:
        warnings.warn(f"{what}: dropped {n_zero} stored cells whose weight is 0 "
                      "(they carry no confidence)", GenliftWarning, stacklevel=4)
        csr.eliminate_zeros()
    csr.sort_indices()
    return csr


def member(seen: sp.csr_matrix, ids: np.ndarray) -> np.ndarray:
    """``seen[r, ids[r, c]] != 0`` for every cell, vectorised via sorted (row, item) keys."""
    n_items = seen.shape[1]
    seen_rows = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
    keys = np.sort(seen_rows * n_items + seen.indices.astype(np.int64))
    query = np.arange(ids.shape[0], dtype=np.int64)[:, None] * n_items + ids
    pos = np.clip(np.searchsorted(keys, query), 0, keys.size - 1)
    return keys[pos] == query
