"""The ``Recommender`` contract shared by every collaborative-filtering model of genlift.

One base class owns everything that is not the algorithm itself: input validation,
synthetic rows, the exactly-``n`` guarantee, fold-in of unknown users, the popularity
fallback, ``similar_items`` post-processing and persistence. Each algorithm module
(``als.py``, ``bpr.py``, ``itemknn.py``, ``popularity.py``) only wraps its library
through a handful of ``_``-prefixed hooks, as implicit's ``RecommenderBase`` does.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.estimator import Estimator
from engine.recommenders.sparse import (
    as_ids,
    binary,
    checked_matrix,
    empty_rows,
    matrix_fingerprint,
    member,
    positions,
)
from features.artifacts import Artifact
from features.errors import DataValidationError, check_int, check_param, check_real
from features.matrix import InteractionMatrix, build_user_items

logger = logging.getLogger(__name__)

REFIT = "train the model (`genlift train recs`)"
ARRAYS_FILE = "arrays.npz"
# implicit pads short result rows with id -1 and score -FLT_MAX; anything this low is a pad.
_PAD_SCORE = -float(np.finfo(np.float32).max) / 2
# Users per call into the wrapped library: bounds the (rows x candidates) work arrays.
_CHUNK = 2048


# ---------------------------------------------------------------------------- parameters
def resolve_gpu(owner: str, use_gpu: object) -> bool:
    """Decide whether implicit's CUDA path is used: ``"auto"`` takes it when present."""
    check_param(owner, "use_gpu", use_gpu, use_gpu in ("auto", True, False) and
                (use_gpu == "auto" or isinstance(use_gpu, bool)), "'auto', True or False")
    import implicit.gpu

    if use_gpu is True and not implicit.gpu.HAS_CUDA:
        raise ValueError(
            f"{owner} was given use_gpu=True but implicit has no CUDA support on this machine "
            "(implicit.gpu.HAS_CUDA is False). Use use_gpu='auto' to fall back to the CPU."
        )
    return bool(implicit.gpu.HAS_CUDA) if use_gpu == "auto" else bool(use_gpu)


# ------------------------------------------------------------------------------ the class
class Recommender(Estimator, Artifact, ABC):
    """Base class of genlift's recommenders: fit on a user x item matrix, recommend top-n.

    Subclasses wrap one algorithm (implicit's ALS, BPR, item-kNN, or plain popularity)
    and implement the ``_fit``, ``_candidates``, ``_score_block``, ``_similar_candidates``,
    ``_state_arrays`` and ``_restore_state`` hooks; everything else lives here.

    Attributes
    ----------
    user_ids_ : ndarray of str (object)
        Ids of the real users seen in ``fit``, sorted; row ``i`` of every user array.
    item_ids_ : ndarray of str (object)
        Ids of the items, sorted; column ``j`` of every item array.
    user_items_ : scipy.sparse.csr_matrix
        The real users' interactions (float32), used to exclude seen items.
    popularity_ : ndarray of float64
        Per item, the number of real users who interacted with it plus
        ``synthetic_weight`` times the number of synthetic users who did.
    n_synthetic_users_ : int
        Synthetic rows that took part in training (0 when none or weight 0).
    fingerprint_ : str
        sha256 of the real training matrix (:func:`matrix_fingerprint`).
    synthetic_fingerprint_ : str or None
        sha256 of the synthetic matrix, when synthetic rows took part in training.
    last_fallback_ : ndarray of bool
        Aligned to the ``user_ids`` of the last :meth:`recommend` call: True where the
        popularity fallback was used.
    """

    artifact_kind: ClassVar[str] = "recommender"
    artifact_refit: ClassVar[str] = REFIT

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_ids_"):
            raise RuntimeError(f"This {self._name} instance is not fitted yet; call "
                               "fit(user_items) before using it.")

    # ---------------------------------------------------------------------- hooks
    def _validate_params(self) -> None:  # noqa: B027 - a model may have no parameters
        """Check the constructor arguments (scikit-learn style errors)."""

    @abstractmethod
    def _fit(self, train: sp.csr_matrix, n_real: int, *, show_progress: bool) -> None:
        """Learn from ``train``: real users in rows ``[0, n_real)``, synthetic rows after."""

    @abstractmethod
    def _candidates(self, rows: np.ndarray | None, history: sp.csr_matrix, n: int, *,
                    exclude_seen: bool, filter_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best-first (item index, score) candidates, one row per user.

        ``rows`` are row numbers of known users, or None for folded-in users who are
        described by ``history`` alone. Rows may hold pads (-1), seen or filtered items
        or fewer than ``n`` entries: the base class fixes that up.
        """

    @abstractmethod
    def _score_block(self, rows: np.ndarray) -> np.ndarray:
        """Dense float32 scores (len(rows), n_items) of known users."""

    @abstractmethod
    def _similar_candidates(self, item_idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Best-first (item index, score) neighbours of each item; may include the item."""

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Learned arrays, beyond the base ones, to persist."""
        return {}

    def _restore_state(self, arrays: Mapping[str, np.ndarray]) -> None:  # noqa: B027
        """Rebuild the learned state from :meth:`_state_arrays`' output."""

    def _training_matrix(self, real: sp.csr_matrix, synthetic: sp.csr_matrix,
                         weight: float) -> sp.csr_matrix:
        """Real rows, then synthetic rows scaled by ``weight``."""
        return sp.vstack([real, synthetic * np.float32(weight)], format="csr", dtype=np.float32)

    # ------------------------------------------------------------------------ fit
    def fit(self, user_items: InteractionMatrix, *, synthetic: InteractionMatrix | None = None,
            synthetic_weight: float = 1.0, show_progress: bool = False) -> Self:
        """Learn from the real users' interactions, optionally shaped by synthetic users.

        Parameters
        ----------
        user_items : InteractionMatrix
            The real users x items matrix (non-negative confidences), e.g. from
            :func:`features.matrix.build_user_items`.
        synthetic : InteractionMatrix, optional
            Synthetic users, appended as extra rows. Their columns are aligned to
            ``user_items.item_ids``; items the real matrix lacks are dropped. They shape
            the item model but are never scored: ``user_ids_`` holds real users only.
        synthetic_weight : float, default 1.0
            Multiplier (>= 0) of the synthetic rows' weights; 0 is the same as no
            synthetic data.
        show_progress : bool, default False
            Show the wrapped library's progress bar.

        Returns
        -------
        self
        """
        self._validate_params()
        check_real(f"{self._name}.fit", "synthetic_weight", synthetic_weight, 0.0)
        real = checked_matrix(user_items, self._name, "user_items", "interactions")
        syn_csr = empty_rows(0, real.shape[1])
        if synthetic is not None:
            syn_csr = self._align_synthetic(synthetic, user_items.item_ids)
        if synthetic_weight == 0 and syn_csr.shape[0]:
            logger.info("%s: synthetic_weight=0, ignoring %d synthetic users", self._name,
                        syn_csr.shape[0])
            syn_csr = empty_rows(0, real.shape[1])

        n_real = real.shape[0]
        train = real if syn_csr.shape[0] == 0 else \
            self._training_matrix(real, syn_csr, float(synthetic_weight))
        train.sort_indices()

        self.user_ids_ = np.asarray(user_items.user_ids).astype(str).astype(object)
        self.item_ids_ = np.asarray(user_items.item_ids).astype(str).astype(object)
        self.user_items_ = real
        pop = np.bincount(real.indices, minlength=real.shape[1]).astype(np.float64)
        if syn_csr.shape[0]:
            pop += float(synthetic_weight) * np.bincount(syn_csr.indices,
                                                         minlength=real.shape[1])
        self.popularity_ = pop
        self.n_synthetic_users_ = int(syn_csr.shape[0])
        self.synthetic_weight_ = float(synthetic_weight) if syn_csr.shape[0] else 0.0
        self.fingerprint_ = matrix_fingerprint(user_items)
        self.synthetic_fingerprint_ = matrix_fingerprint(synthetic) \
            if synthetic is not None and self.n_synthetic_users_ else None
        self._pop_order = np.argsort(-pop, kind="stable")
        logger.info("%s: fitting on %d users (+%d synthetic) x %d items, %d interactions",
                    self._name, n_real, self.n_synthetic_users_, real.shape[1], train.nnz)
        self._fit(train, n_real, show_progress=show_progress)
        self.last_fallback_ = np.zeros(0, dtype=bool)
        self._last_folded: set[str] = set()
        return self

    def _align_synthetic(self, synthetic: InteractionMatrix,
                         item_ids: np.ndarray) -> sp.csr_matrix:
        csr = checked_matrix(synthetic, self._name, "synthetic", "synthetic_interactions",
                              allow_empty=True)
        item_ids = np.asarray(item_ids).astype(str).astype(object)
        col_map = positions(item_ids, np.asarray(synthetic.item_ids).astype(str).astype(object))
        coo = csr.tocoo()
        keep = col_map[coo.col] >= 0
        if (~keep).any():
            logger.info("%s: dropped %d synthetic interactions on %d items unknown to the real "
                        "matrix", self._name, int((~keep).sum()), int((col_map < 0).sum()))
        out = sp.csr_matrix((coo.data[keep], (coo.row[keep], col_map[coo.col[keep]])),
                            shape=(csr.shape[0], len(item_ids)), dtype=np.float32)
        out.sort_indices()
        return out

    # ------------------------------------------------------------------ recommend
    def recommend(
        self,
        user_ids: Sequence[str] | np.ndarray,
        n: int = 10,
        *,
        exclude_seen: bool = True,
        filter_items: Sequence[str] | None = None,
        interactions: pd.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for a batch of users, always exactly ``n`` per user.

        Parameters
        ----------
        user_ids : sequence of str
            The users. Known users are scored from the fitted model; unknown users with
            rows in ``interactions`` are folded in without retraining; other unknown
            users get the most popular items (see :meth:`is_fallback`).
        n : int, default 10
            Items per user.
        exclude_seen : bool, default True
            Never return items in the user's known (or folded-in) history.
        filter_items : sequence of str, optional
            Items never to return; each must be known to the model.
        interactions : DataFrame, optional
            ``user_id, item_id[, qty, value]`` rows for unknown users, aggregated as
            counts per (user, item); items unknown to the model are ignored.

        Returns
        -------
        item_ids : ndarray of object, shape (len(user_ids), n)
            Item id strings, best first, no duplicates within a row.
        scores : ndarray of float32, shape (len(user_ids), n)
            The model's scores (popularity for fallback users). Items padded in when
            the model scores fewer than ``n`` items carry a score no greater than the
            row's last scored item and are ordered by popularity.

        Raises
        ------
        ValueError
            ``n`` is not a positive int, or some user has fewer than ``n`` items left
            after excluding seen and filtered items (the message says how many).
        DataValidationError
            ``filter_items`` names unknown items or ``interactions`` lacks columns.

        Notes
        -----
        Rows of ``interactions`` for users known at fit time are ignored: they keep their
        fitted state. Each call records ``last_fallback_``, so share a fitted model
        between threads only for read-only use of the other methods.
        """
        self._check_fitted()
        check_int(f"{self._name}.recommend", "n", n, 1)
        n = int(n)
        ids = as_ids(user_ids, "user_ids")
        n_items = self.item_ids_.size
        filter_idx = self._filter_index(filter_items)
        filter_mask = np.zeros(n_items, dtype=bool)
        filter_mask[filter_idx] = True

        rows = positions(self.user_ids_, ids)
        unknown = rows < 0
        fold_pos = np.zeros(ids.size, dtype=np.int64) - 1
        fold_hist = empty_rows(0, n_items)
        if unknown.any() and interactions is not None:
            fold_users, fold_hist = self._fold_in_history(interactions, np.unique(ids[unknown]))
            fold_pos = np.where(unknown, positions(fold_users, ids), -1)
        folded = fold_pos >= 0
        fallback = unknown & ~folded

        # Histories aligned to the request, for the availability check before any work.
        history = empty_rows(ids.size, n_items)
        if exclude_seen:
            known_pos, fold_pos_idx = np.flatnonzero(~unknown), np.flatnonzero(folded)
            blocks = sp.vstack([self.user_items_[rows[known_pos]], fold_hist[fold_pos[folded]],
                                empty_rows(int(fallback.sum()), n_items)], format="csr")
            order = np.concatenate([known_pos, fold_pos_idx, np.flatnonzero(fallback)])
            history = blocks[np.argsort(order, kind="stable")]
        self._check_available(ids, history, filter_mask, n)

        out_idx = np.zeros((ids.size, n), dtype=np.int64)
        out_scores = np.zeros((ids.size, n), dtype=np.float32)
        for group, user_rows, hist_source in (
            (np.flatnonzero(~unknown), rows, self.user_items_),
            (np.flatnonzero(folded), fold_pos, fold_hist),
        ):
            for start in range(0, group.size, _CHUNK):
                pos = group[start:start + _CHUNK]
                hist = hist_source[user_rows[pos]]
                cand = self._candidates(user_rows[pos] if hist_source is self.user_items_
                                        else None, hist, n, exclude_seen=exclude_seen,
                                        filter_idx=filter_idx)
                out_idx[pos], out_scores[pos] = self._finalize(
                    *cand, hist if exclude_seen else None, filter_mask, n)
        fb = np.flatnonzero(fallback)
        if fb.size:
            cand = self._popular_candidates(empty_rows(fb.size, n_items), n, exclude_seen=False,
                                            filter_idx=filter_idx)
            out_idx[fb], out_scores[fb] = self._finalize(*cand, None, filter_mask, n)
            logger.debug("%s: popularity fallback for %d unknown users", self._name, fb.size)

        self.last_fallback_ = fallback
        self._last_folded = set(ids[folded].tolist())
        return self.item_ids_[out_idx], out_scores

    def is_fallback(self, user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """True where :meth:`recommend` used the popularity fallback for the user.

        That is an unknown user who was not folded in during the last ``recommend`` call
        (no rows in ``interactions``, or only rows on unknown items).
        """
        self._check_fitted()
        ids = as_ids(user_ids, "user_ids")
        unknown = positions(self.user_ids_, ids) < 0
        folded = np.fromiter((u in self._last_folded for u in ids), dtype=bool, count=ids.size)
        return unknown & ~folded

    def _filter_index(self, filter_items: Sequence[str] | None) -> np.ndarray:
        if filter_items is None:
            return np.zeros(0, dtype=np.int32)
        wanted = as_ids(filter_items, "filter_items")
        idx = positions(self.item_ids_, wanted)
        if (idx < 0).any():
            missing = np.unique(wanted[idx < 0])
            shown = ", ".join(repr(x) for x in missing[:5])
            raise DataValidationError(
                f"filter_items has {missing.size} item ids the model was not fitted on: "
                f"{shown}{', ...' if missing.size > 5 else ''}", table="items",
                column="item_id", n_rows=int(missing.size),
                fix="pass only items of the training matrix (model.item_ids_)")
        return np.unique(idx).astype(np.int32)

    def _fold_in_history(self, interactions: pd.DataFrame,
                         unknown: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
        """Sorted ids and CSR history of the unknown users that have usable rows."""
        if not isinstance(interactions, pd.DataFrame):
            raise TypeError("interactions must be a pandas DataFrame with user_id and item_id "
                            f"columns; got {type(interactions).__name__}")
        missing = [c for c in ("user_id", "item_id") if c not in interactions.columns]
        if missing:
            raise DataValidationError(f"interactions lacks the column(s) {', '.join(missing)}",
                                      table="interactions", column=missing[0],
                                      fix="pass user_id, item_id[, qty, value] rows")
        users = np.asarray(interactions["user_id"].astype(str), dtype=object)
        sub = interactions.loc[np.isin(users, unknown), ["user_id", "item_id"]]
        if sub.empty:
            return np.zeros(0, dtype=object), empty_rows(0, self.item_ids_.size)
        fold_ids = np.unique(np.asarray(sub["user_id"].astype(str), dtype=object).astype(str))
        m = build_user_items(sub, weight="count", user_ids=fold_ids,
                             item_ids=self.item_ids_.astype(str))
        hist = m.matrix.tocsr()
        usable = np.diff(hist.indptr) > 0
        if (~usable).any():
            logger.info("%s: %d unknown users have interactions only on unknown items; "
                        "they get the popularity fallback", self._name, int((~usable).sum()))
        hist = hist[np.flatnonzero(usable)]
        hist.sort_indices()
        return m.user_ids[usable].astype(str).astype(object), hist

    def _check_available(self, ids: np.ndarray, history: sp.csr_matrix,
                         filter_mask: np.ndarray, n: int) -> None:
        n_items = filter_mask.size
        n_filtered = int(filter_mask.sum())
        seen = np.asarray(binary(history) @ (~filter_mask).astype(np.float32)).ravel() \
            if history.nnz else np.zeros(ids.size)
        available = n_items - n_filtered - seen.astype(np.int64)
        short = available < n
        if short.any():
            i = int(np.argmin(available))
            raise ValueError(
                f"{self._name}.recommend cannot return n={n} items for user {ids[i]!r}: only "
                f"{int(available[i])} of the {n_items} catalogue items are available after "
                f"excluding {int(seen[i])} seen and {n_filtered} filtered items "
                f"({int(short.sum())} users affected). Lower n, filter fewer items or pass "
                "exclude_seen=False.")

    def _popular_candidates(self, history: sp.csr_matrix, n: int, *, exclude_seen: bool,
                            filter_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The most popular items, enough of them to survive each row's exclusions."""
        order = self._pop_order[~np.isin(self._pop_order, filter_idx)]
        extra = int(np.diff(history.indptr).max()) if exclude_seen and history.nnz else 0
        top = order[:n + extra]
        m = history.shape[0]
        return (np.broadcast_to(top, (m, top.size)),
                np.broadcast_to(self.popularity_[top].astype(np.float32), (m, top.size)))

    def _finalize(self, cand_ids: np.ndarray, cand_scores: np.ndarray,
                  seen: sp.csr_matrix | None, filter_mask: np.ndarray,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exactly ``n`` valid, distinct items per row from best-first candidates.

        Drops implicit's pads (-1 / -FLT_MAX), seen and filtered items and duplicates,
        then tops short rows up with the most popular remaining items.
        """
        ids = np.atleast_2d(np.asarray(cand_ids, dtype=np.int64))
        scores = np.atleast_2d(np.asarray(cand_scores, dtype=np.float64))
        m, width = ids.shape
        n_items = filter_mask.size
        valid = (ids >= 0) & (ids < n_items) & np.isfinite(scores) & (scores > _PAD_SCORE)
        safe = np.where(valid, ids, 0)
        valid &= ~filter_mask[safe]
        if seen is not None and seen.nnz:
            valid &= ~member(seen, safe)
        if width > 1:  # drop repeats, keeping the first (best) occurrence
            keyed = np.where(valid, safe, -1 - np.arange(width))
            order = np.argsort(keyed, axis=1, kind="stable")
            srt = np.take_along_axis(keyed, order, axis=1)
            dup = np.zeros_like(valid)
            np.put_along_axis(dup, order[:, 1:], srt[:, 1:] == srt[:, :-1], axis=1)
            valid &= ~dup

        out_idx = np.zeros((m, n), dtype=np.int64)
        out_scores = np.zeros((m, n), dtype=np.float32)
        count = valid.sum(axis=1)
        full = count >= n
        if full.any():
            take = valid[full] & (np.cumsum(valid[full], axis=1) <= n)
            out_idx[full] = ids[full][take].reshape(-1, n)
            out_scores[full] = scores[full][take].reshape(-1, n)
        for r in np.flatnonzero(~full):
            got_ids, got_scores = ids[r][valid[r]], scores[r][valid[r]]
            banned = filter_mask.copy()
            banned[got_ids] = True
            if seen is not None:
                banned[seen.indices[seen.indptr[r]:seen.indptr[r + 1]]] = True
            pad = self._pop_order[~banned[self._pop_order]][:n - got_ids.size]
            if pad.size < n - got_ids.size:  # guarded by _check_available
                raise RuntimeError("not enough items to pad a recommendation row")
            floor = min(0.0, float(got_scores.min())) if got_scores.size else 0.0
            out_idx[r] = np.concatenate([got_ids, pad])
            out_scores[r] = np.concatenate([got_scores, np.full(pad.size, floor)])
        return out_idx, out_scores

    # ------------------------------------------------------------- other queries
    def similar_items(self, item_ids: Sequence[str] | np.ndarray,
                      n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to each item, never the item itself.

        Parameters
        ----------
        item_ids : sequence of str
            Items known to the model.
        n : int, default 10
            Neighbours per item; at most ``len(item_ids_) - 1``.

        Returns
        -------
        item_ids : ndarray of object, shape (len(item_ids), n)
        scores : ndarray of float32, shape (len(item_ids), n)
        """
        self._check_fitted()
        check_int(f"{self._name}.similar_items", "n", n, 1)
        n = int(n)
        ids = as_ids(item_ids, "item_ids")
        idx = positions(self.item_ids_, ids)
        if (idx < 0).any():
            missing = np.unique(ids[idx < 0])
            raise DataValidationError(
                f"similar_items got {missing.size} item ids the model was not fitted on: "
                + ", ".join(repr(x) for x in missing[:5]), table="items", column="item_id",
                n_rows=int(missing.size), fix="pass only items of model.item_ids_")
        n_items = self.item_ids_.size
        if n > n_items - 1:
            raise ValueError(f"{self._name}.similar_items cannot return n={n} neighbours: the "
                             f"catalogue has {n_items} items, so at most {n_items - 1} others")
        out_idx = np.zeros((ids.size, n), dtype=np.int64)
        out_scores = np.zeros((ids.size, n), dtype=np.float32)
        no_filter = np.zeros(n_items, dtype=bool)
        for start in range(0, ids.size, _CHUNK):
            part = idx[start:start + _CHUNK]
            itself = sp.csr_matrix((np.ones(part.size, dtype=np.float32), part,
                                    np.arange(part.size + 1)), shape=(part.size, n_items))
            cand = self._similar_candidates(part, n + 1)
            out_idx[start:start + part.size], out_scores[start:start + part.size] = \
                self._finalize(*cand, itself, no_filter, n)
        return self.item_ids_[out_idx], out_scores

    def score_block(self, user_index: np.ndarray) -> np.ndarray:
        """Dense scores of a block of known users against every item.

        Parameters
        ----------
        user_index : ndarray of int
            Row numbers into ``user_ids_``. Meant for block-wise batch scoring; the
            result is ``len(user_index) x n_items`` floats, so keep blocks small.

        Returns
        -------
        ndarray of float32, shape (len(user_index), len(item_ids_))
            Seen items are not masked.
        """
        self._check_fitted()
        rows = np.asarray(user_index)
        if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
            raise ValueError("user_index must be a 1-D array of ints (rows of user_ids_)")
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.user_ids_.size):
            raise IndexError(f"user_index must lie in [0, {self.user_ids_.size}); got values "
                             f"from {rows.min()} to {rows.max()}")
        if rows.size == 0:
            return np.zeros((0, self.item_ids_.size), dtype=np.float32)
        return np.ascontiguousarray(self._score_block(rows), dtype=np.float32)

    # --------------------------------------------------------------- persistence
    # save(path) / load(path) come from features.artifacts.Artifact; the folder holds
    # arrays.npz: ids, the real users' interactions, popularity and the model's arrays.
    def _save_state(self, folder: Path) -> dict[str, Any]:
        arrays = {
            "user_ids": self.user_ids_.astype(str), "item_ids": self.item_ids_.astype(str),
            "user_items_data": self.user_items_.data, "user_items_indices":
            self.user_items_.indices, "user_items_indptr": self.user_items_.indptr,
            "popularity": self.popularity_,
        }
        for key, value in self._state_arrays().items():
            arrays[f"model_{key}"] = np.asarray(value)
        with open(folder / ARRAYS_FILE, "wb") as fh:
            np.savez(fh, **arrays)
        return {"n_users": int(self.user_ids_.size), "n_items": int(self.item_ids_.size),
                "n_synthetic_users": self.n_synthetic_users_,
                "synthetic_weight": self.synthetic_weight_,
                "synthetic_fingerprint": self.synthetic_fingerprint_}

    @classmethod
    def _load_state(cls, folder: Path, state: dict[str, Any], config: dict[str, Any],
                    **options: Any) -> Recommender:
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        model = cls(**config)
        model.user_ids_ = arrays["user_ids"].astype(object)
        model.item_ids_ = arrays["item_ids"].astype(object)
        model.user_items_ = sp.csr_matrix(
            (arrays["user_items_data"], arrays["user_items_indices"],
             arrays["user_items_indptr"]), shape=(model.user_ids_.size, model.item_ids_.size))
        model.popularity_ = arrays["popularity"]
        model.n_synthetic_users_ = int(state.get("n_synthetic_users", 0))
        model.synthetic_weight_ = float(state.get("synthetic_weight", 0.0))
        model.synthetic_fingerprint_ = state.get("synthetic_fingerprint")
        model._pop_order = np.argsort(-model.popularity_, kind="stable")
        model._restore_state({k[len("model_"):]: v for k, v in arrays.items()
                              if k.startswith("model_")})
        model.last_fallback_ = np.zeros(0, dtype=bool)
        model._last_folded = set()
        return model
