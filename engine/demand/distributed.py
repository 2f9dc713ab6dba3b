"""Train a :class:`~engine.demand.model.DemandModel` on a Dask cluster with ``lightgbm.dask``.

Everything but the boosting is :class:`DemandModel`'s own code: :meth:`DemandModel.fit`
validates the data, builds each horizon's design matrix (``_training_rows`` ->
``_design``), picks the calibration rows and calibrates the quantiles. Only its booster
training step (``_train``) is replaced: the design matrix is dealt out to the workers and
each booster is trained by ``lightgbm.dask.DaskLGBMRegressor`` (data-parallel LightGBM, one
LightGBM process per worker) with the parameters of ``DemandModel._lgb_params``. The local
copy of the result (``.to_local().booster_``) is an ordinary ``lightgbm.Booster``, so the
fitted model is a plain :class:`DemandModel` that saves, loads and predicts like any other.

Distributed LightGBM finds each feature's bin boundaries on one worker's share of the rows
(and sums the histograms over the workers), so the boosters are close to, not equal to,
the one-machine ones. Rows are dealt round-robin, so every worker sees every series and
period; the same data on the same number of workers gives the same boosters.

Examples
--------
>>> from serving.jobs.cluster import connect  # doctest: +SKIP
>>> with connect("local:2") as client:  # doctest: +SKIP
...     model = fit_dask(DemandModel(horizon=4), sales, stores, client=client)
>>> model.save("demand-model")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd

from engine.demand.model import DemandModel
from features.errors import DataValidationError

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

__all__ = ["fit_dask"]


def fit_dask(model: DemandModel, sales: pd.DataFrame, stores: pd.DataFrame | None = None, *,
             client: Client, synthetic: pd.DataFrame | None = None,
             synthetic_weight: float = 1.0) -> DemandModel:
    """:meth:`DemandModel.fit` with every booster trained on the workers of ``client``.

    Parameters
    ----------
    model : DemandModel
        The model to fit (refit, if it was fitted); its parameters are used unchanged.
    sales, stores, synthetic, synthetic_weight
        As in :meth:`DemandModel.fit`.
    client : distributed.Client
        The cluster (see :func:`serving.jobs.cluster.connect`). Each worker holds one share of
        every design matrix; the same data on the same number of workers gives the same
        boosters.

    Returns
    -------
    DemandModel
        ``model``, fitted: a plain :class:`DemandModel`, with nothing of Dask in it.
    """
    try:
        import dask.array  # noqa: F401
        import lightgbm.dask  # noqa: F401
    except ImportError as exc:
        raise DataValidationError(f"distributed demand training needs dask ({exc})",
                                  fix="pip install 'genlift[scale]'") from exc
    params = {name: getattr(model, name) for name in model.get_params()}
    trainer = _DaskTrainer(**params)
    trainer.dask_client = client
    trainer.dask_data = []
    try:
        # lightgbm.dask waits on its parts with the current client, and prints progress
        # ("Finding random open ports for workers") with print(): to stderr, so stdout
        # stays the caller's (the CLI's --json document).
        with client.as_current(), contextlib.redirect_stdout(sys.stderr):
            trainer.fit(sales, stores, synthetic=synthetic, synthetic_weight=synthetic_weight)
    finally:
        trainer.dask_data = []  # releases the scattered partitions
    learned = {k: v for k, v in vars(trainer).items()
               if k not in params and not k.startswith("dask_")}
    vars(model).update(learned)
    return model


class _RankOrderedClient:
    """The client as lightgbm.dask sees it: ``who_has`` lists the parts in our worker
    order.

    lightgbm.dask gives LightGBM ranks in the order ``who_has`` lists the parts, which is
    the scheduler's (random) key order, and the rank decides which worker's rows set the
    bin boundaries of which features: the same data gave one of ``n_workers!`` different
    models. Listing the parts by the worker that holds them (one part per worker, placed
    by :meth:`_DaskTrainer._scattered`) makes the ranks, and so the boosters, repeatable.
    """

    def __init__(self, client: Client, workers: list[str]) -> None:
        self._client = client
        self._rank = {w: i for i, w in enumerate(workers)}

    def who_has(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        found = self._client.who_has(*args, **kwargs)
        return dict(sorted(found.items(), key=lambda kv: min(
            self._rank.get(w, len(self._rank)) for w in kv[1])))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _DaskTrainer(DemandModel):
    """A DemandModel whose ``_train`` runs ``lightgbm.dask``; used only inside
    :func:`fit_dask`, which copies the fitted state into a plain :class:`DemandModel`."""

    dask_client: Any
    # (lgb.Dataset, workers, X, y, w) of the last two design matrices: the point and
    # quantile boosters of a horizon share them, so each is sent to the workers once.
    dask_data: list[tuple[lgb.Dataset, list[str], Any, Any, Any]]

    def _scattered(self, data: lgb.Dataset) -> tuple[list[str], Any, Any, Any]:
        for held, workers, X, y, w in self.dask_data:
            if held is data:
                return workers, X, y, w
        import dask.array as da

        X = np.asarray(data.data, dtype=float)
        y = np.asarray(data.label, dtype=float)
        w = (np.ones(len(y)) if data.weight is None
             else np.asarray(data.weight, dtype=float))
        workers = sorted(self.dask_client.nthreads())[:max(1, len(y))]
        arrays: list[list[Any]] = [[], [], []]
        for p, worker in enumerate(workers):
            rows = np.arange(p, len(y), len(workers))  # round-robin: each sees every series
            pieces = (np.ascontiguousarray(X[rows]), y[rows], w[rows])
            futures = self.dask_client.scatter(list(pieces), workers=[worker], hash=False)
            for k, (fut, piece) in enumerate(zip(futures, pieces, strict=True)):
                arrays[k].append(da.from_delayed(fut, shape=piece.shape, dtype=piece.dtype))
        dX, dy, dw = (da.concatenate(a) for a in arrays)
        self.dask_data = self.dask_data[-1:] + [(data, workers, dX, dy, dw)]
        return workers, dX, dy, dw

    def _train(self, h: int, kind: str | float, data: lgb.Dataset) -> lgb.Booster:
        from lightgbm.dask import DaskLGBMRegressor

        tick = time.perf_counter()
        params = self._booster_params(kind)
        workers, X, y, w = self._scattered(data)
        # _lgb_params names lgb.train parameters; the sklearn API takes five of them under
        # its own names. num_threads: lightgbm.dask sets each worker's own thread count.
        rest = {k: v for k, v in params.items()
                if k not in ("objective", "learning_rate", "num_leaves", "min_data_in_leaf",
                             "seed", "num_threads")}
        ordered = cast("Client", _RankOrderedClient(self.dask_client, workers))
        est = DaskLGBMRegressor(client=ordered,
                                objective=params["objective"],
                                learning_rate=params["learning_rate"],
                                num_leaves=params["num_leaves"],
                                min_child_samples=params["min_data_in_leaf"],
                                random_state=params["seed"],
                                n_estimators=int(self.n_estimators), **rest)
        with warnings.catch_warnings():
            # the sklearn API always carries n_jobs, which lightgbm.dask replaces (above)
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
            est.fit(X, y, sample_weight=w, feature_name=list(data.feature_name),
                    categorical_feature=list(data.categorical_feature))
        booster = est.to_local().booster_
        logger.debug("DemandModel (dask): h=%d %s booster %.2fs", h, kind,
                     time.perf_counter() - tick)
        return booster
