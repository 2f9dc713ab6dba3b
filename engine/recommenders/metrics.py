"""Top-K ranking metrics, per user and averaged, with the definitions of Microsoft Recommenders.

genlift's numbers must stand beside published tables (Microsoft Recommenders' MovieLens
benchmark in particular), so the definitions follow ``recommenders.evaluation.
python_evaluation`` (v1.2.1). For one user with ranked list ``r_1..r_K`` (the first ``K``
recommendations, padding excluded), relevant set ``R`` (``|R| > 0``) and hit indicator
``h_i = [r_i in R]``:

- precision@K = ``sum(h) / K``: the denominator is ``K`` even when fewer than ``K`` items
  were recommended (their ``precision_at_k``, Spark's ``precisionAt``);
- recall@K = ``sum(h) / |R|`` (their ``recall_at_k``);
- nDCG@K = ``DCG / IDCG`` with binary gains, ``DCG = sum_i h_i / log(1 + i)`` and
  ``IDCG = sum_{i <= min(|R|, K)} 1 / log(1 + i)`` (their ``ndcg_at_k`` with the default
  ``score_type="binary"``; the log base cancels);
- AP = ``sum_i h_i * P@i / |R|`` with ``P@i = sum_{j <= i} h_j / i``: their ``map``, the
  definition behind the "MAP" column of their published benchmark table
  (``benchmark_utils.ranking_metrics_python`` reported ``map()``, and before their
  PR #2004 the same formula was called ``map_at_k``);
- AP@K = ``sum_i h_i * P@i / min(|R|, K)``: their current ``map_at_k`` (Spark's
  ``meanAveragePrecisionAt``), which they now recommend for new reports;
- hit = ``[sum(h) > 0]`` (hit rate when averaged).

Averages are over users with at least one relevant item; users with none are excluded
(as Microsoft Recommenders does by intersecting the users of truth and prediction).
Coverage = distinct items recommended (in the first ``K``, all users) / ``n_items``.

Differences from Microsoft Recommenders, all at the edges: a user in the truth who got no
recommendation at all is excluded from their precision / recall / MAP but counted as 0 in
their nDCG; here such a user (a row of padding) counts as 0 in every metric. Duplicate
relevant items count once (theirs counts duplicate truth rows twice in ``|R|``), and a
recommended item repeated in one list counts as a hit only at its first position.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataValidationError, check_int, check_param, is_int

logger = logging.getLogger(__name__)

__all__ = [
    "PER_USER_COLUMNS",
    "cold_user_segment",
    "per_user_metrics",
    "ranking_metrics",
    "relevant_from_frame",
    "segment_metrics",
]

#: Metric columns of :func:`per_user_metrics` (means of these are the reported metrics).
PER_USER_COLUMNS = ("precision", "recall", "ndcg", "ap", "ap_at_k", "hit")


def _valid_mask(rec: np.ndarray) -> np.ndarray:
    """True where ``rec`` holds an item, False for padding (None, NaN, -1)."""
    if rec.dtype.kind in "iu":
        return rec != -1
    if rec.dtype.kind == "f":
        return ~np.isnan(rec) & (rec != -1)
    if rec.dtype.kind in "US":
        return np.ones(rec.shape, dtype=bool)
    valid = ~pd.isna(rec)
    # Elementwise on object arrays; a string never equals -1.
    valid &= ~np.equal(rec, -1, where=valid, out=np.zeros(rec.shape, dtype=bool))
    return valid


def _hit_matrix(
    recommended: object, relevant: Sequence[Collection[Any]], k: int, owner: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hits (U, k), relevant counts (U,), valid mask (U, k) and item codes (U, k)."""
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"{owner}: 'recommended' must be a 2-D array (users x K); got "
                         f"{rec.ndim} dimension(s)")
    n_users = rec.shape[0]
    if len(relevant) != n_users:
        raise ValueError(f"{owner}: 'relevant' has {len(relevant)} entries but 'recommended' "
                         f"has {n_users} rows; they must be aligned, one entry per row")
    rec = rec[:, :k]
    if rec.shape[1] < k:
        pad = np.full((n_users, k - rec.shape[1]), None, dtype=object)
        rec = np.concatenate([rec.astype(object), pad], axis=1)
    valid = _valid_mask(rec)

    lens = np.fromiter(map(len, relevant), dtype=np.int64, count=n_users)
    flat_rel = _flatten(relevant, int(lens.sum()), integer=rec.dtype.kind in "iu")
    rel_rows = np.repeat(np.arange(n_users, dtype=np.int64), lens)
    rec_items = rec[valid]
    if flat_rel.dtype == object or rec_items.dtype.kind not in "iu":
        _check_id_types(rec_items, flat_rel, owner)
        rec_items = rec_items.astype(object)
    codes, uniques = pd.factorize(np.concatenate([rec_items, flat_rel]))
    n_codes = max(len(uniques), 1)
    rec_codes = np.full(rec.shape, -1, dtype=np.int64)
    rec_codes[valid] = codes[: len(rec_items)]
    rel_keys = np.sort(rel_rows * n_codes + codes[len(rec_items):])
    if len(rel_keys) > 1:
        rel_keys = rel_keys[np.r_[True, rel_keys[1:] != rel_keys[:-1]]]
    n_rel = np.bincount(rel_keys // n_codes, minlength=n_users).astype(np.int64)

    rows = np.arange(n_users, dtype=np.int64)[:, None]
    rec_keys = np.where(valid, rows * n_codes + rec_codes, -1)
    if len(rel_keys):
        pos = np.minimum(np.searchsorted(rel_keys, rec_keys), len(rel_keys) - 1)
        hits = valid & (rel_keys[pos] == rec_keys)
    else:
        hits = np.zeros(rec.shape, dtype=bool)
    _drop_repeats(hits, rec_codes)
    return hits, n_rel, valid, rec_codes


def _flatten(relevant: Sequence[Collection[Any]], total: int, *, integer: bool) -> np.ndarray:
    """All relevant ids in one array: int64 when they are all integers, else object."""
    if integer:
        try:
            return np.fromiter(itertools.chain.from_iterable(relevant), dtype=np.int64,
                               count=total)
        except (TypeError, ValueError):
            pass  # strings or None among them: compare as objects
    return np.fromiter(itertools.chain.from_iterable(relevant), dtype=object, count=total)


def _drop_repeats(hits: np.ndarray, codes: np.ndarray) -> None:
    """Clear ``hits`` where an item repeats an earlier one of its row (in place)."""
    if codes.shape[1] < 2:
        return
    sorted_codes = np.sort(codes, axis=1)
    dup_rows = np.flatnonzero(((sorted_codes[:, 1:] == sorted_codes[:, :-1])
                               & (sorted_codes[:, 1:] >= 0)).any(axis=1))
    if not len(dup_rows):
        return
    sub = codes[dup_rows]
    order = np.argsort(sub, axis=1, kind="stable")  # equal codes keep position order
    s = np.take_along_axis(sub, order, 1)
    repeat_sorted = np.zeros(sub.shape, dtype=bool)
    repeat_sorted[:, 1:] = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    repeat = np.zeros(sub.shape, dtype=bool)
    np.put_along_axis(repeat, order, repeat_sorted, 1)
    hits[dup_rows] &= ~repeat


def _check_id_types(rec_items: np.ndarray, rel_items: np.ndarray, owner: str) -> None:
    # 5 and "5" never match; catch the mix-up early instead of reporting zeros.
    if len(rec_items) and len(rel_items):
        a, b = rec_items[0], rel_items[0]
        if isinstance(a, str) != isinstance(b, str):
            raise TypeError(
                f"{owner}: recommended ids are {type(a).__name__} but relevant ids are "
                f"{type(b).__name__}; convert both to the same type (genlift ids are str)")


def per_user_metrics(
    recommended: object,
    relevant: Sequence[Collection[Any]],
    *,
    k: int = 10,
    users: object = None,
) -> pd.DataFrame:
    """Ranking metrics of every user (one row per row of ``recommended``).

    See the module docstring for the definitions. Users without relevant items get NaN
    in every metric column (and ``n_relevant == 0``), so that means skip them.

    Parameters
    ----------
    recommended : array of shape (U, K')
        Ranked item ids per user, best first. Only the first ``k`` columns are used; a
        list shorter than ``k`` is padded with ``None``, ``NaN`` or ``-1``.
    relevant : sequence of length U
        The held-out items of each row's user (sets, lists or arrays of ids of the same
        type as ``recommended``).
    k : int, default 10
        Cut-off.
    users : array-like of length U, optional
        Index of the result (user ids); a RangeIndex otherwise.

    Returns
    -------
    DataFrame
        Columns ``precision, recall, ndcg, ap, ap_at_k, hit`` (float) and ``n_relevant,
        n_hits`` (int).

    Examples
    --------
    >>> import numpy as np
    >>> per_user_metrics(np.array([["a", "b"]], dtype=object), [{"b"}], k=2)["ap"].item()
    0.5
    """
    owner = "per_user_metrics"
    k = check_int(owner, "k", k, 1)
    frame, _ = _per_user(recommended, relevant, k, owner)
    if users is not None:
        index = pd.Index(np.asarray(users))
        if len(index) != len(frame):
            raise ValueError(f"{owner}: 'users' has {len(index)} entries for {len(frame)} rows")
        frame.index = index
    return frame


def _per_user(
    recommended: object, relevant: Sequence[Collection[Any]], k: int, owner: str,
) -> tuple[pd.DataFrame, np.ndarray]:
    hits, n_rel, _, codes = _hit_matrix(recommended, relevant, k, owner)
    n_users = hits.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        n_hits = hits.sum(axis=1)
        positions = np.arange(1, k + 1, dtype=np.float64)
        cum_hits = np.cumsum(hits, axis=1)
        ap_sum = (np.where(hits, cum_hits / positions, 0.0)).sum(axis=1)
        discount = 1.0 / np.log2(positions + 1.0)
        dcg = (hits * discount).sum(axis=1)
        ideal = np.concatenate([[0.0], np.cumsum(discount)])
        capped = np.minimum(n_rel, k)
        idcg = ideal[capped]
        has_rel = n_rel > 0
        nan = np.full(n_users, np.nan)
        frame = pd.DataFrame({
            "precision": np.where(has_rel, n_hits / k, nan),
            "recall": np.where(has_rel, n_hits / n_rel, nan),
            "ndcg": np.where(has_rel, dcg / idcg, nan),
            "ap": np.where(has_rel, ap_sum / n_rel, nan),
            "ap_at_k": np.where(has_rel, ap_sum / capped, nan),
            "hit": np.where(has_rel, (n_hits > 0).astype(np.float64), nan),
            "n_relevant": n_rel,
            "n_hits": n_hits.astype(np.int64),
        })
    return frame, codes


def ranking_metrics(
    recommended: object,
    relevant: Sequence[Collection[Any]],
    *,
    k: int = 10,
    n_items: int | None = None,
) -> dict[str, float]:
    """Mean ranking metrics over the users with at least one relevant item.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`per_user_metrics`.
    n_items : int, optional
        Catalogue size, for ``coverage``; NaN without it.

    Returns
    -------
    dict
        ``precision, recall, ndcg, map, map_at_k, hit_rate`` (means; ``map`` is Microsoft
        Recommenders' ``map``, the one in their published table, ``map_at_k`` their
        ``map_at_k``), ``coverage`` (distinct recommended items / ``n_items``),
        ``n_distinct_items``, ``n_users`` (users averaged over), ``n_users_skipped``
        (users without relevant items) and ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> rec = np.array([["a", "b", "c"], ["c", "d", None]], dtype=object)
    >>> m = ranking_metrics(rec, [{"a", "c"}, {"d"}], k=3, n_items=5)
    >>> round(m["precision"], 4), m["recall"], m["coverage"]
    (0.5, 1.0, 0.8)
    """
    owner = "ranking_metrics"
    k = check_int(owner, "k", k, 1)
    ok = n_items is None or (is_int(n_items) and bool(n_items >= 1))
    check_param(owner, "n_items", n_items, ok, "None or an int in the range [1, inf)")
    per_user, codes = _per_user(recommended, relevant, k, owner)
    used = codes[codes >= 0]
    n_distinct = int(np.count_nonzero(np.bincount(used))) if len(used) else 0
    evaluated = per_user["n_relevant"].to_numpy() > 0
    n_eval = int(evaluated.sum())
    if n_eval == 0:
        logger.warning("ranking_metrics: no user has a relevant item; every mean is NaN")

    def mean(col: str) -> float:
        return float(per_user[col].to_numpy()[evaluated].mean()) if n_eval else float("nan")

    return {
        "precision": mean("precision"),
        "recall": mean("recall"),
        "ndcg": mean("ndcg"),
        "map": mean("ap"),
        "map_at_k": mean("ap_at_k"),
        "hit_rate": mean("hit"),
        "coverage": n_distinct / n_items if n_items else float("nan"),
        "n_distinct_items": float(n_distinct),
        "n_users": float(n_eval),
        "n_users_skipped": float(len(per_user) - n_eval),
        "k": float(k),
    }


def segment_metrics(per_user: pd.DataFrame, segment: pd.Series) -> pd.DataFrame:
    """Mean of each per-user metric within each segment, and the number of users.

    Parameters
    ----------
    per_user : DataFrame
        Output of :func:`per_user_metrics` (indexed by user id).
    segment : Series
        Segment label per user, indexed by the same user ids (e.g.
        :func:`cold_user_segment`). Every user of ``per_user`` must have a label.

    Returns
    -------
    DataFrame
        Indexed by segment: the mean of each metric column over the segment's users with
        relevant items, and ``n_users`` (how many such users).
    """
    if not isinstance(per_user, pd.DataFrame) or not isinstance(segment, pd.Series):
        raise TypeError("segment_metrics expects a DataFrame and a Series")
    labels = segment.reindex(per_user.index)
    missing = labels.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)[:5].tolist()
        raise DataValidationError(
            f"segment has no label for {int(missing.sum())} users of per_user "
            f"(e.g. {', '.join(map(str, per_user.index[rows]))})",
            table="per_user", column="segment", n_rows=int(missing.sum()),
            rows=[r + 1 for r in rows], fix="label every user, or index both by user id",
        )
    metrics = [c for c in PER_USER_COLUMNS if c in per_user.columns]
    evaluated = per_user["n_relevant"] > 0 if "n_relevant" in per_user.columns else \
        per_user[metrics].notna().all(axis=1)
    frame = per_user.loc[evaluated, metrics].copy()
    frame["_segment"] = labels[evaluated].to_numpy()
    grouped = frame.groupby("_segment", observed=True, sort=True)
    out = grouped[metrics].mean()
    out["n_users"] = grouped.size().astype(np.int64)
    out.index.name = "segment"
    return out


def cold_user_segment(
    train: pd.DataFrame,
    users: object,
    *,
    threshold: int = 5,
) -> pd.Series:
    """Label users "cold" (fewer than ``threshold`` training interactions) or "warm".

    Parameters
    ----------
    train : DataFrame
        Training interactions with a ``user_id`` column; every row counts once.
    users : array-like
        The users to label (a user absent from ``train`` has 0 interactions: cold).
    threshold : int, default 5
        Users with fewer training interactions than this are cold.

    Returns
    -------
    Series
        Categorical ``"cold"`` / ``"warm"``, indexed by ``users``, named ``segment``.
    """
    check_int("cold_user_segment", "threshold", threshold, 1)
    if "user_id" not in train.columns:
        raise DataValidationError(
            "train has no column 'user_id'", table="train", column="user_id",
            n_rows=len(train), fix="pass the training interactions")
    ids = np.asarray(users)
    # genlift ids are strings; compare as strings so 7 and "7" are the same user.
    counts = train["user_id"].astype(str).value_counts()
    n = counts.reindex(pd.Index(ids.astype(str))).fillna(0).to_numpy()
    labels = np.where(n < threshold, "cold", "warm")
    return pd.Series(pd.Categorical(labels, categories=["cold", "warm"]),
                     index=pd.Index(ids), name="segment")


def relevant_from_frame(test: pd.DataFrame, users: object) -> list[np.ndarray]:
    """The held-out items of each user, aligned to ``users`` (empty when none).

    Parameters
    ----------
    test : DataFrame
        ``user_id`` and ``item_id`` columns (e.g. the test part of a split).
    users : array-like
        Row order of the result (the users whose recommendations are evaluated).

    Returns
    -------
    list of ndarray
        ``out[i]`` holds the distinct item ids of ``users[i]`` in ``test``.
    """
    for col in ("user_id", "item_id"):
        if col not in test.columns:
            raise DataValidationError(f"test has no column '{col}'", table="test",
                                      column=col, n_rows=len(test), fix=f"add '{col}'")
    ids = pd.Index(np.asarray(users))
    pairs = test[["user_id", "item_id"]].drop_duplicates()
    pos = ids.get_indexer(pairs["user_id"])
    keep = pos >= 0
    pos, items = pos[keep], pairs["item_id"].to_numpy()[keep]
    order = np.argsort(pos, kind="stable")
    counts = np.bincount(pos, minlength=len(ids))
    return np.split(items[order], np.cumsum(counts)[:-1]) if len(ids) else []
