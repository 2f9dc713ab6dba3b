"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders") behind ``Recommender``.

A closed-form linear item-item model: with the Gram matrix ``G = X^T X + lambda I`` and
``P = G^-1``, the weights are ``B = I - P diag(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj``
with a zero diagonal, and a user's scores are ``x B``. One dense ``items x items`` inverse
is the whole fit: well under a second for a few thousand items, but memory grows with the
square of the catalogue, hence the ``max_items`` guard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from engine.recommenders.base import Recommender
from features.errors import DataValidationError, check_int, check_param, check_real

logger = logging.getLogger(__name__)

# Up to this many items the inverse runs in float64; above, in float32 to halve the
# memory (G + lambda I is well conditioned for the lambdas EASE uses, >= ~10).
FLOAT64_ITEMS = 20_000


def ease_memory_bytes(n_items: int) -> int:
    """Peak bytes of an EASE fit on ``n_items`` items: the Gram matrix, inverted in
    place (float64, or float32 above :data:`FLOAT64_ITEMS`), plus the float32 weights."""
    gram = 8 if n_items <= FLOAT64_ITEMS else 4
    return int(n_items) ** 2 * (gram + 4)


def gram_matrix(x: sp.csr_matrix, dtype: type[np.floating] = np.float64,
                block: int = 4096) -> np.ndarray:
    """Dense ``X^T X``, built in blocks of columns so that the sparse intermediate
    products never outgrow one block (a dense co-occurrence would double the memory)."""
    n = x.shape[1]
    xt = x.T.tocsr()
    csc = x.tocsc()
    gram = np.empty((n, n), dtype=dtype)
    for start in range(0, n, block):
        stop = min(start + block, n)
        gram[:, start:stop] = (xt @ csc[:, start:stop]).toarray()
    return gram


def ease_weights(gram: np.ndarray, regularization: float) -> np.ndarray:
    """EASE's ``B`` from a dense Gram matrix ``X^T X``: ``B_ij = -P_ij / P_jj`` with
    ``P = (X^T X + regularization I)^-1`` and a zero diagonal (float32).

    ``gram`` is overwritten (it holds ``P`` afterwards); pass a copy to keep it.
    """
    n = gram.shape[0]
    gram[np.diag_indices(n)] += regularization
    # G is symmetric, so its transpose is the same matrix in the Fortran order LAPACK
    # works in: Cholesky, then the inverse from it, both in place (no n x n copy).
    a = gram.T
    potrf, potri = scipy.linalg.get_lapack_funcs(("potrf", "potri"), (a,))
    chol, info = potrf(a, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        chol, info = potri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"X^T X + {regularization:g} I is not positive definite (LAPACK info {info}); "
            "raise the regularization")
    _mirror_upper(chol)  # potri fills the upper triangle only
    return _weights_from_inverse(chol)


def _mirror_upper(a: np.ndarray, block: int = 256) -> None:
    """Copy the upper triangle of the square ``a`` onto its lower one, in place, a block
    of rows at a time (``np.triu(a) + np.triu(a, 1).T`` would need three n x n arrays)."""
    n = a.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        a[start:stop, :start] = a[:start, start:stop].T
        diag = a[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        diag[lower] = diag.T[lower]


def _weights_from_inverse(inverse: np.ndarray) -> np.ndarray:
    inverse /= -np.diag(inverse)[None, :]
    inverse += 0.0  # -0.0 (from P_ij = 0) reads oddly in outputs
    np.fill_diagonal(inverse, 0.0)
    return np.ascontiguousarray(inverse, dtype=np.float32)


class EASERecommender(Recommender):
    """Linear item-item autoencoder with a closed-form fit (EASE, Steck 2019).

    ``B`` minimises ``||X - X B||^2 + regularization * ||B||^2`` subject to a zero
    diagonal, so each item is predicted from the *other* items a user has. A user's
    scores are ``x B`` for their row ``x`` of the matrix; an unknown user with a history
    is therefore folded in exactly, at no extra cost.

    Parameters
    ----------
    regularization : float, default 500.0
        The L2 penalty ``lambda`` (> 0) added to the Gram matrix's diagonal. Larger
        values favour popular items; tune it on validation (``--tune``).
    max_items : int, default 50_000
        Refuse catalogues with more items: the fit holds dense ``items x items``
        matrices (see :func:`ease_memory_bytes`; 50,000 items need about 20 GB).
    device : {"auto", "cpu", "cuda[:N]"}, default "auto"
        Where the inverse is computed: ``"auto"`` uses CUDA when torch sees one, else
        numpy/LAPACK. Scores, saving and loading are numpy on every device.

    Attributes
    ----------
    weights_ : ndarray of float32, shape (n_items, n_items)
        ``B``; zero diagonal.
    device_ : str
        The device the inverse ran on (``"cpu"`` or ``"cuda..."``).

    Notes
    -----
    Synthetic users are rows of the least-squares problem with weight
    ``synthetic_weight``: the Gram matrix is ``X^T X + synthetic_weight * S^T S``, so a
    weight of 2 equals adding every synthetic row twice.

    ``similar_items(i)`` ranks the items by row ``i`` of ``B``: exactly the scores a user
    whose history is the single item ``i`` gets from :meth:`recommend`. ``B`` is not
    symmetric (``B_ij`` is how much having item ``i`` raises item ``j``), so the relation
    is "users with ``i`` are recommended ``j``", not a cosine.

    Examples
    --------
    >>> model = EASERecommender(regularization=250.0).fit(matrix)  # doctest: +SKIP
    >>> items, scores = model.recommend(["u1", "u2"], n=5)  # doctest: +SKIP
    """

    weights_: np.ndarray

    def __init__(self, *, regularization: float = 500.0, max_items: int = 50_000,
                 device: str = "auto") -> None:
        self.regularization = regularization
        self.max_items = max_items
        self.device = device

    def _validate_params(self) -> None:
        name = self._name
        check_real(name, "regularization", self.regularization, 0.0, low_open=True)
        check_int(name, "max_items", self.max_items, 1)
        check_param(name, "device", self.device, isinstance(self.device, str) and (
            self.device in ("auto", "cpu") or self.device.startswith("cuda")),
            "'auto', 'cpu' or 'cuda[:N]'")

    def _training_matrix(self, real: sp.csr_matrix, synthetic: sp.csr_matrix,
                         weight: float) -> sp.csr_matrix:
        # Rows scaled by sqrt(w) enter X^T X with weight w: a row weight, as in
        # weighted least squares, rather than w^2.
        return super()._training_matrix(real, synthetic, float(np.sqrt(weight)))

    def _check_size(self, n_items: int) -> None:
        if n_items > self.max_items:
            need = ease_memory_bytes(n_items)
            size = f"{need / 1e9:,.1f} GB" if need >= 1e8 else f"{need / 1e6:,.1f} MB"
            raise DataValidationError(
                f"EASERecommender refuses a catalogue of {n_items:,} items, above "
                f"max_items={self.max_items:,}: its fit holds dense {n_items:,} x "
                f"{n_items:,} item matrices, about {size}", table="interactions",
                column="item_id", fix="use ALSRecommender (`--model als`), whose memory grows "
                "with users + items, or raise max_items if this machine has the memory")

    def _fit(self, train: sp.csr_matrix, n_real: int, *, show_progress: bool) -> None:
        n_items = train.shape[1]
        self._check_size(n_items)
        dtype = np.float64 if n_items <= FLOAT64_ITEMS else np.float32
        gram = gram_matrix(train, dtype)
        device = self._resolve_device()
        logger.info("%s: inverting a %d x %d %s Gram matrix on %s (regularization %g)",
                    self._name, n_items, n_items, np.dtype(dtype).name, device,
                    float(self.regularization))
        if device == "cpu":
            self.weights_ = ease_weights(gram, float(self.regularization))
        else:
            self.weights_ = self._weights_torch(gram, device)
        self.device_ = device

    def _resolve_device(self) -> str:
        if self.device == "cpu":
            return "cpu"
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if not torch.cuda.is_available():
            raise ValueError(f"EASERecommender was given device={self.device!r} but CUDA is "
                             "not available here; use device='auto' or 'cpu'")
        return str(self.device)

    def _weights_torch(self, gram: np.ndarray, device: str) -> np.ndarray:
        import torch

        g = torch.from_numpy(gram).to(device)
        g.diagonal().add_(float(self.regularization))
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(g))
        del g
        inverse /= -inverse.diagonal()[None, :]
        inverse += 0.0
        inverse.fill_diagonal_(0.0)
        return np.ascontiguousarray(inverse.to(torch.float32).cpu().numpy())

    def _scores(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history.astype(np.float32) @ self.weights_, dtype=np.float32)

    def _candidates(self, rows: np.ndarray | None, history: sp.csr_matrix, n: int, *,
                    exclude_seen: bool,
                    filter_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self._scores(history)
        if exclude_seen and history.nnz:
            users = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
            scores[users, history.indices] = -np.inf  # dropped by the base class
        if filter_idx.size:
            scores[:, filter_idx] = -np.inf
        return _top(scores, n)

    def _score_block(self, rows: np.ndarray) -> np.ndarray:
        return self._scores(self.user_items_[rows])

    def _similar_candidates(self, item_idx: np.ndarray,
                            n: int) -> tuple[np.ndarray, np.ndarray]:
        return _top(self.weights_[item_idx], n)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _restore_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        n_items = self.item_ids_.size
        weights = np.ascontiguousarray(arrays["weights"], dtype=np.float32)
        if weights.shape != (n_items, n_items):
            raise ValueError(f"weights have shape {weights.shape}, expected "
                             f"({n_items}, {n_items})")
        self.weights_ = weights
        self.device_ = "cpu"


def _top(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best-first (column, score) of the ``n`` highest scores of each row."""
    k = min(int(n), scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order,
                                                                        axis=1)
