"""The customer feature table that segments are built on: one row per customer, from one
of the store's tables.

- ``interactions`` (and ``users``): RFM per user from the interactions (recency,
  frequency, monetary value, quantity, basket breadth = distinct items, tenure), joined
  with the users' attributes where a users table is given (MovieLens: age, gender,
  occupation); ``users`` keeps every user, also those without interactions.
- ``transactions`` (a purchase log without items, e.g. CDNOW): RFM, tenure, customer age,
  average order value and units per order.
- ``customers`` (the telco churn data): the account attributes; ``churn`` is an outcome,
  kept for the profiles but never a feature.

Attribute text columns become categorical features when they have 2 to
:data:`MAX_LEVELS` values; id-like text (zip codes) is left out and named in ``dropped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.errors import DataValidationError
from features.users import transaction_features, user_features

ID = "user_id"
SOURCES = ("interactions", "users", "transactions", "customers")
#: columns each source table must have
REQUIRED: dict[str, tuple[str, ...]] = {
    "interactions": ("user_id", "item_id", "ts", "qty", "value"),
    "users": ("user_id",),
    "transactions": ("user_id", "ts", "quantity", "amount"),
    "customers": ("customer_id",),
}
#: outcome columns: reported per segment, never clustered on
OUTCOMES = ("churn", "default")
MAX_LEVELS = 30
RFM = ("recency_days", "frequency", "monetary")


@dataclass
class CustomerTable:
    """A customer feature table: ``frame`` has ``user_id`` first, then ``numeric`` and
    ``categorical`` features and the ``outcomes`` (not features)."""

    frame: pd.DataFrame
    source: str
    numeric: list[str]
    categorical: list[str]
    outcomes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def __len__(self) -> int:
        return len(self.frame)


def _require(table: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{table} is missing column(s) {', '.join(missing)} needed for segments "
            f"(found: {', '.join(map(str, frame.columns))})", table=table, column=missing[0],
            fix=f"segment a table with {', '.join(columns)}, or load one with `genlift data "
                "import`")


def _nonnegative(table: str, frame: pd.DataFrame, column: str, low: float = 0.0) -> None:
    v = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(v) | (v < low)
    if bad.any():
        rows = [int(i) + 1 for i in np.flatnonzero(bad)[:5]]
        n = int(bad.sum())
        what = "negative or missing values" if low == 0 else f"values below {low:g} or missing"
        raise DataValidationError(
            f"{table}.{column} has {n} {what} (rows {', '.join(map(str, rows))}"
            f"{', ...' if n > 5 else ''}): {column} must be >= {low:g}", table=table,
            column=column, n_rows=n, rows=rows,
            fix=f"drop or correct those rows (refunds as their own table, not as negative "
                f"{column})")


def _attributes(frame: pd.DataFrame, skip: set[str]) -> tuple[list[str], list[str], list[str]]:
    """(numeric, categorical, dropped) attribute columns of ``frame``."""
    numeric, categorical, dropped = [], [], []
    for col in frame.columns:
        if col in skip:
            continue
        s = frame[col]
        if pd.api.types.is_bool_dtype(s.dtype):
            categorical.append(col)
        elif pd.api.types.is_numeric_dtype(s.dtype):
            if s.notna().any():
                numeric.append(col)
            else:
                dropped.append(col)
        else:
            given = s.dropna().astype(str)
            levels = given.nunique()
            id_like = levels > MAX_LEVELS or (levels == len(given) and levels > 2)
            (categorical if levels >= 2 and not id_like else dropped).append(col)
    return numeric, categorical, dropped


def customer_table(tables: Mapping[str, pd.DataFrame], source: str, *,
                   as_of: pd.Timestamp | str | None = None) -> CustomerTable:
    """The feature table of ``source`` (one of :data:`SOURCES`) from ``tables`` (store
    table name -> frame; ``users`` and ``items`` are used where present).

    Raises :class:`DataValidationError` when the source table is absent, lacks a needed
    column, has negative amounts or quantities (or transaction quantities below 1), or
    holds no customers.
    """
    if source not in SOURCES:
        raise DataValidationError(f"cannot build segments from table {source!r}",
                                  table=source, fix=f"use one of {', '.join(SOURCES)}")
    if source not in tables:
        raise DataValidationError(f"table {source!r} is not in the store", table=source,
                                  fix="fetch or import it first (`genlift data fetch "
                                      "movielens-100k`, `genlift data fetch cdnow`)")
    raw = tables[source]
    _require(source, raw, REQUIRED[source])
    if len(raw) == 0:
        raise DataValidationError(f"{source} has no rows", table=source,
                                  fix="load some customers first")
    users = tables.get("users")
    if source == "transactions":
        _nonnegative(source, raw, "amount")
        _nonnegative(source, raw, "quantity", 1.0)
        frame = transaction_features(raw, as_of=as_of)
        base = list(frame.columns[1:])
        attrs: list[str] = []
    elif source == "customers":
        frame = raw.rename(columns={"customer_id": ID}).copy()
        frame[ID] = frame[ID].astype(str)
        base, attrs = [], [c for c in frame.columns if c != ID]
    else:
        inter = tables.get("interactions")
        if source == "users" and inter is None:
            frame = raw.copy()
            frame[ID] = frame[ID].astype(str)
            base = []
        else:
            if inter is None:
                raise DataValidationError("segments of users need the interactions table",
                                          table="interactions",
                                          fix="fetch or import interactions")
            _require("interactions", inter, REQUIRED["interactions"])
            _nonnegative("interactions", inter, "value")
            _nonnegative("interactions", inter, "qty")
            if source == "users":
                frame = user_features(inter, raw, as_of=as_of)
            else:
                frame = user_features(inter, as_of=as_of)
                if users is not None and ID in users.columns:
                    attr = users.copy()
                    attr[ID] = attr[ID].astype(str)
                    frame = frame.merge(attr, on=ID, how="left")
            base = [c for c in ("recency_days", "frequency", "monetary", "quantity", "n_items",
                                "tenure_days") if c in frame.columns]
        attrs = [c for c in frame.columns if c != ID and c not in base]
    outcomes = [c for c in OUTCOMES if c in attrs]
    numeric, categorical, dropped = _attributes(frame[attrs], set(outcomes))
    numeric = [*base, *numeric]
    frame = frame[[ID, *numeric, *categorical, *outcomes]]
    frame = frame.sort_values(ID, kind="stable", ignore_index=True)
    for col in numeric:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in categorical:
        frame[col] = frame[col].astype("string").astype(object)
    # a column equal to an earlier one (MovieLens: quantity = frequency, every rating one
    # unit) would count the same thing twice in every distance
    kept: list[str] = []
    for col in numeric:
        v = frame[col].to_numpy(dtype=float, na_value=np.nan)
        if any(np.array_equal(v, frame[k].to_numpy(dtype=float, na_value=np.nan),
                              equal_nan=True) for k in kept):
            dropped.append(col)
        else:
            kept.append(col)
    numeric = kept
    frame = frame[[ID, *numeric, *categorical, *outcomes]]
    if frame[ID].duplicated().any():
        n = int(frame[ID].duplicated().sum())
        raise DataValidationError(f"{source} has {n} repeated customer ids", table=source,
                                  column=ID, n_rows=n, fix="keep one row per customer")
    if not numeric and not categorical:
        raise DataValidationError(f"{source} has no feature columns to segment on",
                                  table=source, fix="add numeric or categorical attributes")
    return CustomerTable(frame, source, numeric, categorical, outcomes, dropped)


__all__ = ["ID", "MAX_LEVELS", "OUTCOMES", "REQUIRED", "RFM", "SOURCES", "CustomerTable",
           "customer_table"]
