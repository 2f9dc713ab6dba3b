"""Daily log returns from the long ``prices`` table."""

from __future__ import annotations

import pandas as pd

from features.sql import sql


def log_returns(prices: pd.DataFrame, *, wide: bool = True) -> pd.DataFrame:
    """``ln(close_t / close_{t-1})`` per asset, over that asset's consecutive rows.

    Parameters
    ----------
    prices : DataFrame
        ``date, asset, close``.
    wide : bool
        True: a date x asset frame (first date dropped; NaN where an asset has no
        price). False: long ``date, asset, log_return``.
    """
    long = sql(
        """SELECT CAST(date AS DATE) AS date, CAST(asset AS VARCHAR) AS asset,
                  ln(close / lag(close) OVER (PARTITION BY asset ORDER BY date)) AS log_return
           FROM p QUALIFY log_return IS NOT NULL ORDER BY asset, date""",
        p=prices[["date", "asset", "close"]],
    )
    long["date"] = pd.to_datetime(long["date"])
    if not wide:
        return long
    out = long.pivot(index="date", columns="asset", values="log_return").sort_index()
    out.columns.name = None
    return out
