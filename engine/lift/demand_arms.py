"""The augmenters of the ``demand`` lift task (engine/lift/demand.py): the jittered-window
baseline, the transfer arms and how many windows a ratio asks for."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sstats

from augment.registry import make_generator
from augment.sales import SalesWindowGenerator
from features.errors import DataValidationError

FREQ_DAYS = 7  # weekly periods, as DemandModel and the sales generator assume
#: Generators pretrained elsewhere and fine-tuned on the short histories, and their control.
TRANSFER_ARMS = ("transfer", "short_only")


def n_windows(ratio: float, n_rows: int, window: int) -> int:
    """Synthetic windows for ``ratio`` synthetic rows per real training row."""
    return max(1, int(round(float(ratio) * n_rows / window)))


def short_rows(train: pd.DataFrame, periods: int) -> np.ndarray:
    """Rows of the series with at most ``periods`` distinct training dates: the targets
    of the transfer arms."""
    key = train["store_id"].astype(str) + "|" + train["item_id"].astype(str)
    return (train.groupby(key)["date"].transform("nunique") <= periods).to_numpy()


# ------------------------------------------------------------------------ the baseline
def jitter_windows(train: pd.DataFrame, n: int, *, window: int, sigma: float,
                   seed: int | np.random.Generator | None) -> pd.DataFrame:
    """Jittered copies of random real windows of ``window`` consecutive periods.

    Windows are drawn uniformly (with replacement) among all runs of ``window``
    consecutive weekly rows of one series in ``train``; units are multiplied by
    ``exp(N(0, sigma))`` per row and rounded; every other column is copied unchanged.

    Parameters
    ----------
    train : DataFrame
        Real sales rows (``store_id, item_id, date, units`` and the covariates).
    n : int
        Windows to draw.
    window : int
        Periods per window.
    sigma : float
        Standard deviation of the log-units noise.
    seed : int, numpy Generator or None
        Randomness of the draws.

    Returns
    -------
    DataFrame
        ``n * window`` rows with the columns of ``train`` plus ``window_id`` (0..n-1).
    """
    frame = train.sort_values(["store_id", "item_id", "date"], kind="stable")
    frame = frame.reset_index(drop=True)
    series = pd.factorize(pd.MultiIndex.from_frame(frame[["store_id", "item_id"]]))[0]
    period = ((frame["date"] - frame["date"].min()) / pd.Timedelta(days=FREQ_DAYS)
              ).to_numpy(dtype=np.int64)
    breaks = np.r_[True, (series[1:] != series[:-1]) | (period[1:] != period[:-1] + 1)]
    run = np.cumsum(breaks) - 1
    run_start = np.flatnonzero(breaks)
    run_len = np.diff(np.r_[run_start, len(frame)])
    pos = np.arange(len(frame)) - run_start[run]
    starts = np.flatnonzero(pos + window <= run_len[run])
    if len(starts) == 0:
        raise DataValidationError(
            f"sales has no run of {window} consecutive weekly periods of one series to "
            "copy for the jitter baseline", table="sales", column="date", n_rows=len(frame),
            fix="use longer training series or a smaller 'window' param")
    rng = np.random.default_rng(seed)
    rows = (rng.choice(starts, size=n)[:, None] + np.arange(window)).ravel()
    out = frame.iloc[rows].reset_index(drop=True)
    noise = np.exp(rng.normal(0.0, sigma, size=len(out)))
    out["units"] = np.round(out["units"].to_numpy(dtype=float) * noise)
    out["window_id"] = np.repeat(np.arange(n), window)
    return out


def fidelity(synthetic: pd.DataFrame, reference: np.ndarray) -> float:
    """Negative 1-D Wasserstein distance of ``log1p(units)`` (higher is better)."""
    return -float(sstats.wasserstein_distance(
        np.log1p(synthetic["units"].to_numpy(dtype=float)), reference))


# ------------------------------------------------------------------------ transfer
def transfer_windows(name: str, frame: pd.DataFrame, p: Mapping[str, Any], seed: int,
                     ratio: float) -> tuple[pd.DataFrame, np.ndarray]:
    """The synthetic windows of a transfer arm and the ids of its target series.

    Parameters
    ----------
    name : {"transfer", "short_only"}
        ``transfer`` pretrains a sales generator on the long series of ``frame`` (more
        than ``short_periods`` dates) and fine-tunes it on the short ones (warm start);
        ``short_only`` fits the same generator on the short ones alone.
    frame : DataFrame
        The training rows (the only data either generator sees).
    p : mapping
        The task's params: ``short_periods``, ``transfer_model``, ``transfer_window``,
        ``epochs``.
    seed : int
        Seed of the fits and of the sample.
    ratio : float
        Synthetic rows per real row of the target series.

    Returns
    -------
    (DataFrame, ndarray)
        Windows of ``min(short_periods, longest run)`` periods of the target series, each
        with its ``window_id``; the target series' ``"store|item"`` ids.
    """
    short = short_rows(frame, p["short_periods"])
    target, source = frame.loc[short], frame.loc[~short]
    if target.empty or (name == "transfer" and source.empty):
        raise DataValidationError(
            f"lift demand: the {name} arm needs series with at most short_periods = "
            f"{p['short_periods']} training periods (the targets) and longer ones (the "
            f"source); the training data has {int(short.sum())} and {int((~short).sum())}"
            " rows of them", table="sales", n_rows=len(frame),
            fix="use short_share > 0 and fractions that keep more than short_periods "
                "dates")
    make = partial(make_generator, "sales", p["transfer_model"], epochs=p["epochs"],
                   window=p["transfer_window"], random_state=seed)
    if name == "transfer":
        gen = make().fit(target, init=make().fit(source))
    else:
        gen = make().fit(target)
    assert isinstance(gen, SalesWindowGenerator)
    longest = int((gen.row_run_end_ - np.arange(len(gen.row_run_end_))).max())
    length = min(p["short_periods"], longest)
    n = n_windows(ratio, len(target), length)
    synthetic = gen.sample(n, conditions={"length": length}, random_state=seed)
    ids = (target["store_id"] + "|" + target["item_id"]).unique()
    return synthetic, np.asarray(ids, dtype=str)
