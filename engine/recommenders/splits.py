"""Train / validation / test splits of the ``interactions`` table, per user.

Three splitters, all per user (every user keeps part of their history in train):

- :func:`msr_split`: Microsoft Recommenders' ``python_stratified_split`` re-implemented,
  so that genlift's numbers can stand beside their published MovieLens tables;
- :func:`temporal_split`: leave the last ``n`` (or the last fraction) of each user's
  interactions out, by timestamp;
- :func:`user_holdout_split`: a random fraction of each user's interactions, independent of
  the input's row order.

:func:`validation_split` carves a validation set out of a *training* frame with the same
per-user method, so tuning never sees the test set. Every splitter returns
``(train, test)`` frames that keep the input's columns and index labels, with no row in
both and no row lost (except :func:`msr_split`, see its notes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from features.errors import DataValidationError, check_int, check_param, check_real, is_int

logger = logging.getLogger(__name__)

__all__ = ["msr_split", "temporal_split", "user_holdout_split", "validation_split"]

Method = Literal["random", "temporal", "msr"]
METHODS = ("random", "temporal", "msr")


def _check_frame(frame: object, owner: str, columns: Sequence[str], table: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{owner} expects a pandas DataFrame; got {type(frame).__name__}")
    for col in columns:
        if col not in frame.columns:
            raise DataValidationError(
                f"{table} has no column '{col}' (columns: {', '.join(map(str, frame.columns))})",
                table=table, column=col, n_rows=len(frame),
                fix=f"add a '{col}' column or rename yours to '{col}'",
            )
        missing = frame[col].isna().to_numpy()
        if missing.any():
            rows = (np.flatnonzero(missing)[:5] + 1).tolist()
            raise DataValidationError(
                f"{table}.{col} has {int(missing.sum())} missing values "
                f"(rows {', '.join(map(str, rows))}{', ...' if missing.sum() > 5 else ''})",
                table=table, column=col, n_rows=int(missing.sum()), rows=rows,
                fix=f"drop those rows or fill {col}",
            )
    return frame


def _group_codes(values: pd.Series) -> np.ndarray:
    """Integer codes whose order is the sorted order of ``values`` (as ``sort_values``)."""
    codes, _ = pd.factorize(values, sort=True)
    return codes.astype(np.int64, copy=False)


def _rank_within(codes: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based rank of each row within its group, following ``order``, and the group size.

    ``order`` must list the rows grouped by code (codes non-decreasing along it). Both
    returned arrays are indexed by the original row number.
    """
    n = len(codes)
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if n else \
        np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, n])
    group_start = np.repeat(starts, sizes)
    rank = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - group_start + 1
    count[order] = np.repeat(sizes, sizes)
    return rank, count


def msr_split(
    interactions: pd.DataFrame,
    *,
    ratio: float = 0.75,
    seed: int = 42,
    rule: Literal["round", "share"] = "round",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Microsoft Recommenders' stratified random split, re-implemented.

    Equivalent to ``python_stratified_split(data, ratio=ratio, min_rating=1,
    filter_by="user", col_user="user_id", col_item="item_id", seed=seed)`` of
    ``recommenders.datasets.python_splitters``: for the same input (same rows in the same
    order) the same rows land in train and in test, and both frames come back in the same
    row order with the same index labels. Checked row for row against the released
    ``recommenders==1.2.1`` on random frames (int and string user ids, 3 to 100,000 rows,
    four ratio / seed pairs).

    The algorithm: draw one uniform number per row with the legacy NumPy generator
    (``np.random.seed(seed); np.random.rand(n_rows)``, in input row order); sort the rows
    by (user, draw); number each user's rows ``rank = 1..count`` in that order; then

    - ``rule="round"`` (``recommenders`` 1.2.1 on PyPI and most of the repository's
      history): train is ``rank <= round(ratio * count)``, test is
      ``round(ratio * count) < rank <= round(t * count)`` with
      ``t = cumsum([ratio, 1 - ratio])[-1]``; ``round`` is NumPy's half-to-even, so a
      user with 2 rows keeps 2 in train at ratio 0.75 (``round(1.5) = 2``) and a user with
      one row stays in train only;
    - ``rule="share"`` (a variant found in one later revision of the repository): train
      is ``rank / count <= ratio``, test ``ratio < rank / count <= t``; a user with one row
      goes to test only.

    Parameters
    ----------
    interactions : DataFrame
        At least ``user_id`` and ``item_id`` (no missing values); other columns are kept.
    ratio : float, default 0.75
        Share of each user's rows that go to train, in (0, 1).
    seed : int, default 42
        Seed of the legacy ``numpy.random.RandomState`` (their default is 42 too).
    rule : {"round", "share"}, default "round"
        Which revision of their threshold rule to reproduce (see above).

    Returns
    -------
    train, test : DataFrame
        Sorted by (user_id, the random draw), index labels of the input kept.

    Notes
    -----
    Differences from the original, none of which changes which rows land where:
    the original calls ``np.random.seed`` (global state) and writes a ``random`` column
    into the caller's frame (left behind there); this version uses a private
    ``RandomState`` and never modifies its input. Ties in the random draw (never seen in
    practice: 53-bit uniforms) are broken by row order in both. The original also accepts
    a list of ratios (multi-way splits) and ``min_rating > 1`` filtering; those are not
    re-implemented.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": ["a"] * 4 + ["b"] * 4, "item_id": list("wxyzwxyz")})
    >>> train, test = msr_split(df, ratio=0.75, seed=42)
    >>> len(train), len(test)
    (6, 2)
    """
    owner = "msr_split"
    ratio = check_real(owner, "ratio", ratio, 0.0, 1.0, low_open=True, high_open=True)
    ok_seed = is_int(seed) and bool(0 <= seed < 2**32)
    check_param(owner, "seed", seed, ok_seed, "an int in the range [0, 2**32)")
    check_param(owner, "rule", rule, rule in ("round", "share"), "one of round, share")
    frame = _check_frame(interactions, owner, ("user_id", "item_id"), "interactions")

    n = len(frame)
    draws = np.random.RandomState(int(seed)).rand(n)
    codes = _group_codes(frame["user_id"])
    order = np.lexsort((draws, codes))  # stable: equal draws keep row order, like pandas
    rank, count = _rank_within(codes, order)
    low, high = np.cumsum([ratio, 1.0 - ratio])
    rank, count = rank[order], count[order]
    if rule == "round":
        # float64 product then half-to-even rounding: what pandas' round(Series) does.
        cut_low, cut_high = np.round(low * count), np.round(high * count)
        in_train = rank <= cut_low
        in_test = (rank <= cut_high) & (rank > cut_low)
    else:
        share = rank / count  # float64, the same division as theirs
        in_train = share <= low
        in_test = (share <= high) & (share > low)
    lost = n - int(in_train.sum()) - int(in_test.sum())
    if lost:
        logger.warning("msr_split: %d rows fell outside both splits (float threshold %r), "
                       "as in the original", lost, high)
    train = frame.iloc[order[in_train]]
    test = frame.iloc[order[in_test]]
    logger.debug("msr_split: %d train rows, %d test rows, %d users", len(train), len(test),
                 int(codes.max() + 1) if n else 0)
    return train, test


def _tie_break_order(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Row order by (user, *keys, item_id, row position): deterministic for tied keys."""
    cols: list[np.ndarray] = [np.arange(len(frame))]
    cols.append(_group_codes(frame["item_id"].astype(str)))
    for key in reversed(keys):
        cols.append(_group_codes(frame[key]))
    cols.append(_group_codes(frame["user_id"]))
    return np.lexsort(cols)


def _split_by_share(
    frame: pd.DataFrame, order: np.ndarray, *, n_last: int | None, fraction: float | None,
    min_history: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    codes = _group_codes(frame["user_id"])
    rank, count = _rank_within(codes, order)
    if fraction is not None:
        # The same rule as msr_split: the last rows whose rank / count exceeds the train
        # share go to test, so a fraction means the same thing in every splitter.
        test = rank / count > 1.0 - fraction
        n_test = np.bincount(codes, weights=test, minlength=int(codes.max() + 1) if len(codes)
                             else 0)[codes]
    else:
        last = int(n_last or 1)
        n_test = np.minimum(last, count).astype(np.float64)
        test = rank > count - last
    # Users who would keep fewer than min_history training rows are not evaluated.
    keeps = (count - n_test) >= min_history
    test &= keeps
    n_skipped = int(len(np.unique(codes[~keeps]))) if (~keeps).any() else 0
    if n_skipped:
        logger.info("%d users have too little history (min_history=%d) and stay in train "
                    "only", n_skipped, min_history)
    return frame[~test], frame[test]


def temporal_split(
    interactions: pd.DataFrame,
    *,
    n_last: int | None = 1,
    fraction: float | None = None,
    min_history: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave the last interactions of each user out, by timestamp.

    Each user's rows are ordered by ``ts``; ties are broken by ``item_id`` (as strings),
    then by input row position, so the split is deterministic.

    Parameters
    ----------
    interactions : DataFrame
        ``user_id``, ``item_id``, ``ts`` (no missing values) and any other columns.
    n_last : int or None, default 1
        How many of each user's last rows go to test. Ignored when ``fraction`` is given.
    fraction : float or None
        Instead of ``n_last``: the last rows whose rank / count exceeds ``1 - fraction``
        go to test (the rule of :func:`msr_split`, applied to time order).
    min_history : int, default 1
        A user whose training part would have fewer rows than this keeps all of their
        rows in train and has none in test.

    Returns
    -------
    train, test : DataFrame
        Rows of the input, in input order, index labels kept.
    """
    owner = "temporal_split"
    if fraction is not None:
        fraction = check_real(owner, "fraction", fraction, 0.0, 1.0, low_open=True, high_open=True)
        n_last = None
    else:
        check_param(owner, "n_last", n_last, n_last is not None, "an int >= 1 when fraction "
                    "is None")
        n_last = check_int(owner, "n_last", n_last, 1)
    min_history = check_int(owner, "min_history", min_history, 0)
    frame = _check_frame(interactions, owner, ("user_id", "item_id", "ts"), "interactions")
    order = _tie_break_order(frame, ["ts"])
    return _split_by_share(frame, order, n_last=n_last, fraction=fraction,
                           min_history=min_history)


def user_holdout_split(
    interactions: pd.DataFrame,
    *,
    fraction: float = 0.2,
    seed: int | np.random.Generator | None = None,
    min_history: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random fraction of each user's interactions.

    Rows are first put in a canonical order (user, item, ts when present, row position),
    then shuffled within each user by ``seed``; the rows whose shuffled rank / count exceeds
    ``1 - fraction`` go to test. The same data in any row order gives the same split.

    Parameters
    ----------
    interactions : DataFrame
        ``user_id`` and ``item_id`` (no missing values) and any other columns.
    fraction : float, default 0.2
        Share of each user's rows held out, in (0, 1).
    seed : int, Generator or None
        Randomness; the same int gives the same split.
    min_history : int, default 1
        A user whose training part would have fewer rows than this keeps all of their
        rows in train.

    Returns
    -------
    train, test : DataFrame
        Rows of the input, in input order, index labels kept.
    """
    owner = "user_holdout_split"
    fraction = check_real(owner, "fraction", fraction, 0.0, 1.0, low_open=True, high_open=True)
    min_history = check_int(owner, "min_history", min_history, 0)
    ok_seed = seed is None or isinstance(seed, np.random.Generator) or is_int(seed)
    check_param(owner, "seed", seed, ok_seed, "an int, a numpy Generator or None")
    frame = _check_frame(interactions, owner, ("user_id", "item_id"), "interactions")
    rng = np.random.default_rng(seed)
    canonical = _tie_break_order(frame, ["ts"] if "ts" in frame.columns else [])
    draws = np.empty(len(frame))
    draws[canonical] = rng.random(len(frame))
    order = np.lexsort((draws, _group_codes(frame["user_id"])))
    return _split_by_share(frame, order, n_last=None, fraction=fraction,
                           min_history=min_history)


def validation_split(
    train: pd.DataFrame,
    *,
    method: Method = "random",
    fraction: float = 0.1,
    n_last: int | None = None,
    seed: int | np.random.Generator | None = 0,
    min_history: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a validation set out of a training frame, per user.

    Only ``train`` is read, so the test set cannot leak into tuning. Use the method that
    made the test split: ``"temporal"`` after :func:`temporal_split`, ``"random"`` after
    :func:`user_holdout_split`, ``"msr"`` after :func:`msr_split`.

    Parameters
    ----------
    train : DataFrame
        The training part of an earlier split.
    method : {"random", "temporal", "msr"}
        Which per-user splitter to apply.
    fraction : float, default 0.1
        Share of each user's training rows that go to validation (for ``"msr"`` the train
        ratio is ``1 - fraction``).
    n_last : int or None
        For ``"temporal"`` only: hold out each user's last ``n_last`` rows instead of a
        fraction.
    seed : int, Generator or None, default 0
        Randomness of ``"random"``; ``"msr"`` needs an int.
    min_history : int, default 1
        See :func:`temporal_split`; not used by ``"msr"``.

    Returns
    -------
    fit, valid : DataFrame
        The rows to fit on while tuning and the validation rows.
    """
    owner = "validation_split"
    check_param(owner, "method", method, method in METHODS, f"one of {', '.join(METHODS)}")
    if method == "temporal":
        if n_last is not None:
            return temporal_split(train, n_last=n_last, min_history=min_history)
        return temporal_split(train, fraction=fraction, min_history=min_history)
    check_param(owner, "n_last", n_last, n_last is None, "None unless method='temporal'")
    fraction = check_real(owner, "fraction", fraction, 0.0, 1.0, low_open=True, high_open=True)
    if method == "msr":
        check_param(owner, "seed", seed, is_int(seed), "an int when method='msr'")
        return msr_split(train, ratio=1.0 - fraction, seed=int(seed))  # type: ignore[arg-type]
    return user_holdout_split(train, fraction=fraction, seed=seed, min_history=min_history)
