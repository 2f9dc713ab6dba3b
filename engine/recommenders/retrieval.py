"""Maximum inner product retrieval over item factors with FAISS, checked against brute force.

:class:`ItemIndex` finds, for each query vector (a user's factors), the ``k`` items with
the largest inner product. ``kind="flat"`` is exact (``faiss.IndexFlatIP``). For large
catalogues ``"ivf"`` (``IndexIVFFlat``, ``nprobe`` lists visited) is an approximate L2
index over the MIPS-to-L2 transform, and ``"hnsw"`` searches the largest-norm items
exactly and the rest with an inner-product ``IndexHNSWFlat`` (see
:mod:`engine.recommenders.mips_hnsw` for why the transform fails HNSW). The
transform: with ``M`` the largest item norm, item ``v`` becomes ``[v, sqrt(M^2 - |v|^2)]``
and query ``q`` becomes ``[q, 0]``, so that
``|q' - v'|^2 = |q|^2 + M^2 - 2 q.v``: the nearest item in L2 is the one with the largest
inner product. Whatever the index, the scores returned are exact inner products of the
returned items, and each row has exactly ``k`` items whenever the catalogue minus the
excluded items allows it. A GPU is used only when ``faiss.get_num_gpus() > 0``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias

import faiss
import numpy as np
import scipy.sparse as sp

from engine.estimator import Estimator
from engine.recommenders.mips_hnsw import HEAD_SHARE, build_head_tail, head_tail_candidates
from features.artifacts import Artifact
from features.errors import GenliftWarning, check_int, check_param, is_int

logger = logging.getLogger(__name__)

__all__ = ["ItemIndex", "brute_force_topk", "mips_transform", "recall_vs_exact"]

Kind = Literal["flat", "ivf", "hnsw"]
KINDS = ("flat", "ivf", "hnsw")
Exclude: TypeAlias = "sp.csr_matrix | sp.csr_array | list[set[int]] | None"

# faiss' GPU indexes answer at most this many neighbours per query.
_GPU_MAX_K = 2048
_QUERY_BLOCK = 16384


def _check_factors(x: object, name: str, owner: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{owner}: {name} must be a 2-D array (rows x factors); got shape "
                         f"{arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{owner}: {name} is empty (shape {arr.shape}); it needs at least "
                         "one row and one column")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{owner}: {name} must be numeric; got dtype {arr.dtype}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"{owner}: {name} has {int(bad.sum())} rows with NaN or inf "
                         f"(rows {', '.join(map(str, rows))}); fix the model that made them")
    return arr


def _as_float32(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype != np.float32:
        warnings.warn(f"{name} converted from {arr.dtype} to float32 for FAISS",
                      GenliftWarning, stacklevel=3)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _exclude_csr(exclude: object, n_queries: int, n_items: int, owner: str) -> sp.csr_matrix | None:
    """``exclude`` as a CSR matrix of shape (n_queries, n_items) with sorted indices."""
    if exclude is None:
        return None
    if sp.issparse(exclude):
        mat = sp.csr_matrix(exclude)
        if mat.shape != (n_queries, n_items):
            raise ValueError(f"{owner}: exclude has shape {mat.shape}; expected "
                             f"({n_queries}, {n_items}) (queries x items)")
    elif isinstance(exclude, (list, tuple)):
        if len(exclude) != n_queries:
            raise ValueError(f"{owner}: exclude has {len(exclude)} entries for {n_queries} "
                             "queries; give one set of item indices per query")
        lens = np.fromiter(map(len, exclude), dtype=np.int64, count=n_queries)
        cols = np.fromiter((int(i) for s in exclude for i in s), dtype=np.int64,
                           count=int(lens.sum()))
        if len(cols) and (cols.min() < 0 or cols.max() >= n_items):
            raise ValueError(f"{owner}: exclude holds item indices outside [0, {n_items})")
        indptr = np.concatenate([[0], np.cumsum(lens)])
        mat = sp.csr_matrix((np.ones(len(cols), dtype=np.int8), cols, indptr),
                            shape=(n_queries, n_items))
    else:
        raise TypeError(f"{owner}: exclude must be a scipy CSR matrix, a list of sets of item "
                        f"indices or None; got {type(exclude).__name__}")
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


def _is_excluded(mat: sp.csr_matrix, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """For candidate item indices ``idx`` (B, c) of query rows ``rows``: excluded or not."""
    n_items = mat.shape[1]
    sub = mat[rows]
    if sub.nnz == 0:
        return np.zeros(idx.shape, dtype=bool)
    row_of = np.repeat(np.arange(sub.shape[0], dtype=np.int64), np.diff(sub.indptr))
    keys = row_of * n_items + sub.indices.astype(np.int64)  # sorted: rows, then sorted cols
    cand = np.arange(idx.shape[0], dtype=np.int64)[:, None] * n_items + np.maximum(idx, 0)
    pos = np.minimum(np.searchsorted(keys, cand), len(keys) - 1)
    return (keys[pos] == cand) & (idx >= 0)


def _exact_scores(query: np.ndarray, factors: np.ndarray, idx: np.ndarray) -> np.ndarray:
    safe = np.maximum(idx, 0)
    scores = np.einsum("qd,qkd->qk", query, factors[safe], dtype=np.float32)
    return np.where(idx >= 0, scores, -np.inf).astype(np.float32)


def _sort_rows(idx: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order each row by score descending, then by item index (padding last)."""
    tie = np.where(idx >= 0, idx, np.iinfo(np.int64).max)
    order = np.lexsort((tie, -scores.astype(np.float64)), axis=1)
    return np.take_along_axis(idx, order, 1), np.take_along_axis(scores, order, 1)


def mips_transform(
    item_factors: np.ndarray, max_norm: float | None = None,
) -> tuple[np.ndarray, float]:
    """Append ``sqrt(M^2 - |v|^2)`` to every item vector (the MIPS-to-L2 reduction).

    Parameters
    ----------
    item_factors : array of shape (I, d)
    max_norm : float, optional
        ``M``; the largest row norm of ``item_factors`` by default.

    Returns
    -------
    transformed : float32 array of shape (I, d + 1)
        Queries get a 0 in the extra column (see :meth:`ItemIndex.search`).
    max_norm : float
    """
    x = np.asarray(item_factors, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    m = float(np.sqrt(sq.max())) if max_norm is None else float(max_norm)
    extra = np.sqrt(np.maximum(m * m - sq, 0.0))  # rounding can make it -0.0..., never NaN
    return np.ascontiguousarray(np.hstack([x, extra[:, None]]), dtype=np.float32), m


def brute_force_topk(
    query: np.ndarray,
    item_factors: np.ndarray,
    k: int,
    exclude: Exclude = None,
    *,
    block_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner product search in NumPy, ``block_size`` queries at a time.

    Parameters
    ----------
    query : array of shape (Q, d)
    item_factors : array of shape (I, d)
    k : int
    exclude : CSR matrix (Q, I), list of sets of item indices, or None
        Items never returned for that query.
    block_size : int, default 4096
        Queries per block; memory is ``block_size x I`` floats.

    Returns
    -------
    indices : int64 array (Q, k)
        Best first; ties by smaller item index; ``-1`` where fewer than ``k`` items remain.
    scores : float32 array (Q, k)
        Inner products; ``-inf`` for padding.
    """
    owner = "brute_force_topk"
    k = check_int(owner, "k", k, 1)
    q = _check_factors(query, "query", owner).astype(np.float32, copy=False)
    items = _check_factors(item_factors, "item_factors", owner).astype(np.float32, copy=False)
    if q.shape[1] != items.shape[1]:
        raise ValueError(f"{owner}: query has {q.shape[1]} factors but item_factors has "
                         f"{items.shape[1]}")
    n_items = items.shape[0]
    excl = _exclude_csr(exclude, q.shape[0], n_items, owner)
    check_int(owner, "block_size", block_size, 1)
    kk = min(k, n_items)
    # Keep one block of scores near 128 MB whatever the catalogue size.
    rows_per_block = int(max(1, min(block_size, (1 << 25) // n_items)))
    out_idx = np.full((q.shape[0], k), -1, dtype=np.int64)
    out_sc = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
    for start in range(0, q.shape[0], rows_per_block):
        stop = min(start + rows_per_block, q.shape[0])
        scores = q[start:stop] @ items.T
        allowed = np.ones(scores.shape, dtype=bool)
        if excl is not None:
            sub = excl[start:stop]
            r = np.repeat(np.arange(stop - start), np.diff(sub.indptr))
            allowed[r, sub.indices] = False
            scores[r, sub.indices] = -np.inf
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n_items else \
            np.broadcast_to(np.arange(n_items), scores.shape).copy()
        # Ties at the boundary: argpartition picks arbitrarily, so widen to every item
        # scoring at least the k-th best before sorting by (score, index).
        kth = np.take_along_axis(scores, part, 1).min(axis=1, keepdims=True)
        cand_mask = (scores >= kth) & allowed
        rows, cols = np.nonzero(cand_mask)
        order = np.lexsort((cols, -scores[rows, cols].astype(np.float64), rows))
        rows, cols = rows[order], cols[order]
        first = np.searchsorted(rows, np.arange(stop - start))
        rank = np.arange(len(rows)) - first[rows]
        take = rank < k
        out_idx[start + rows[take], rank[take]] = cols[take]
        out_sc[start + rows[take], rank[take]] = scores[rows[take], cols[take]]
    return out_idx, out_sc


class ItemIndex(Estimator, Artifact):
    """Top-``k`` maximum inner product search over item factors with FAISS.

    Parameters
    ----------
    kind : {"flat", "ivf", "hnsw"}, default "flat"
        ``"flat"``: exact ``IndexFlatIP``. ``"ivf"``: ``IndexIVFFlat`` (L2, over the
        MIPS-to-L2 transform). ``"hnsw"``: the ``head_share`` largest-norm items exactly,
        the others in an ``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT``.
    nlist : int, optional
        IVF lists; ``4 * sqrt(I)`` by default, at most ``I // 39`` (FAISS wants 39
        training points per centroid) and at least 1.
    nprobe : int, default 16
        IVF lists visited per query (capped at ``nlist``); more is slower and more exact.
    hnsw_m : int, default 32
        HNSW graph degree.
    ef_construction : int, default 200
        HNSW candidates while building.
    ef_search : int, default 128
        HNSW candidates while searching (raised to the number of items fetched).
    head_share : float, default 0.02
        HNSW: share of the items, largest norms first, searched exactly.
    use_gpu : {"auto", True, False}, default "auto"
        Put flat / IVF indexes on all GPUs when ``faiss.get_num_gpus() > 0``. ``True``
        without a GPU warns and stays on the CPU. HNSW always runs on the CPU.

    Attributes
    ----------
    item_factors_ : float32 array (I, d)
    item_ids_ : array (I,) or None
    index_ : faiss.Index
        The (CPU) index; ``gpu_index_`` holds the GPU copy when one is used.
    max_norm_ : float
        ``M`` of the MIPS transform (ivf); the largest norm outside the head (hnsw).

    Examples
    --------
    >>> import numpy as np
    >>> items = np.eye(3, dtype=np.float32)
    >>> idx, scores = ItemIndex().fit(items).search(np.array([[0.0, 2.0, 1.0]], "float32"), 2)
    >>> idx.tolist(), scores.tolist()
    ([[1, 2]], [[2.0, 1.0]])
    """

    artifact_kind: ClassVar[str] = "index"
    artifact_refit: ClassVar[str] = "build the index again (`ItemIndex(...).fit(item_factors)`)"

    def __init__(
        self,
        *,
        kind: Kind = "flat",
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        head_share: float = HEAD_SHARE,
        use_gpu: bool | Literal["auto"] = "auto",
    ) -> None:
        self.kind = kind
        self.nlist = nlist
        self.nprobe = nprobe
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.head_share = head_share
        self.use_gpu = use_gpu

    # -- fitting -----------------------------------------------------------------------
    def _validate_params(self) -> None:
        owner = "ItemIndex"
        check_param(owner, "kind", self.kind, self.kind in KINDS, f"one of {', '.join(KINDS)}")

        def positive(name: str, value: object, allow_none: bool = False) -> None:
            ok = (allow_none and value is None) or (is_int(value)
                                                    and bool(value >= 1))  # type: ignore[operator]
            check_param(owner, name, value, ok,
                        ("None or " if allow_none else "") + "an int in the range [1, inf)")

        positive("nlist", self.nlist, allow_none=True)
        positive("nprobe", self.nprobe)
        positive("hnsw_m", self.hnsw_m)
        positive("ef_construction", self.ef_construction)
        positive("ef_search", self.ef_search)
        check_param(owner, "head_share", self.head_share, isinstance(self.head_share, float)
                    and 0.0 <= self.head_share <= 1.0, "a float in the range [0, 1]")
        check_param(owner, "use_gpu", self.use_gpu, self.use_gpu in ("auto", True, False),
                    "'auto', True or False")

    def fit(self, item_factors: np.ndarray, item_ids: object = None) -> ItemIndex:
        """Build the index over ``item_factors``.

        Parameters
        ----------
        item_factors : array of shape (I, d)
            float32 preferred (other dtypes are converted with a ``GenliftWarning``).
        item_ids : array-like of length I, optional
            Kept as ``item_ids_`` for :meth:`to_ids`.

        Returns
        -------
        self
        """
        self._validate_params()
        items = _as_float32(_check_factors(item_factors, "item_factors", "ItemIndex.fit"),
                            "item_factors")
        n_items, dim = items.shape
        if item_ids is not None:
            ids = np.asarray(item_ids)
            if ids.ndim != 1 or len(ids) != n_items:
                raise ValueError(f"ItemIndex.fit: item_ids has shape {ids.shape}; expected "
                                 f"({n_items},)")
            self.item_ids_: np.ndarray | None = ids
        else:
            self.item_ids_ = None
        self.item_factors_ = items
        self.max_norm_ = 0.0
        self.head_ = self.tail_ids_ = np.zeros(0, dtype=np.int64)
        if self.kind == "flat":
            index: faiss.Index = faiss.IndexFlatIP(dim)
            index.add(items)
            self.nlist_ = 0
        elif self.kind == "hnsw":
            self.nlist_ = 0
            self.head_, self.tail_ids_, index, self.max_norm_ = build_head_tail(
                items, head_share=float(self.head_share), hnsw_m=int(self.hnsw_m),
                ef_construction=int(self.ef_construction))
        else:
            base, self.max_norm_ = mips_transform(items)
            if self.kind == "ivf":
                nlist = self.nlist if self.nlist is not None else \
                    int(np.clip(4 * np.sqrt(n_items), 1, max(1, n_items // 39)))
                if nlist > n_items:
                    raise ValueError(f"The 'nlist' parameter of ItemIndex must be at most the "
                                     f"number of items ({n_items}). Got {nlist} instead.")
                self.nlist_ = nlist
                quantizer = faiss.IndexFlatL2(dim + 1)
                index = faiss.IndexIVFFlat(quantizer, dim + 1, nlist, faiss.METRIC_L2)
                index.train(base)
                index.add(base)
                # The quantizer must outlive this scope; faiss holds a raw pointer.
                self._quantizer = quantizer
        self.index_ = index
        self.gpu_index_ = self._to_gpu(index)
        self.n_items_ = n_items
        self.dim_ = dim
        logger.debug("ItemIndex(kind=%s) over %d items x %d factors (gpu=%s)", self.kind,
                     n_items, dim, self.gpu_index_ is not None)
        return self

    def _to_gpu(self, index: faiss.Index) -> faiss.Index | None:
        if self.use_gpu is False:
            return None
        n_gpus = faiss.get_num_gpus()
        if n_gpus == 0:
            if self.use_gpu is True:
                warnings.warn("ItemIndex(use_gpu=True): faiss sees no GPU; using the CPU",
                              GenliftWarning, stacklevel=3)
            return None
        if self.kind == "hnsw":
            logger.info("ItemIndex: FAISS has no GPU HNSW; searching on the CPU")
            return None
        logger.info("ItemIndex: using %d GPU(s)", n_gpus)  # pragma: no cover - needs a GPU
        gpu = faiss.index_cpu_to_all_gpus(index)  # pragma: no cover
        if self.kind == "ivf":  # pragma: no cover
            faiss.GpuParameterSpace().set_index_parameter(
                gpu, "nprobe", int(min(self.nprobe, self.nlist_)))
        return gpu  # pragma: no cover

    # -- searching ---------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise RuntimeError("ItemIndex is not fitted yet; call fit(item_factors) first")

    def _raw_search(self, q: np.ndarray, k_fetch: int) -> np.ndarray:
        """Candidate item indices (B, k_fetch) from FAISS, -1 where it found none."""
        if self.kind == "hnsw":
            return head_tail_candidates(q, self.item_factors_, self.head_, self.tail_ids_,
                                        self.index_, self.max_norm_, k_fetch,
                                        int(self.ef_search))
        if self.kind == "ivf":
            q = np.hstack([q, np.zeros((q.shape[0], 1), dtype=np.float32)])
        index = self.gpu_index_ if (self.gpu_index_ is not None and k_fetch <= _GPU_MAX_K) \
            else self.index_
        if index is not self.index_:  # pragma: no cover - GPU: nprobe was set in _to_gpu
            _, idx = index.search(q, k_fetch)
        elif self.kind == "ivf":
            # Per-call parameters leave the shared index untouched (thread-safe searches).
            params = faiss.SearchParametersIVF(  # type: ignore[call-arg]
                nprobe=int(min(self.nprobe, self.nlist_)))
            _, idx = index.search(q, k_fetch, params=params)
        else:
            _, idx = index.search(q, k_fetch)
        return idx.astype(np.int64, copy=False)

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        exclude: Exclude = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items with the largest inner product for each query.

        Parameters
        ----------
        query : array of shape (Q, d)
        k : int
        exclude : CSR matrix (Q, I), list of Q sets of item indices, or None
            Items never returned for that query (e.g. the user's training items).

        Returns
        -------
        indices : int64 array (Q, k)
            Item row numbers, best first (ties by smaller index). ``-1`` only where the
            catalogue minus the excluded items has fewer than ``k`` items.
        scores : float32 array (Q, k)
            Exact inner products of the returned items (``-inf`` for padding).

        Notes
        -----
        FAISS is asked for ``k`` plus the largest number of excluded items of any query in
        the block, so that filtering still leaves ``k``; an approximate index that returns
        too few candidates for a row is asked again with twice as many, and a row still
        short when all items were requested is answered by brute force.
        """
        self._check_fitted()
        owner = "ItemIndex.search"
        k = check_int(owner, "k", k, 1)
        q = _check_factors(query, "query", owner)
        if q.shape[1] != self.dim_:
            raise ValueError(f"{owner}: query has {q.shape[1]} factors but the index was fit "
                             f"on {self.dim_}")
        q = np.ascontiguousarray(q, dtype=np.float32)
        excl = _exclude_csr(exclude, q.shape[0], self.n_items_, owner)
        out_idx = np.full((q.shape[0], k), -1, dtype=np.int64)
        out_sc = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        for start in range(0, q.shape[0], _QUERY_BLOCK):
            stop = min(start + _QUERY_BLOCK, q.shape[0])
            idx, sc = self._search_block(q[start:stop], k, excl, np.arange(start, stop))
            out_idx[start:stop], out_sc[start:stop] = idx, sc
        return out_idx, out_sc

    def _search_block(
        self, q: np.ndarray, k: int, excl: sp.csr_matrix | None, rows: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_items_
        n_excl = np.diff(excl.indptr)[rows] if excl is not None else np.zeros(len(rows), int)
        # How many items each row can still get.
        want = np.minimum(k, n - n_excl)
        k_fetch = int(min(n, k + (n_excl.max() if len(n_excl) else 0)))
        pending = np.arange(len(rows))
        idx_out = np.full((len(rows), k), -1, dtype=np.int64)
        while len(pending):
            cand = self._raw_search(q[pending], k_fetch)
            ok = cand >= 0
            if excl is not None:
                ok &= ~_is_excluded(excl, rows[pending], cand)
            n_ok = ok.sum(axis=1)
            done = n_ok >= want[pending]
            first = np.argsort(~ok, axis=1, kind="stable")[:, :k]
            picked = np.where(np.take_along_axis(ok, first, 1),
                              np.take_along_axis(cand, first, 1), -1)
            if picked.shape[1] < k:
                picked = np.pad(picked, ((0, 0), (0, k - picked.shape[1])), constant_values=-1)
            idx_out[pending[done]] = picked[done]
            pending = pending[~done]
            if len(pending) and k_fetch >= n:
                # An approximate index can miss items even when asked for all of them
                # (IVF visits only nprobe lists): answer those rows exactly.
                logger.debug("ItemIndex: %d rows answered by brute force", len(pending))
                sub_excl = excl[rows[pending]] if excl is not None else None
                bf_idx, _ = brute_force_topk(q[pending], self.item_factors_, k, sub_excl)
                idx_out[pending] = bf_idx
                break
            k_fetch = min(n, 2 * k_fetch)
        scores = _exact_scores(q, self.item_factors_, idx_out)
        return _sort_rows(idx_out, scores)

    def to_ids(self, indices: np.ndarray) -> np.ndarray:
        """Item ids of item row numbers (``None`` for ``-1`` padding)."""
        self._check_fitted()
        if self.item_ids_ is None:
            raise ValueError("ItemIndex.to_ids: the index was fit without item_ids")
        idx = np.asarray(indices)
        out = self.item_ids_.astype(object)[np.maximum(idx, 0)]
        out[idx < 0] = None
        return out

    # -- persistence -------------------------------------------------------------------
    # save(path) / load(path) come from features.artifacts.Artifact; the folder holds
    # arrays.npz (item factors and ids) and index.faiss (the CPU index, no pickles).
    def _save_state(self, folder: Path) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {"item_factors": self.item_factors_,
                                         "head": self.head_, "tail_ids": self.tail_ids_}
        if self.item_ids_ is not None:
            ids = self.item_ids_
            arrays["item_ids"] = ids if ids.dtype.kind in "iufU" else ids.astype(str)
        np.savez(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]
        faiss.write_index(self.index_, str(folder / "index.faiss"))
        return {"fitted": {"n_items": self.n_items_, "dim": self.dim_, "nlist": self.nlist_,
                           "max_norm": self.max_norm_},
                "faiss_version": faiss.__version__}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> ItemIndex:
        self = cls(**config)
        with np.load(folder / "arrays.npz", allow_pickle=False) as data:
            self.item_factors_ = np.ascontiguousarray(data["item_factors"], dtype=np.float32)
            self.item_ids_ = data["item_ids"] if "item_ids" in data else None
            self.head_ = data["head"] if "head" in data else np.zeros(0, dtype=np.int64)
            self.tail_ids_ = data["tail_ids"] if "tail_ids" in data else self.head_
        self.index_ = faiss.read_index(str(folder / "index.faiss"))
        fitted = state["fitted"]
        self.n_items_, self.dim_ = int(fitted["n_items"]), int(fitted["dim"])
        self.nlist_, self.max_norm_ = int(fitted["nlist"]), float(fitted["max_norm"])
        self.gpu_index_ = self._to_gpu(self.index_)
        return self


def recall_vs_exact(
    index: ItemIndex, query: np.ndarray, k: int, *, exclude: Exclude = None,
) -> float:
    """Share of the exact top-``k`` items that ``index`` returns, averaged over queries.

    Parameters
    ----------
    index : ItemIndex
        A fitted index.
    query : array of shape (Q, d)
    k : int
    exclude : as in :meth:`ItemIndex.search`

    Returns
    -------
    float
        1.0 for an exact index (up to ties at the k-th score).
    """
    k = check_int("recall_vs_exact", "k", k, 1)
    got, _ = index.search(query, k, exclude=exclude)
    exact, _ = brute_force_topk(query, index.item_factors_, k, exclude)
    n = exact.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    m = index.n_items_ + 1
    exact_keys = rows * m + exact.ravel()
    got_keys = np.sort(rows * m + got.ravel())
    valid = exact.ravel() >= 0
    if not valid.any():
        return 1.0
    pos = np.minimum(np.searchsorted(got_keys, exact_keys), len(got_keys) - 1)
    found = (got_keys[pos] == exact_keys) & valid
    return float(found.sum() / valid.sum())
