"""Exact batch top-k over dense score blocks, close to the speed of the bare GEMM.

Batch scoring of a factor model is ``user_factors @ item_factors.T`` followed by a top-k
per row with the user's seen items removed. The GEMM is the irreducible part; everything
after it is overhead, so :func:`known_topk` keeps it small:

- users are scored in blocks of ``block_rows`` into one reused float32 buffer (no fresh
  multi-megabyte allocation, and page faults, per block);
- seen items are set to ``-inf`` in the block itself, straight from the CSR rows;
- the top-k is *grouped*: the item axis is cut into groups of ``_GROUP`` columns, the
  maximum of each group is taken (one vectorised pass over the block), and only the
  ``k`` groups with the largest maxima can hold a top-k item (each of those ``k``
  maxima is an item at least as good as the ``k``-th group maximum, so every top-k item
  lies in one of them). The final top-k runs on ``k * _GROUP`` candidates per row
  instead of the whole catalogue.

The result is exact (the same items and scores as a full sort, ties aside). Torch runs
the GEMM and the top-k, on CUDA when the ``device`` asks for it, else on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["block_rows", "factor_topk", "grouped_topk", "known_topk"]

# Columns per group of the grouped top-k: long enough for a vectorised max, short enough
# that k groups are a small share of the catalogue.
_GROUP = 128
# Scores per GEMM block (floats): 2^25 is a 128 MB buffer, reused from block to block.
# Small GEMMs lose BLAS efficiency (on 2 cores, 256 x 64 x 20k runs at half the rate of
# 1024 x 64 x 20k), so blocks are as tall as this allows, between 256 and 2048 users.
_BLOCK_FLOATS = 1 << 25


def block_rows(n_items: int) -> int:
    """Users per GEMM block for a catalogue of ``n_items``."""
    return int(np.clip(_BLOCK_FLOATS // max(n_items, 1), 256, 2048))


def _mask_seen(block: torch.Tensor, seen: sp.csr_matrix | None) -> None:
    """Set each row's seen items to ``-inf`` in place (``seen`` rows align to ``block``,
    which is contiguous): one ``index_fill_`` on the flat buffer."""
    if seen is None or seen.nnz == 0:
        return
    rows = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
    flat = rows * block.shape[1] + seen.indices
    block.view(-1).index_fill_(0, torch.from_numpy(flat).to(block.device), -float("inf"))


def grouped_topk(block: torch.Tensor, k: int, group: int = _GROUP
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` (values, columns) of each row of ``block``, best first.

    ``block`` has a width that is a multiple of ``group`` (pad with ``-inf``); rows with
    fewer than ``k`` finite entries return ``-inf`` values for the rest. Falls back to a
    plain ``torch.topk`` when ``k`` groups would cover most of the row anyway.
    """
    m, width = block.shape
    n_groups = width // group
    if width % group or k * group * 4 > width:
        return torch.topk(block, k, dim=1)
    groups = block.view(m, n_groups, group)
    best_groups = torch.topk(groups.amax(dim=2), k, dim=1).indices  # (m, k)
    flat = (best_groups + torch.arange(m, device=block.device)[:, None] * n_groups).ravel()
    cand = block.view(m * n_groups, group).index_select(0, flat).view(m, k * group)
    vals, pos = torch.topk(cand, k, dim=1)
    cols = best_groups.gather(1, torch.div(pos, group, rounding_mode="floor")) * group \
        + pos % group
    return vals, cols


def _padded_items(item_factors: np.ndarray, device: torch.device) -> tuple[torch.Tensor, int]:
    """Item factors as a float32 tensor padded with zero rows to a multiple of the group."""
    n_items, dim = item_factors.shape
    width = -(-n_items // _GROUP) * _GROUP
    items = torch.zeros((width, dim), dtype=torch.float32, device=device)
    items[:n_items] = torch.from_numpy(np.ascontiguousarray(item_factors, dtype=np.float32))
    return items, width


def factor_topk(user_factors: np.ndarray, item_factors: np.ndarray, k: int, *,
                seen: sp.csr_matrix | None = None, rows_per_block: int | None = None,
                device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner-product items of every user, seen items excluded.

    Parameters
    ----------
    user_factors : float array (U, d)
    item_factors : float array (I, d)
    k : int
        At most ``I``.
    seen : CSR matrix (U, I), optional
        Items never returned for that user.
    rows_per_block : int, optional
        Users per GEMM block (the score buffer is ``rows_per_block x I`` floats);
        :func:`block_rows` by default.
    device : str or torch.device, default "cpu"

    Returns
    -------
    cols : int64 array (U, k)
        Item indices, best first.
    scores : float32 array (U, k)
        ``-inf`` where a user has fewer than ``k`` items left (the column is then
        meaningless; callers route such rows to a slower, padding path).
    """
    dev = torch.device(device)
    n_users = user_factors.shape[0]
    n_items = item_factors.shape[0]
    items, width = _padded_items(item_factors, dev)
    users = torch.from_numpy(np.ascontiguousarray(user_factors, dtype=np.float32))
    out_cols = np.zeros((n_users, k), dtype=np.int64)
    out_vals = np.zeros((n_users, k), dtype=np.float32)
    rows_per = max(1, min(int(rows_per_block or block_rows(n_items)), n_users))
    buf = torch.empty((rows_per, width), dtype=torch.float32, device=dev)
    for lo in range(0, n_users, rows_per):
        hi = min(lo + rows_per, n_users)
        block = buf[:hi - lo]
        torch.mm(users[lo:hi].to(dev, non_blocking=True), items.T, out=block)
        if width > n_items:
            block[:, n_items:] = -float("inf")
        _mask_seen(block, None if seen is None else seen[lo:hi])
        vals, cols = grouped_topk(block, k)
        out_cols[lo:hi] = cols.cpu().numpy()
        out_vals[lo:hi] = vals.cpu().numpy()
    return out_cols, out_vals


def known_topk(model: Any, rows: np.ndarray, k: int, *, exclude_seen: bool = True,
               index: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (item indices, scores) of a fitted recommender's known users ``rows``.

    Factor models (``user_factors_`` / ``item_factors_``) go through :func:`factor_topk`,
    or through ``index`` (an :class:`~engine.recommenders.retrieval.ItemIndex` over the
    item factors) when one is given; any other model scores a dense block with
    ``model.score_block`` and takes its grouped top-k. Scores of ``-inf`` mark rows with
    fewer than ``k`` items left.
    """
    seen = model.user_items_[rows] if exclude_seen else None
    user_f = getattr(model, "user_factors_", None)
    item_f = getattr(model, "item_factors_", None)
    if index is not None and user_f is not None:
        cols, vals = index.search(user_f[rows], k, exclude=seen)
        return np.maximum(cols, 0), vals
    if user_f is not None and item_f is not None:
        return factor_topk(user_f[rows], item_f, k, seen=seen)
    n_items = len(model.item_ids_)
    out_cols = np.zeros((len(rows), k), dtype=np.int64)
    out_vals = np.zeros((len(rows), k), dtype=np.float32)
    step = block_rows(n_items)
    for lo in range(0, len(rows), step):
        part = rows[lo:lo + step]
        width = -(-n_items // _GROUP) * _GROUP
        block = torch.full((len(part), width), -float("inf"), dtype=torch.float32)
        block[:, :n_items] = torch.from_numpy(model.score_block(part))
        _mask_seen(block, None if seen is None else seen[lo:lo + step])
        vals, cols = grouped_topk(block, k)
        out_cols[lo:lo + len(part)], out_vals[lo:lo + len(part)] = cols.numpy(), vals.numpy()
    return out_cols, out_vals
