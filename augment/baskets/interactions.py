"""The interaction rows of synthetic users, beside their baskets' items: timestamps and
values learned from the training interactions, and the store tables of one run.

``ts`` is drawn from the training timestamps' distribution (inverse CDF over
:data:`N_TS_QUANTILES` quantiles); ``value`` is resampled from the training values of the
same item (1.0 when the training frame has no ``value``); ``qty`` is 1.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataValidationError, check_param

N_TS_QUANTILES = 1001


class InteractionMarginals:
    """Timestamp quantiles and per-item training values.

    ``values`` holds the training values sorted by item; the values of item column ``j``
    are ``values[value_offsets[j]:value_offsets[j + 1]]``.
    """

    def __init__(self, ts_kind: str, ts_quantiles: np.ndarray, values: np.ndarray,
                 value_offsets: np.ndarray) -> None:
        self.ts_kind = ts_kind  # "int", "float" or "datetime"
        self.ts_quantiles = ts_quantiles
        self.values = values
        self.value_offsets = value_offsets

    @classmethod
    def fit(cls, frame: pd.DataFrame, item_ids: np.ndarray, owner: str
            ) -> InteractionMarginals:
        """From the interactions ``frame``; ``item_ids`` is the sorted catalogue."""
        ts = frame["ts"]
        if pd.api.types.is_numeric_dtype(ts.dtype):
            ts_kind = "int" if pd.api.types.is_integer_dtype(ts.dtype) else "float"
            t = ts.to_numpy(dtype=np.float64)
        else:
            dt = pd.to_datetime(ts, utc=True, format="mixed" if ts.dtype == object else None)
            ts_kind = "datetime"
            t = dt.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
            t = np.where(dt.isna().to_numpy(), np.nan, t.astype(np.float64))
        t = t[np.isfinite(t)]
        if t.size == 0:
            raise DataValidationError(f"{owner}.fit: interactions.ts holds no usable time",
                                      table="interactions", column="ts",
                                      fix="give timestamps")
        ts_quantiles = np.quantile(t, np.linspace(0, 1, N_TS_QUANTILES))
        col = item_ids.searchsorted(frame["item_id"].astype(str).to_numpy())
        if "value" in frame.columns:
            vals = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=np.float64)
            fill = np.nanmedian(vals) if np.isfinite(vals).any() else 1.0
            vals = np.where(np.isfinite(vals), vals, fill)
        else:
            vals = np.ones(len(frame))
        order = np.argsort(col, kind="stable")
        return cls(ts_kind, ts_quantiles, vals[order],
                   np.searchsorted(col[order], np.arange(len(item_ids) + 1)))

    def draw_values(self, cols: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One training value of each item column in ``cols``."""
        start, count = self.value_offsets[cols], np.diff(self.value_offsets)[cols]
        return self.values[start + (rng.random(len(cols)) * count).astype(np.int64)]

    def draw_ts(self, rng: np.random.Generator, size: int) -> Any:
        """``size`` timestamps, in the training column's kind."""
        q = self.ts_quantiles
        t = np.interp(rng.random(size) * (len(q) - 1), np.arange(len(q)), q)
        if self.ts_kind == "int":
            return np.round(t).astype(np.int64)
        if self.ts_kind == "datetime":
            return np.round(t).astype(np.int64).astype("datetime64[ns]")
        return t


def to_store_frames(users: pd.DataFrame, interactions: pd.DataFrame, run_id: str,
                    generator_name: str) -> dict[str, pd.DataFrame]:
    """The store tables ``synthetic_users`` and ``synthetic_interactions`` of one run.

    Adds ``run_id`` and ``generator``; drops ``is_synthetic`` and ``basket_size`` from the
    users (the table says the first, the interactions the second). The result loads with
    ``Store.load(frames, source=...)``.

    Examples
    --------
    >>> frames = to_store_frames(*gen.sample_users(100), "run-1", "BasketGenerator(vae)")
    >>> store.load(frames, source="BasketGenerator")
    """
    for name, value in (("run_id", run_id), ("generator_name", generator_name)):
        check_param("to_store_frames", name, value, isinstance(value, str) and value != "",
                    "a non-empty str")
    u = users.drop(columns=[c for c in ("is_synthetic", "basket_size") if c in users.columns])
    i = interactions.copy()
    for frame in (u, i):
        frame["run_id"] = run_id
        frame["generator"] = generator_name
    return {"synthetic_users": u.reset_index(drop=True),
            "synthetic_interactions": i.reset_index(drop=True)}
