"""Per-user features: recency, frequency, monetary value and the users table's attributes."""

from __future__ import annotations

import pandas as pd

from features.sql import sql


def user_features(
    interactions: pd.DataFrame,
    users: pd.DataFrame | None = None,
    *,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """One row per user: RFM plus demographic columns.

    Parameters
    ----------
    interactions : DataFrame
        ``user_id, item_id, ts, qty, value``.
    users : DataFrame, optional
        Attribute columns joined on ``user_id``; users without interactions get
        frequency 0 and monetary 0 and no recency.
    as_of : timestamp, optional
        The reference time for recency; default the last interaction in the data.

    Returns
    -------
    DataFrame
        ``user_id, recency_days, frequency, monetary, quantity, n_items, tenure_days``
        and the attribute columns, sorted by ``user_id``.
    """
    ref = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(interactions["ts"].max())
    rfm = sql(
        """SELECT CAST(user_id AS VARCHAR) AS user_id,
                  date_diff('second', max(ts), CAST(? AS TIMESTAMP)) / 86400.0 AS recency_days,
                  count(*) AS frequency,
                  sum(value) AS monetary,
                  sum(qty) AS quantity,
                  count(DISTINCT item_id) AS n_items,
                  date_diff('second', min(ts), max(ts)) / 86400.0 AS tenure_days
           FROM t WHERE ts <= CAST(? AS TIMESTAMP) GROUP BY 1""".replace(
            "?", f"'{ref.isoformat()}'"),
        t=interactions,
    )
    if users is not None:
        attrs = users.copy()
        attrs["user_id"] = attrs["user_id"].astype(str)
        rfm = attrs.merge(rfm, on="user_id", how="left")
        for col in ("frequency", "monetary", "quantity", "n_items"):
            rfm[col] = rfm[col].fillna(0)
        lead = ["user_id", "recency_days", "frequency", "monetary", "quantity", "n_items",
                "tenure_days"]
        rfm = rfm[lead + [c for c in attrs.columns if c != "user_id"]]
    return rfm.sort_values("user_id", ignore_index=True)


def transaction_features(
    transactions: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """One row per customer of a purchase log without item ids (``transactions``:
    ``user_id, ts, quantity, amount``): the RFM columns of :func:`user_features` plus the
    basket size and order value.

    Parameters
    ----------
    transactions : DataFrame
        ``user_id, ts, quantity, amount``, one row per purchase.
    as_of : timestamp, optional
        The reference time for recency; default the last purchase in the data. Purchases
        after it are ignored.

    Returns
    -------
    DataFrame
        ``user_id, recency_days, frequency, monetary, quantity, tenure_days,
        age_days, avg_order_value, units_per_order``, sorted by ``user_id``:
        ``frequency`` counts purchases, ``monetary`` sums ``amount``, ``tenure_days``
        spans the first to the last purchase (as in :func:`user_features`), ``age_days``
        the first purchase to ``as_of``.
    """
    ref = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp(transactions["ts"].max())
    out = sql(
        """SELECT CAST(user_id AS VARCHAR) AS user_id,
                  date_diff('second', max(ts), CAST(? AS TIMESTAMP)) / 86400.0 AS recency_days,
                  count(*) AS frequency,
                  sum(amount) AS monetary,
                  sum(quantity) AS quantity,
                  date_diff('second', min(ts), max(ts)) / 86400.0 AS tenure_days,
                  date_diff('second', min(ts), CAST(? AS TIMESTAMP)) / 86400.0 AS age_days,
                  sum(amount) / count(*) AS avg_order_value,
                  sum(quantity) / count(*) AS units_per_order
           FROM t WHERE ts <= CAST(? AS TIMESTAMP) GROUP BY 1""".replace(
            "?", f"'{ref.isoformat()}'"),
        t=transactions,
    )
    out["frequency"] = out["frequency"].astype("int64")
    return out.sort_values("user_id", ignore_index=True)
