"""The ``paths`` lift task: do synthetic price paths make Monte Carlo scenarios of
robo-advisor strategy outcomes cover what really happened?

A scenario engine predicts, for the next ``horizon`` trading days, the distribution of
three outcomes of three small strategies (see :func:`window_outcomes`). Real only is
historical simulation: every overlapping ``horizon``-day window of the training returns.
An augmented arm adds synthetic windows from a path generator fitted on the training
returns only. The predicted quantiles (levels 0.05, 0.10, ..., 0.95) are scored on the
consecutive, non-overlapping windows of the later validation and test periods by the
pinball loss, scaled per strategy and outcome by the spread of that outcome over the
historical windows (one fixed scale for every arm), and by the coverage of the 90%
interval.

Synthetic windows are cut like the historical ones: every overlapping window of synthetic
histories of ``path_days`` days (after ``burn_in`` discarded days), so that ratio ``r``
means ``r`` times as many windows, from ``r`` times as many days of history, as the real
training period gives. ``path_days = horizon`` gives independent one-window paths instead.

Examples
--------
>>> from engine.lift import LiftConfig, run_lift
>>> task = PathsLiftTask()
>>> result = run_lift(task, {"prices": store.read("prices")},
...                   LiftConfig(task="paths", budget="small"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from augment.paths import PathGenerator
from augment.quality_paths import fidelity_score
from augment.registry import make_generator
from engine.lift.protocol import Arm, ArmState, LiftConfig, LiftSplit, LiftTask
from engine.lift.stats import Metric, Units, mean_metric
from features.errors import DataValidationError, check_param, is_int
from features.returns import log_returns
from features.schemas import validate_frame

logger = logging.getLogger(__name__)

#: Quantile levels of the predicted outcome distributions.
TAUS = np.round(np.arange(1, 20) * 0.05, 2)
STRATEGIES = ("equal_weight", "buy_and_hold", "inverse_vol")
OUTCOMES = ("total_return", "volatility", "max_drawdown")
#: Per-unit score arrays, in the order of :data:`OUTCOMES`.
SCORE_KEYS = ("qs_return", "qs_vol", "qs_drawdown")
TRADING_DAYS = 252
_CHUNK = 8192  # windows per vectorised block: bounds the (n, horizon, assets) temporaries
_MIN_HISTORY = 20  # historical windows: one more than the quantile levels
_LABELS = {"bootstrap": "block bootstrap", "garch": "GARCH(1,1)-t", "vae": "VAE", "gan": "GAN"}


# ----------------------------------------------------------------------------- strategies
def window_outcomes(windows: np.ndarray, inv_vol_weights: np.ndarray) -> np.ndarray:
    """Outcomes of three long-only strategies over each window of daily log returns.

    Strategies (all start at value 1 on the window's first day, no costs):

    - ``equal_weight``: equal weights, rebalanced daily;
    - ``buy_and_hold``: equal weights on day one, then left to drift;
    - ``inverse_vol``: fixed weights ``inv_vol_weights`` (inverse training volatilities),
      rebalanced daily.

    Outcomes per strategy: ``total_return`` (log return over the window),
    ``volatility`` (standard deviation of the daily log returns, ddof 1, times
    sqrt(252)) and ``max_drawdown`` (the largest fall from a running peak, a fraction;
    the start value counts as a peak).

    Parameters
    ----------
    windows : ndarray of shape (n, horizon, assets)
        Daily log returns, ``horizon >= 2``.
    inv_vol_weights : ndarray of shape (assets,)
        Weights of ``inverse_vol``, summing to 1.

    Returns
    -------
    ndarray of shape (n, 3, 3)
        ``[window, strategy, outcome]`` in the order of :data:`STRATEGIES` and
        :data:`OUTCOMES`.
    """
    x = np.asarray(windows, dtype=np.float64)
    simple = np.expm1(x)
    equal = np.log1p(simple.mean(axis=2))
    inverse = np.log1p(simple @ inv_vol_weights)
    value = np.log(np.exp(np.cumsum(x, axis=1)).mean(axis=2))  # log value of buy and hold
    hold = np.diff(value, axis=1, prepend=0.0)
    port = np.stack([equal, hold, inverse], axis=1)            # (n, strategies, horizon)
    level = np.cumsum(port, axis=2)
    peak = np.maximum.accumulate(np.maximum(level, 0.0), axis=2)
    drawdown = -np.expm1(-(peak - level).max(axis=2))
    vol = port.std(axis=2, ddof=1) * math.sqrt(TRADING_DAYS)
    return np.stack([level[..., -1], vol, drawdown], axis=2)


def _rolling_outcomes(paths: np.ndarray, horizon: int, weights: np.ndarray,
                      limit: int | None = None) -> np.ndarray:
    """:func:`window_outcomes` of every overlapping window of every path of ``paths``
    (days, assets) or (paths, days, assets), path by path, at most ``limit`` windows."""
    x = paths[None] if paths.ndim == 2 else paths
    view = np.lib.stride_tricks.sliding_window_view(x, horizon, axis=1)  # (p, w, d, h)
    view = view.reshape(-1, *view.shape[2:])
    n = len(view) if limit is None else min(limit, len(view))
    out = [window_outcomes(view[s:min(s + _CHUNK, n)].transpose(0, 2, 1), weights)
           for s in range(0, n, _CHUNK)]
    return np.concatenate(out) if out else np.empty((0, len(STRATEGIES), len(OUTCOMES)))


def inverse_vol_weights(train: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Weights proportional to 1 / (daily standard deviation of each asset's training
    returns), summing to 1; an asset with zero volatility gets the largest weight any
    other asset has (all equal when none moves)."""
    sd = np.asarray(train, dtype=np.float64).std(axis=0, ddof=1)
    inv = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), np.nan)
    inv = np.where(np.isnan(inv), np.nanmax(inv) if np.isfinite(inv).any() else 1.0, inv)
    return inv / inv.sum()


def quantile_scores(realised: np.ndarray, predicted: np.ndarray, scale: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Scaled quantile scores and 90% coverage of each realised window.

    The pinball loss at every level of :data:`TAUS` (per window, the same loss as
    :func:`engine.demand.metrics.pinball`), averaged over levels, divided by ``scale``
    and averaged over strategies.

    Parameters
    ----------
    realised : ndarray of shape (n, strategies, outcomes)
    predicted : ndarray of shape (len(TAUS), strategies, outcomes)
        Predicted quantiles at :data:`TAUS`.
    scale : ndarray of shape (strategies, outcomes)
        Positive divisors.

    Returns
    -------
    scores : ndarray of shape (n, outcomes)
    cover90 : ndarray of shape (n,)
        Share of (strategy, outcome) pairs whose realised value lies in ``[q05, q95]``.
    """
    taus = TAUS[None, :, None, None]
    diff = realised[:, None] - predicted[None]
    loss = np.maximum(taus * diff, (taus - 1.0) * diff).mean(axis=1)   # (n, S, K)
    scores = (loss / scale).mean(axis=1)
    lo, hi = predicted[0], predicted[-1]  # levels 0.05 and 0.95
    cover = ((realised >= lo) & (realised <= hi)).mean(axis=(1, 2))
    return scores, cover.astype(np.float64)


def _cover_error(units: Units, w: np.ndarray) -> np.ndarray:
    cover = np.asarray(units["cover90"], dtype=np.float64)
    total = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, (w @ cover) / np.where(total > 0, total, 1.0), np.nan)
    return np.abs(share - 0.90)


# ----------------------------------------------------------------------------- containers
@dataclass
class RealWindows:
    """The non-overlapping real windows of one evaluation period.

    ``returns`` are the period's daily log returns, ``starts`` the first date of every
    window and ``outcomes`` their realised :func:`window_outcomes` ``(n, 3, 3)``.
    """

    returns: pd.DataFrame
    starts: pd.DatetimeIndex
    outcomes: np.ndarray


@dataclass
class Scenarios:
    """A fitted generator and the outcomes of its synthetic windows, in sampling order
    (ratio ``r`` takes the first ``round(r * n_historical)``)."""

    generator: PathGenerator
    outcomes: np.ndarray
    n_paths: int
    sample_seconds: float


# ----------------------------------------------------------------------------- the task
class PathsLiftTask(LiftTask):
    """Lift of synthetic price paths on Monte Carlo scenarios of strategy outcomes.

    Units are ``horizon``-day windows of the validation and test periods (id = the
    window's first date). Per window: the scaled quantile scores ``qs_return``,
    ``qs_vol``, ``qs_drawdown``, their mean ``qs`` (primary; lower is better) and the
    90%-interval coverage ``cover90`` (metric ``cover90_error = |coverage - 0.90|``).
    Segments: ``all`` and ``high_vol`` (windows whose realised equal-weight volatility is
    at or above the ``tail_quantile`` of that period's windows).

    Notes
    -----
    Knobs of ``LiftConfig.params`` (:meth:`defaults` lists them all):

    - ``train_end``, ``valid_end`` (str): last day of train and of validation (ISO
      dates); test is everything after.
    - ``horizon`` (int >= 2): trading days per window.
    - ``epochs``, ``gan_epochs`` (int): training epochs of the ``vae`` and ``gan``
      generators.
    - ``path_days`` (int >= horizon): days of every synthetic history whose overlapping
      windows are used.
    - ``burn_in`` (int >= 0): leading synthetic days discarded per history (GARCH starts
      every path at its unconditional variance).
    - ``quality_paths`` (int >= 0): up to this many of the drawn histories are scored by
      :func:`augment.quality_paths.fidelity_score` against the real validation returns
      (the arm's quality, higher is better); 0 skips it.
    - ``tail_quantile`` (float in (0, 1)): quantile of the realised equal-weight
      volatility that starts the ``high_vol`` segment.
    """

    name: ClassVar[str] = "paths"
    dataset: ClassVar[str] = "sp500-20"
    tables: ClassVar[tuple[str, ...]] = ("prices",)
    unit: ClassVar[str] = "window"
    metrics: ClassVar[tuple[Metric, ...]] = (
        mean_metric("qs", "qs", higher_is_better=False,
                    label="quantile score (scaled pinball, mean of return, vol, drawdown)"),
        mean_metric("qs_return", "qs_return", higher_is_better=False,
                    label="quantile score of the total log return"),
        mean_metric("qs_vol", "qs_vol", higher_is_better=False,
                    label="quantile score of the annualised volatility"),
        mean_metric("qs_drawdown", "qs_drawdown", higher_is_better=False,
                    label="quantile score of the max drawdown"),
        Metric("cover90_error", _cover_error, False, "|90% interval coverage - 0.90|"),
    )
    primary: ClassVar[str] = "qs"
    known_generators: ClassVar[tuple[str, ...]] = ("vae", "gan")
    known_baselines: ClassVar[tuple[str, ...]] = ("bootstrap", "garch")
    known_models: ClassVar[tuple[str, ...]] = ("historical",)

    def __init__(self) -> None:
        # Real validation returns, kept by split() for the arms' quality score only; the
        # generators never see them.
        self._heldout: np.ndarray | None = None

    def defaults(self, budget: str) -> dict[str, Any]:
        check_param("PathsLiftTask.defaults", "budget", budget, budget in ("small", "full"),
                    "'small' or 'full'")
        params: dict[str, Any] = {
            "train_end": "2012-12-31", "valid_end": "2015-12-31", "horizon": 21,
            "epochs": 5, "gan_epochs": 20, "path_days": 252, "burn_in": 63,
            "quality_paths": 64, "tail_quantile": 0.75,
            # Neighbouring windows share volatility regimes: resample runs of 3 (a quarter).
            "block": 3,
        }
        if budget == "small":
            return {"generators": ("vae",), "baselines": ("bootstrap", "garch"),
                    "ratios": (0.5, 1.0, 2.0), "models": ("historical",), "params": params}
        return {"generators": ("vae", "gan"), "baselines": ("bootstrap", "garch"),
                "ratios": (0.25, 0.5, 1.0, 2.0, 4.0), "models": ("historical",),
                "params": {**params, "epochs": 60, "gan_epochs": 30}}

    # -- parameters -------------------------------------------------------------------------
    @staticmethod
    def _params(cfg: LiftConfig) -> dict[str, Any]:
        p = dict(cfg.params)
        owner = "PathsLiftTask"
        dates = {}
        for key in ("train_end", "valid_end"):
            try:
                dates[key] = pd.Timestamp(p[key])
            except (TypeError, ValueError):
                dates[key] = pd.NaT
            check_param(owner, key, p[key], isinstance(p[key], str) and dates[key] is not pd.NaT,
                        "an ISO date string such as '2012-12-31'")
        check_param(owner, "valid_end", p["valid_end"], dates["valid_end"] > dates["train_end"],
                    f"a date after train_end ({p['train_end']})")
        ints = {"horizon": 2, "epochs": 1, "gan_epochs": 1, "burn_in": 0, "quality_paths": 0,
                "block": 1,
                "path_days": p["horizon"] if is_int(p["horizon"]) else 2}
        for key, low in ints.items():
            check_param(owner, key, p[key], is_int(p[key]) and p[key] >= low,
                        f"an int in the range [{low}, inf)")
        tail = p["tail_quantile"]
        check_param(owner, "tail_quantile", tail, isinstance(tail, int | float)
                    and not isinstance(tail, bool) and 0 < tail < 1, "a float in (0, 1)")
        return {**p, "train_end": dates["train_end"], "valid_end": dates["valid_end"]}

    # -- split ----------------------------------------------------------------------------------
    def validate(self, cfg: LiftConfig) -> None:
        self._params(cfg)

    def split(self, tables: Mapping[str, Any], cfg: LiftConfig) -> LiftSplit:
        """Time-ordered train / validation / test of the daily log returns; units are the
        non-overlapping ``horizon``-day windows of validation and test."""
        p = self._params(cfg)
        if "prices" not in tables:
            raise DataValidationError(
                f"lift paths needs the 'prices' table; got {', '.join(tables) or 'none'}",
                table="prices", fix="load prices (date, asset, close), e.g. "
                "`genlift data fetch sp500-20`")
        prices = validate_frame("prices", tables["prices"])
        returns = log_returns(prices)
        _check_complete(returns)
        h = int(p["horizon"])
        parts = {"train": returns.loc[returns.index <= p["train_end"]],
                 "validation": returns.loc[(returns.index > p["train_end"])
                                           & (returns.index <= p["valid_end"])],
                 "test": returns.loc[returns.index > p["valid_end"]]}
        train = parts["train"]
        n_hist = len(train) - h + 1
        if n_hist < _MIN_HISTORY:
            raise DataValidationError(
                f"lift paths: train (returns up to {p['train_end']:%Y-%m-%d}) has "
                f"{len(train)} days, {max(n_hist, 0)} windows of {h} days; historical "
                f"simulation needs at least {_MIN_HISTORY}", table="prices",
                n_rows=len(train), fix="move train_end later or lower horizon")
        weights = inverse_vol_weights(train)
        real: dict[str, RealWindows] = {}
        for part in ("validation", "test"):
            frame = parts[part]
            n_win = len(frame) // h
            if n_win < 2:
                raise DataValidationError(
                    f"lift paths: {part} has {len(frame)} days, {n_win} windows of {h} "
                    "days; it needs at least 2", table="prices", n_rows=len(frame),
                    fix="move train_end / valid_end to leave longer periods, or lower "
                    "horizon")
            x = frame.to_numpy(dtype=np.float64)[:n_win * h].reshape(n_win, h, -1)
            real[part] = RealWindows(frame, pd.DatetimeIndex(frame.index[:n_win * h:h]),
                                     window_outcomes(x, weights))
        self._heldout = parts["validation"].to_numpy(dtype=np.float64)
        tail = float(p["tail_quantile"])
        segments, thresholds = {}, {}
        for part, win in real.items():
            vol = win.outcomes[:, 0, 1]  # realised equal-weight volatility
            thresholds[part] = float(np.quantile(vol, tail))
            segments[part] = {"all": np.ones(len(vol), dtype=bool),
                              "high_vol": vol >= thresholds[part]}

        def span(frame: pd.DataFrame) -> list[str]:
            return [f"{frame.index[0]:%Y-%m-%d}", f"{frame.index[-1]:%Y-%m-%d}"]

        info = {
            "assets": [str(c) for c in returns.columns], "horizon": h,
            "train_days": len(train), "train_dates": span(train),
            "historical_windows": int(n_hist),
            "validation_days": len(parts["validation"]),
            "validation_dates": span(parts["validation"]),
            "validation_windows": len(real["validation"].starts),
            "test_days": len(parts["test"]), "test_dates": span(parts["test"]),
            "test_windows": len(real["test"].starts),
            "unused_tail_days": {part: len(parts[part]) % h for part in real},
            "high_vol_threshold": thresholds,
            "inverse_vol_weights": {str(c): float(w) for c, w in zip(train.columns, weights,
                                                                     strict=True)},
        }
        return LiftSplit(
            train=train, validation=real["validation"], test=real["test"],
            units_validation=np.array([f"{d:%Y-%m-%d}" for d in real["validation"].starts]),
            units_test=np.array([f"{d:%Y-%m-%d}" for d in real["test"].starts]),
            segments_validation=segments["validation"], segments_test=segments["test"],
            info=info, block=int(p["block"]))

    # -- arms -----------------------------------------------------------------------------------
    def arms(self, cfg: LiftConfig) -> list[Arm]:
        ratios = tuple(cfg.ratios or ())
        return ([Arm(b, "baseline", ratios, _LABELS[b]) for b in cfg.baselines or ()]
                + [Arm(g, "generator", ratios, _LABELS[g]) for g in cfg.generators or ()])

    def fit_arm(self, arm: Arm, train: Any, cfg: LiftConfig, seed: int) -> ArmState:
        """Fit the arm's generator on the training returns, then draw the synthetic
        windows of the largest ratio once (smaller ratios take a prefix)."""
        p = self._params(cfg)
        h, days, burn = int(p["horizon"]), int(p["path_days"]), int(p["burn_in"])
        epochs = p["gan_epochs"] if arm.name == "gan" else p["epochs"]
        gen = make_generator("paths", arm.name, epochs=int(epochs), random_state=seed)
        if not isinstance(gen, PathGenerator):  # the registry's "paths" kind guarantees it
            raise TypeError(f"{type(gen).__name__} is not a PathGenerator")
        started = time.perf_counter()
        gen.fit(train)
        fit_seconds = time.perf_counter() - started

        n_hist = len(train) - h + 1
        n_max = max(int(round(r * n_hist)) for r in (arm.ratios or (1.0,)))
        per_path = days - h + 1
        n_paths = max(-(-n_max // per_path), 1)
        started = time.perf_counter()
        paths = gen.sample_paths(n_paths, burn + days, random_state=seed)[:, burn:]
        outcomes = _rolling_outcomes(paths, h, inverse_vol_weights(train), limit=n_max)
        sample_seconds = time.perf_counter() - started
        quality = None
        if self._heldout is not None and p["quality_paths"] > 0:
            quality = float(fidelity_score(self._heldout, paths[:int(p["quality_paths"])]))
        logger.info("lift paths: %s seed %d fit %.1fs, %d paths -> %d windows in %.1fs",
                    arm.name, seed, fit_seconds, n_paths, len(outcomes), sample_seconds)
        return ArmState(Scenarios(gen, outcomes, n_paths, sample_seconds), quality=quality,
                        quality_name="fidelity_score vs validation returns (higher is better)",
                        fit_seconds=fit_seconds)

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, split: LiftSplit, model: str, params: Mapping[str, Any],
                 arm: Arm | None, state: ArmState | None, ratio: float | None, seed: int,
                 cfg: LiftConfig) -> dict[str, Units]:
        """Quantiles of the scenario outcomes (historical windows, plus the arm's first
        ``round(ratio * n_historical)`` synthetic windows) scored on every real window."""
        if model not in self.known_models:
            raise DataValidationError(f"lift paths: unknown model {model!r}",
                                      fix=f"use {', '.join(self.known_models)}")
        h = int(self._params(cfg)["horizon"])
        train = split.train
        history = _rolling_outcomes(train.to_numpy(dtype=np.float64), h,
                                    inverse_vol_weights(train))
        scale = history.std(axis=0, ddof=1)
        scale = np.where(scale > 0, scale, 1.0)  # fixed per (strategy, outcome): every arm
        scenarios = history
        if state is not None and ratio is not None:
            synthetic: Scenarios = state.state
            n_syn = int(round(ratio * len(history)))
            if n_syn > len(synthetic.outcomes):
                raise RuntimeError(f"lift paths: ratio {ratio} needs {n_syn} synthetic "
                                   f"windows; fit_arm drew {len(synthetic.outcomes)}")
            scenarios = np.concatenate([history, synthetic.outcomes[:n_syn]])
        predicted = np.quantile(scenarios, TAUS, axis=0)
        out: dict[str, Units] = {}
        for part in ("validation", "test"):
            windows: RealWindows = getattr(split, part)
            scores, cover = quantile_scores(windows.outcomes, predicted, scale)
            units = {key: scores[:, k] for k, key in enumerate(SCORE_KEYS)}
            out[part] = {"qs": scores.mean(axis=1), **units, "cover90": cover}
        return out


def _check_complete(returns: pd.DataFrame) -> None:
    """Every asset needs a return on every day: the strategies hold all of them."""
    if returns.empty:
        raise DataValidationError("prices: fewer than two dates, so no daily returns",
                                  table="prices", fix="load a longer price history")
    missing = returns.isna().to_numpy()
    if missing.any():
        col = int(missing.sum(axis=0).argmax())
        rows = np.flatnonzero(missing[:, col])
        dates = ", ".join(f"{d:%Y-%m-%d}" for d in returns.index[rows[:5]])
        raise DataValidationError(
            f"prices.close: asset {returns.columns[col]} has no return on {len(rows)} of "
            f"{len(returns)} trading days ({dates}, ...); {int(missing.sum())} asset-days "
            "are missing in all", table="prices", column="close", n_rows=int(missing.sum()),
            fix="give every asset a close price on every date (drop assets listed later, "
            "or start the data when all are listed)")


__all__ = ["OUTCOMES", "STRATEGIES", "TAUS", "PathsLiftTask", "RealWindows", "Scenarios",
           "inverse_vol_weights", "quantile_scores", "window_outcomes"]
