"""Demand features per store x item x period, in DuckDB window SQL.

Lags and rolling statistics are taken on the calendar, not on row positions: a lag of
k periods is the value exactly ``k * freq_days`` days earlier (NULL when that period
has no row), and a rolling window covers the preceding ``w`` periods and never the
current one, so no feature can see the row's own target.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from features.errors import check_param
from features.sql import sql
from features.store import q

KEYS = ["store_id", "item_id", "date"]


def demand_features(
    sales: pd.DataFrame,
    stores: pd.DataFrame | None = None,
    *,
    lags: Sequence[int] = (1, 2, 3, 4, 8, 12),
    windows: Sequence[int] = (4, 8, 13),
    freq_days: int = 7,
    exog: Sequence[str] = (),
) -> pd.DataFrame:
    """Features for every sales row.

    Parameters
    ----------
    sales : DataFrame
        ``store_id, item_id, date, units, price, promo`` and any ``exog`` columns.
    stores : DataFrame, optional
        Store attributes joined on ``store_id`` (demographics).
    lags : sequence of int
        Periods back for ``units_lag{k}``.
    windows : sequence of int
        Periods for ``units_mean_{w}`` / ``units_std_{w}`` over the preceding ``w``
        periods (current period excluded).
    freq_days : int
        Days in one period (7 for weekly data, 1 for daily).
    exog : sequence of str
        Extra known-in-advance sales columns to pass through (e.g. ``feat``).

    Returns
    -------
    DataFrame
        Keys, ``units``, the lag/rolling features, ``n_history`` (periods seen before),
        ``price``, ``log_price``, ``rel_price`` (own price over the mean price of the
        other items in the same store and period), ``promo``, the ``exog`` columns,
        calendar columns (``week_of_year``, ``month``, ``year``) and store attributes,
        sorted by store, item, date.
    """
    for name, values in (("lags", lags), ("windows", windows)):
        check_param("demand_features", name, values,
                    len(values) > 0 and all(isinstance(v, int) and v >= 1 for v in values),
                    "a non-empty sequence of ints >= 1")
    check_param("demand_features", "freq_days", freq_days,
                isinstance(freq_days, int) and freq_days >= 1, "an int >= 1")
    missing = [c for c in exog if c not in sales.columns]
    check_param("demand_features", "exog", list(exog), not missing,
                f"columns of sales (missing: {missing})")

    part = "PARTITION BY store_id, item_id ORDER BY date"
    cols = [f"max(units) OVER ({part} RANGE BETWEEN INTERVAL {k * freq_days} DAYS PRECEDING "
            f"AND INTERVAL {k * freq_days} DAYS PRECEDING) AS units_lag{k}" for k in lags]
    for w in windows:
        frame = (f"{part} RANGE BETWEEN INTERVAL {w * freq_days} DAYS PRECEDING "
                 "AND INTERVAL 1 DAY PRECEDING")
        cols.append(f"avg(units) OVER ({frame}) AS units_mean_{w}")
        cols.append(f"stddev_samp(units) OVER ({frame}) AS units_std_{w}")
    cols.append(f"count(*) OVER ({part} RANGE BETWEEN UNBOUNDED PRECEDING AND "
                "INTERVAL 1 DAY PRECEDING) AS n_history")
    exog_sel = "".join(f", {q(c)}" for c in exog)
    base = sales[["store_id", "item_id", "date", "units", "price", "promo", *exog]]
    query = f"""
        WITH s AS (
            SELECT CAST(store_id AS VARCHAR) AS store_id, CAST(item_id AS VARCHAR) AS item_id,
                   CAST(date AS DATE) AS date, CAST(units AS DOUBLE) AS units,
                   CAST(price AS DOUBLE) AS price, CAST(promo AS DOUBLE) AS promo{exog_sel},
                   count(*) OVER (PARTITION BY store_id, date) AS n_peers,
                   sum(price) OVER (PARTITION BY store_id, date) AS peer_price_sum
            FROM base
        )
        SELECT store_id, item_id, date, units, {", ".join(cols)},
               price, ln(price) AS log_price,
               CASE WHEN n_peers > 1 THEN price / ((peer_price_sum - price) / (n_peers - 1))
               END AS rel_price,
               promo{exog_sel},
               CAST(weekofyear(date) AS INTEGER) AS week_of_year,
               CAST(month(date) AS INTEGER) AS month, CAST(year(date) AS INTEGER) AS year
        FROM s ORDER BY store_id, item_id, date"""
    out = sql(query, base=base)
    out["date"] = pd.to_datetime(out["date"])
    if stores is not None:
        attrs = stores.copy()
        attrs["store_id"] = attrs["store_id"].astype(str)
        clash = [c for c in attrs.columns if c != "store_id" and c in out.columns]
        attrs = attrs.rename(columns={c: f"store_{c}" for c in clash})
        out = out.merge(attrs, on="store_id", how="left")
    return out
