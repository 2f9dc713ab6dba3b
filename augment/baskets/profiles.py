"""The training users' profiles of a basket generator: which users columns make the
profile, their network encoding (:class:`~augment.encoding.ProfileEncoder`), and how a
synthetic user's profile is resampled from them.

A synthetic profile is a real training profile drawn at random (bootstrap), with small
Gaussian jitter on continuous numeric columns (``jitter`` x the column's standard
deviation, rounded back to integers for integer columns and clipped to the training
range). Categorical values are copied as they are, so every combination is one that
exists.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from augment.baskets.encoding import ProfileColumn, ProfileEncoder, is_numeric
from features.errors import DataValidationError, GenliftWarning

MAX_CATEGORIES = 50  # more distinct values: dropped by default, else bucketed
JITTER_MIN_LEVELS = 20  # numeric columns with fewer distinct values are not jittered
OWNER = "BasketGenerator"


class Profiles:
    """Profiles of the training users, one row per row of the interaction matrix.

    ``values`` maps each profile column to its training values (float64, or str with ""
    for missing); ``encoded`` is the networks' input for those rows.
    """

    def __init__(self, columns: list[ProfileColumn], values: dict[str, np.ndarray],
                 n_users: int) -> None:
        self.encoder = ProfileEncoder.from_columns(columns, max_categories=MAX_CATEGORIES,
                                                   jitter_min_levels=JITTER_MIN_LEVELS)
        self.columns = self.encoder.columns_
        self.values = values
        self.n_users = n_users
        self.encoded = self.encoder.transform(values, n_users)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    # -- fit ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, users: pd.DataFrame | None, user_ids: np.ndarray,
            profile_columns: Sequence[str] | None) -> Profiles:
        """Align ``users`` on the matrix rows ``user_ids``; choose and describe the
        columns (none without a users table)."""
        if users is None:
            if profile_columns:
                raise ValueError(f"{OWNER}: profile_columns={list(profile_columns)!r} "
                                 "needs the users table: fit(interactions, users)")
            return cls([], {}, len(user_ids))
        ids = users["user_id"].astype(str).to_numpy()
        pos = pd.Index(ids).get_indexer(user_ids)
        if (pos < 0).any():
            absent = user_ids[pos < 0]
            raise DataValidationError(
                f"interactions.user_id has {absent.size} users missing from users "
                f"(e.g. {', '.join(map(repr, absent[:5]))})", table="interactions",
                column="user_id", n_rows=int(absent.size),
                fix="add them to the users table or drop their interactions")
        aligned = users.iloc[pos].reset_index(drop=True)
        enc = ProfileEncoder(max_categories=MAX_CATEGORIES,
                             jitter_min_levels=JITTER_MIN_LEVELS)
        enc.fit(aligned[choose_columns(users, profile_columns)])
        return cls(enc.columns_, enc.values_, len(user_ids))

    # -- persistence -------------------------------------------------------------------
    def state(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """Column specs (JSON-able) and the training values as ``profile_<k>`` arrays."""
        arrays = {f"profile_{k}": self.values[c.name] for k, c in enumerate(self.columns)}
        return [asdict(c) for c in self.columns], arrays

    @classmethod
    def from_state(cls, columns: list[dict[str, Any]], arrays: dict[str, np.ndarray],
                   n_users: int) -> Profiles:
        cols = [ProfileColumn(**{**c, "levels": tuple(c["levels"])}) for c in columns]
        return cls(cols, {c.name: arrays[f"profile_{k}"] for k, c in enumerate(cols)},
                   n_users)

    # -- sampling ----------------------------------------------------------------------
    def condition_pool(self, conditions: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """Training rows that agree with the conditions, and the values to set."""
        cols = {c.name: c for c in self.columns}
        match = np.ones(self.n_users, dtype=bool)
        fixed: dict[str, Any] = {}
        for name, value in conditions.items():
            if name not in cols:
                known = ", ".join(cols) or "none: fit had no users table"
                raise ValueError(f"{OWNER}: unknown condition column {name!r}; the profile "
                                 f"columns are: {known}")
            col, raw = cols[name], self.values[name]
            if col.kind == "categorical":
                seen = np.unique(raw[raw != ""])
                if str(value) not in set(seen.tolist()):
                    shown = ", ".join(map(repr, seen[:10].tolist()))
                    raise ValueError(f"{OWNER}: condition {name}={value!r} was never seen in "
                                     f"training; seen values include {shown}")
                fixed[name] = str(value)
                match &= raw == str(value)
                continue
            ok = isinstance(value, int | float | np.integer | np.floating) and \
                not isinstance(value, bool) and np.isfinite(value) and \
                col.lo <= float(value) <= col.hi
            if not ok:
                raise ValueError(f"{OWNER}: condition {name}={value!r} must be a number in "
                                 f"the training range [{col.lo:g}, {col.hi:g}]")
            fixed[name] = float(value)
            if not col.jitter:
                match &= raw == float(value)
        pool = np.flatnonzero(match)
        if pool.size == 0:
            # stacklevel 4: the caller of sample_users
            warnings.warn(f"{OWNER}: no training user has {conditions!r}; profiles and "
                          "basket sizes are drawn from all users, with those values set",
                          GenliftWarning, stacklevel=4)
            pool = np.arange(self.n_users)
        return pool, fixed

    def resample(self, rows: np.ndarray, fixed: dict[str, Any], jitter: float,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The profiles of training ``rows``, jittered, with the ``fixed`` values set."""
        n = len(rows)
        out: dict[str, np.ndarray] = {}
        for col in self.columns:
            v = self.values[col.name][rows]
            if col.kind == "numeric":
                v = v.astype(np.float64)
                # drawn for every numeric column, jittered or not, so that a column's noise
                # does not depend on the others'
                noise = rng.normal(0.0, jitter * col.std, n)
                if col.jitter:
                    v = np.clip(v + noise, col.lo, col.hi)
                    v = np.round(v) if col.integer else v
            if col.name in fixed:
                v = np.full(n, fixed[col.name], dtype=v.dtype)
            out[col.name] = v
        return out

    def frame(self, values: dict[str, np.ndarray], user_ids: np.ndarray) -> pd.DataFrame:
        """``user_id`` and the profile columns with the training frame's types."""
        users = pd.DataFrame({"user_id": user_ids})
        for col in self.columns:
            v = values[col.name]
            if col.kind == "numeric" and col.integer and not np.isnan(v).any():
                users[col.name] = v.astype(np.int64)
            elif col.kind == "numeric":
                users[col.name] = v
            else:
                users[col.name] = pd.Series(v, dtype="string").replace("", pd.NA)
        return users


def choose_columns(users: pd.DataFrame, profile_columns: Sequence[str] | None) -> list[str]:
    """``profile_columns``, checked; by default every users column but ``user_id``, less
    the date/time columns, the all-missing ones and categorical columns with more than
    :data:`MAX_CATEGORIES` values (each dropped with a warning)."""
    if profile_columns is not None:
        unknown = [c for c in profile_columns if c not in users.columns]
        if unknown or "user_id" in profile_columns:
            bad = unknown[0] if unknown else "user_id"
            raise DataValidationError(
                f"{OWNER}: profile column {bad!r} is not an attribute column of users "
                f"(columns: {', '.join(map(str, users.columns))})", table="users",
                column=bad, fix="list attribute columns of the users table")
        return list(profile_columns)
    chosen = []
    for name in users.columns:
        if name == "user_id":
            continue
        s = users[name]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            why = "it holds dates/times"
        elif not is_numeric(s) and s.nunique(dropna=True) > MAX_CATEGORIES:
            why = f"it has {s.nunique(dropna=True)} distinct values (> {MAX_CATEGORIES})"
        elif s.isna().all():
            why = "it holds only missing values"
        else:
            chosen.append(str(name))
            continue
        # stacklevel 6: the caller of BasketGenerator.fit
        warnings.warn(f"{OWNER}: users.{name} is left out of the profile because {why}; "
                      "pass profile_columns=[...] to choose the columns",
                      GenliftWarning, stacklevel=6)
    return chosen


def check_users(users: pd.DataFrame) -> None:
    """The users table a basket generator is fitted with: a frame with unique ids."""
    if not isinstance(users, pd.DataFrame):
        raise DataValidationError(f"{OWNER}.fit: users must be a pandas DataFrame, got "
                                  f"{type(users).__name__}", table="users",
                                  fix="pass the users table or None")
    if len(users) == 0 or "user_id" not in users.columns:
        raise DataValidationError(f"{OWNER}.fit: users is empty or has no user_id column",
                                  table="users", column="user_id",
                                  fix="pass the users table (user_id + attribute columns)")
    dup = users["user_id"].astype(str).duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataValidationError(
            f"users.user_id has {int(dup.sum())} duplicate keys (rows "
            f"{', '.join(str(i + 1) for i in np.flatnonzero(dup)[:5])})", table="users",
            column="user_id", n_rows=int(dup.sum()), fix="each user_id may appear once")
