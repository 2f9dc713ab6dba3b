"""Scorecard of synthetic baskets against real ones.

Five families of scores, all computed on binary user x item matrices with
``scipy.sparse`` (no Python loop over users, items or pairs):

- **item popularity**: Pearson and Spearman correlation of the per-item user counts over
  the whole catalogue;
- **co-occurrence**: pointwise mutual information of the ``top_pairs`` most frequent real
  item pairs, computed in both data sets and correlated (Pearson and Spearman), plus the
  share of those pairs that co-occur at all in the synthetic baskets;
- **basket size**: Wasserstein-1 distance and Kolmogorov-Smirnov statistic between the
  distributions of the number of distinct items per user;
- **catalogue coverage**: share of the catalogue that appears in each data set;
- **long tail**: the head is the smallest set of most popular real items that makes
  ``tail_share`` of real interactions; the share of interactions outside it, in real and
  in synthetic data.

A basket is the set of distinct items of a user: repeated (user, item) rows count once.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from features.errors import DataValidationError, check_int, check_param, check_real, is_int

logger = logging.getLogger(__name__)

#: Added to every count before taking logs, so a pair that never co-occurs in the
#: synthetic baskets gets a finite (very low) PMI instead of -inf.
PMI_SMOOTHING = 0.5


def basket_scorecard(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    n_items: int | None = None,
    top_pairs: int = 1000,
    tail_share: float = 0.8,
) -> dict[str, float]:
    """Compare synthetic baskets with real ones.

    Parameters
    ----------
    real, synthetic : DataFrame
        Long format with at least ``user_id`` and ``item_id``; the two may use different
        user ids (synthetic users are new people) but share the item ids.
    n_items : int, optional
        Size of the catalogue. Items that appear in neither frame count as zero in the
        popularity vectors and in the coverage denominators. Default: the number of
        distinct items in the two frames together.
    top_pairs : int, default 1000
        How many of the most frequent real item pairs the PMI agreement is computed on.
    tail_share : float, default 0.8
        The head is the smallest set of most popular real items that makes this share of
        the real interactions; the long tail is every other catalogue item.

    Returns
    -------
    dict
        ``popularity_pearson``, ``popularity_spearman``, ``pmi_pearson``, ``pmi_spearman``,
        ``pair_coverage``, ``size_wasserstein``, ``size_wasserstein_rel`` (divided by the
        real mean size), ``size_ks``, ``size_mean_real``, ``size_mean_synthetic``,
        ``coverage_real``, ``coverage_synthetic``, ``tail_share_real``,
        ``tail_share_synthetic`` and counts (``n_items``, ``n_users_real``, ...).
        Correlations are NaN where one side is constant.

    Examples
    --------
    >>> real = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": ["a", "b", "a", "c"]})
    >>> card = basket_scorecard(real, real)
    >>> card["popularity_pearson"], card["size_wasserstein"]
    (1.0, 0.0)
    """
    _check_frame(real, "real")
    _check_frame(synthetic, "synthetic")
    items_real = real["item_id"].astype(str).to_numpy()
    items_syn = synthetic["item_id"].astype(str).to_numpy()
    codes, catalogue = pd.factorize(np.concatenate([items_real, items_syn]), sort=True)
    n_seen = len(catalogue)
    if n_items is None:
        n_items = n_seen
    check_param("basket_scorecard", "n_items", n_items, is_int(n_items) and n_items >= n_seen,
                f"None or an int >= the number of distinct items in the two frames ({n_seen})")
    r = _binary_matrix(real["user_id"], codes[: len(items_real)], int(n_items))
    s = _binary_matrix(synthetic["user_id"], codes[len(items_real):], int(n_items))
    return scorecard_from_matrices(r, s, top_pairs=top_pairs, tail_share=tail_share)


def scorecard_from_matrices(
    real: sp.spmatrix,
    synthetic: sp.spmatrix,
    *,
    top_pairs: int = 1000,
    tail_share: float = 0.8,
) -> dict[str, float]:
    """:func:`basket_scorecard` on user x item matrices whose columns are the same items.

    Nonzero cells count as one (a basket holds distinct items); users with an empty
    basket are ignored.
    """
    check_int("basket_scorecard", "top_pairs", top_pairs, 1)
    check_real("basket_scorecard", "tail_share", tail_share, 0, 1, low_open=True,
               high_open=True)
    if real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"real and synthetic matrices need the same item columns; got "
                         f"{real.shape[1]} and {synthetic.shape[1]}")
    r, s = _binarize(real), _binarize(synthetic)
    n_items = r.shape[1]
    pop_r = np.asarray(r.sum(axis=0)).ravel()
    pop_s = np.asarray(s.sum(axis=0)).ravel()
    size_r, size_s = np.diff(r.indptr), np.diff(s.indptr)
    size_r, size_s = size_r[size_r > 0], size_s[size_s > 0]

    card: dict[str, float] = {
        "n_items": int(n_items),
        "n_users_real": int(size_r.size),
        "n_users_synthetic": int(size_s.size),
        "popularity_pearson": _corr(pop_r, pop_s, "pearson"),
        "popularity_spearman": _corr(pop_r, pop_s, "spearman"),
    }
    card.update(_pmi_agreement(r, s, pop_r, pop_s, int(top_pairs)))
    mean_r = float(size_r.mean()) if size_r.size else float("nan")
    w = float(stats.wasserstein_distance(size_r, size_s)) if size_r.size and size_s.size \
        else float("nan")
    card.update({
        "size_mean_real": mean_r,
        "size_mean_synthetic": float(size_s.mean()) if size_s.size else float("nan"),
        "size_wasserstein": w,
        "size_wasserstein_rel": w / mean_r if mean_r > 0 else float("nan"),
        "size_ks": float(stats.ks_2samp(size_r, size_s).statistic)
        if size_r.size and size_s.size else float("nan"),
        "coverage_real": float(np.count_nonzero(pop_r)) / n_items,
        "coverage_synthetic": float(np.count_nonzero(pop_s)) / n_items,
    })
    card.update(_long_tail(pop_r, pop_s, float(tail_share)))
    return card


def fidelity_score(card: dict[str, float]) -> float:
    """One number for early stopping: the mean of the popularity Spearman correlation and
    the PMI Pearson agreement (an undefined correlation counts as 0). Higher is better."""
    parts = [card.get("popularity_spearman", np.nan), card.get("pmi_pearson", np.nan)]
    return float(np.mean([0.0 if not np.isfinite(p) else p for p in parts]))


# -- pieces ----------------------------------------------------------------------------
def _check_frame(frame: pd.DataFrame, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"basket_scorecard: {name} must be a pandas DataFrame, got "
                                  f"{type(frame).__name__}", fix="pass a DataFrame")
    missing = [c for c in ("user_id", "item_id") if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"basket_scorecard: {name} is missing column(s) {', '.join(missing)}",
            table=name, column=missing[0], fix="give user_id and item_id columns")
    if len(frame) == 0:
        raise DataValidationError(f"basket_scorecard: {name} has no rows", table=name,
                                  fix="score at least one basket")
    bad = (frame["user_id"].isna() | frame["item_id"].isna()).to_numpy()
    if bad.any():
        raise DataValidationError(
            f"basket_scorecard: {name} has {int(bad.sum())} rows with a missing user_id or "
            "item_id", table=name, n_rows=int(bad.sum()),
            rows=[int(i) + 1 for i in np.flatnonzero(bad)[:5]], fix="drop those rows")


def _binary_matrix(users: pd.Series, item_codes: np.ndarray, n_items: int) -> sp.csr_matrix:
    user_codes, uniques = pd.factorize(users.astype(str).to_numpy())
    m = sp.csr_matrix((np.ones(len(user_codes), dtype=np.float32), (user_codes, item_codes)),
                      shape=(len(uniques), n_items))
    return _binarize(m)


def _binarize(m: sp.spmatrix) -> sp.csr_matrix:
    out = sp.csr_matrix(m, dtype=np.float32, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


def _corr(a: np.ndarray, b: np.ndarray, method: str) -> float:
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    if method == "pearson":
        return float(np.corrcoef(a, b)[0, 1])
    return float(stats.spearmanr(a, b).statistic)


def _pmi_agreement(r: sp.csr_matrix, s: sp.csr_matrix, pop_r: np.ndarray,
                   pop_s: np.ndarray, top_pairs: int) -> dict[str, float]:
    """PMI of the most frequent real pairs, in real and in synthetic baskets."""
    co = sp.triu(r.T @ r, k=1).tocoo()  # item x item co-occurrence counts, i < j
    nan = {"pmi_pearson": float("nan"), "pmi_spearman": float("nan"),
           "pair_coverage": float("nan"), "n_pairs": 0}
    if co.nnz == 0 or s.shape[0] == 0:
        return nan
    k = min(top_pairs, co.nnz)
    # most frequent first; ties broken by (i, j) so the selection is deterministic
    order = np.lexsort((co.col, co.row, -co.data))[:k]
    i, j, c_r = co.row[order], co.col[order], co.data[order].astype(np.float64)
    sc = s.tocsc()
    c_s = np.asarray(sc[:, i].multiply(sc[:, j]).sum(axis=0)).ravel().astype(np.float64)
    a = PMI_SMOOTHING
    n_r, n_s = r.shape[0], s.shape[0]
    pmi_r = np.log((c_r + a) * n_r / ((pop_r[i] + a) * (pop_r[j] + a)))
    pmi_s = np.log((c_s + a) * n_s / ((pop_s[i] + a) * (pop_s[j] + a)))
    return {
        "pmi_pearson": _corr(pmi_r, pmi_s, "pearson"),
        "pmi_spearman": _corr(pmi_r, pmi_s, "spearman"),
        "pair_coverage": float(np.mean(c_s > 0)),
        "n_pairs": int(k),
    }


def _long_tail(pop_r: np.ndarray, pop_s: np.ndarray, tail_share: float) -> dict[str, Any]:
    total_r, total_s = pop_r.sum(), pop_s.sum()
    order = np.lexsort((np.arange(pop_r.size), -pop_r))
    cum = np.cumsum(pop_r[order]) / max(total_r, 1.0)
    n_head = int(np.searchsorted(cum, tail_share - 1e-12) + 1)
    tail = np.ones(pop_r.size, dtype=bool)
    tail[order[:n_head]] = False
    return {
        "n_head_items": n_head,
        "tail_share_real": float(pop_r[tail].sum() / total_r) if total_r else float("nan"),
        "tail_share_synthetic": float(pop_s[tail].sum() / total_s) if total_s else float("nan"),
    }
