"""The basket generator's user profiles as a network *input* that is never decoded
(:class:`ProfileEncoder`): numeric columns standardised (missing -> 0), categorical columns
one-hot over their most frequent values plus an "other" slot (a one-hot into a linear layer
is an embedding). The tables' decodable encoding is augment/encoding.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataValidationError


@dataclass(frozen=True)
class ProfileColumn:
    """What :class:`ProfileEncoder` learned about one profile column (and how a resampled
    value may be jittered)."""

    name: str
    kind: str  # "numeric" or "categorical"
    integer: bool = False
    jitter: bool = False  # numeric with enough distinct values to be jittered
    mean: float = 0.0
    std: float = 1.0
    lo: float = 0.0
    hi: float = 0.0
    levels: tuple[str, ...] = ()  # categorical: one-hot levels (an "other" slot follows)

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.levels) + 1


class ProfileEncoder:
    """Encode profile columns as one dense float32 matrix for a network.

    Numeric columns (numbers, not booleans) are standardised by their training mean and
    standard deviation, missing values -> 0. Other columns are read as text ("" = missing)
    and one-hot encoded over their ``max_categories`` most frequent training values,
    sorted, plus an "other" slot for every other value (and for missing ones).

    Parameters
    ----------
    max_categories : int
        One-hot levels kept per categorical column.
    jitter_min_levels : int
        Numeric columns with fewer distinct values are marked not to be jittered.
    """

    def __init__(self, *, max_categories: int = 50, jitter_min_levels: int = 20) -> None:
        self.max_categories = max_categories
        self.jitter_min_levels = jitter_min_levels

    def fit(self, frame: pd.DataFrame, *, table: str = "users") -> ProfileEncoder:
        """Learn every column of ``frame``; the training values are kept in ``values_``
        (float64, or str with "" for missing), aligned with the frame's rows."""
        self.columns_: list[ProfileColumn] = []
        self.values_: dict[str, np.ndarray] = {}
        for name in frame.columns:
            col, values = self.describe(frame[name], str(name), table=table)
            self.columns_.append(col)
            self.values_[col.name] = values
        return self

    def describe(self, s: pd.Series, name: str, *, table: str = "users"
                 ) -> tuple[ProfileColumn, np.ndarray]:
        """One column's spec and its values (float64, or str with "" for missing)."""
        if is_numeric(s):
            v = s.to_numpy(dtype=np.float64, na_value=np.nan)
            fin = v[np.isfinite(v)]
            if fin.size == 0:
                raise DataValidationError(f"{table}.{name} holds no numbers", table=table,
                                          column=name, fix="drop it from profile_columns")
            std = float(fin.std()) or 1.0
            integer = bool(pd.api.types.is_integer_dtype(s.dtype)) or \
                bool(np.all(fin == np.round(fin)))
            return ProfileColumn(name, "numeric", integer=integer,
                                 jitter=np.unique(fin).size >= self.jitter_min_levels,
                                 mean=float(fin.mean()), std=std, lo=float(fin.min()),
                                 hi=float(fin.max())), v
        txt = s.astype("string").fillna("").to_numpy(dtype=object).astype(str)
        vc = pd.Series(txt[txt != ""]).value_counts(sort=True)
        levels = tuple(sorted(vc.index[:self.max_categories].tolist()))
        return ProfileColumn(name, "categorical", levels=levels), txt

    @classmethod
    def from_columns(cls, columns: list[ProfileColumn], **params: Any) -> ProfileEncoder:
        """An encoder rebuilt from saved column specs (no training values)."""
        enc = cls(**params)
        enc.columns_ = list(columns)
        enc.values_ = {}
        return enc

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns_)

    def one_hot_mask(self) -> np.ndarray:
        """True for the encoded columns that belong to a categorical column's one-hot."""
        return np.concatenate([np.full(c.width, c.kind == "categorical")
                               for c in self.columns_] or [np.zeros(0, dtype=bool)])

    def transform(self, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """The ``(n, width)`` network input of ``n`` profiles given as column arrays (``n``
        rows of width 0 without columns)."""
        blocks = [np.zeros((n, 0), dtype=np.float32)]
        for col in self.columns_:
            v = values[col.name]
            if col.kind == "numeric":
                z = (v.astype(np.float64) - col.mean) / col.std
                blocks.append(np.nan_to_num(z, nan=0.0)[:, None].astype(np.float32))
            else:
                idx = pd.Index(col.levels).get_indexer(v)
                idx = np.where(idx < 0, len(col.levels), idx)
                onehot = np.zeros((n, col.width), dtype=np.float32)
                onehot[np.arange(n), idx] = 1.0
                blocks.append(onehot)
        return np.concatenate(blocks, axis=1)


def is_numeric(s: pd.Series) -> bool:
    """Numbers a profile treats as numeric: a numeric dtype that is not boolean."""
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
