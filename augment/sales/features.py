"""Demand-model features of sampled sales windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataValidationError


def synthetic_demand_features(samples: pd.DataFrame, stores: pd.DataFrame | None = None,
                              **kwargs: Any) -> pd.DataFrame:
    """:func:`features.demand.demand_features` of sampled windows, one series per window.

    Lags and rolling statistics are computed within each ``window_id`` (never across
    windows or into the real rows), and ``rel_price`` is taken from the samples (a single
    window has no store-period peers to compare with).

    Parameters
    ----------
    samples : DataFrame
        The output of :meth:`SalesWindowGenerator.sample`.
    stores : DataFrame, optional
        Store attributes joined on ``store_id``.
    **kwargs
        Passed to :func:`features.demand.demand_features` (``lags``, ``windows``,
        ``freq_days``, ``exog``).

    Returns
    -------
    DataFrame
        The demand features plus ``window_id`` and ``is_synthetic``, sorted by window and
        date.
    """
    from features.demand import demand_features

    need = ["window_id", "store_id", "date", "rel_price"]
    missing = [c for c in need if c not in samples.columns]
    if missing:
        raise DataValidationError(f"samples miss column(s) {', '.join(missing)}",
                                  table="synthetic_sales", column=missing[0],
                                  fix="pass the output of SalesWindowGenerator.sample")
    keyed = samples.assign(store_id=samples["window_id"].astype(str))
    out = demand_features(keyed, None, **kwargs)
    out["window_id"] = out.pop("store_id").astype(np.int64)
    first = samples.groupby("window_id", sort=False)["store_id"].first().astype(str)
    out.insert(0, "store_id", out["window_id"].map(first))
    rel = samples[["window_id", "date", "rel_price"]]
    out = out.drop(columns="rel_price").merge(rel, on=["window_id", "date"], how="left")
    out["is_synthetic"] = True
    if stores is not None:
        attrs = stores.copy()
        attrs["store_id"] = attrs["store_id"].astype(str)
        clash = [c for c in attrs.columns if c != "store_id" and c in out.columns]
        out = out.merge(attrs.rename(columns={c: f"store_{c}" for c in clash}),
                        on="store_id", how="left")
    return out.sort_values(["window_id", "date"], kind="stable").reset_index(drop=True)
