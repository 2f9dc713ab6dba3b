"""What every pricing model reads: policies checked (the claim cost ``charges`` present,
finite and >= 0; an optional ``exposure`` > 0), rating factors typed once
(:class:`RatingFactors`) and the float matrix in fit order."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataValidationError

ID, TARGET, EXPOSURE = "policy_id", "charges", "exposure"
TABLE = "policies"


def row_list(mask: np.ndarray) -> tuple[int, list[int], str]:
    """Count, first 1-based row numbers and their text, for an error message."""
    rows = (np.flatnonzero(mask)[:5] + 1).tolist()
    more = ", ..." if mask.sum() > 5 else ""
    return int(mask.sum()), rows, ", ".join(map(str, rows)) + more


def check_policies(frame: object, owner: str, table: str = TABLE, *,
                   labelled: bool = True, positive: bool = False) -> pd.DataFrame:
    """A non-empty DataFrame with a finite, non-negative ``charges`` column (strictly
    positive when ``positive``: the Gamma deviance has no value at 0) and, when present,
    a finite ``exposure`` > 0."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{owner} expects {table} as a pandas DataFrame; got "
                        f"{type(frame).__name__}")
    if len(frame) == 0:
        raise DataValidationError(f"{table} is empty", table=table, n_rows=0,
                                  fix="pass at least a few policies")
    if labelled:
        if TARGET not in frame.columns:
            raise DataValidationError(f"{table} has no '{TARGET}' column", table=table,
                                      column=TARGET,
                                      fix="add the claim cost per policy as 'charges'")
        cost = pd.to_numeric(frame[TARGET], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(cost) | (cost <= 0 if positive else cost < 0)
        if bad.any():
            n, rows, text = row_list(bad)
            what = "<= 0 or missing" if positive else "negative or missing"
            need = "> 0 (the Gamma deviance has no value at 0: use objective='tweedie')" \
                if positive else ">= 0"
            raise DataValidationError(
                f"{table}.{TARGET} has {n} {what} values (rows {text}): claim costs must "
                f"be {need}", table=table, column=TARGET, n_rows=n, rows=rows,
                fix="drop or correct those policies")
    if EXPOSURE in frame.columns:
        expo = pd.to_numeric(frame[EXPOSURE], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(expo) | (expo <= 0)
        if bad.any():
            n, rows, text = row_list(bad)
            raise DataValidationError(
                f"{table}.{EXPOSURE} has {n} values that are missing or <= 0 (rows {text})",
                table=table, column=EXPOSURE, n_rows=n, rows=rows,
                fix="give every policy its exposure in years (> 0), or drop the column")
    return frame


def exposure_of(frame: pd.DataFrame) -> np.ndarray:
    """The ``exposure`` column as float, ones when the table has none."""
    if EXPOSURE in frame.columns:
        return pd.to_numeric(frame[EXPOSURE], errors="coerce").to_numpy(dtype=float)
    return np.ones(len(frame))


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of a frame's column names and values."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


class RatingFactors:
    """The rating factors of ``policies``, typed at ``fit``.

    Numeric columns become float64. Text columns become categoricals whose levels are
    fixed (sorted) at fit; a text column with exactly two levels is coded 0/1 in sorted
    order (``smoker``: no = 0, yes = 1), so that a monotone constraint can apply to it.
    The base (reference) level of a categorical is its most frequent level, an actuary's
    usual choice for relativities.

    Parameters
    ----------
    factors : sequence of str, optional
        The rating factors to use; default every column except ``policy_id``,
        ``charges``, ``exposure`` and ``is_synthetic``.

    Examples
    --------
    >>> frame = pd.DataFrame({"policy_id": ["a", "b", "c"], "age": [20, 40, 60],
    ...                       "smoker": ["no", "yes", "no"], "charges": [1.0, 5.0, 3.0]})
    >>> f = RatingFactors().fit(frame)
    >>> f.names_, f.levels_, f.base_
    (['age', 'smoker'], {'smoker': ['no', 'yes']}, {'smoker': 'no'})
    """

    def __init__(self, *, factors: Sequence[str] | None = None) -> None:
        self.factors = factors

    def fit(self, frame: pd.DataFrame, table: str = TABLE) -> RatingFactors:
        skip = {ID, TARGET, EXPOSURE, "is_synthetic", "run_id", "generator"}
        if self.factors is not None:
            unknown = [c for c in self.factors if c not in frame.columns]
            if unknown:
                raise DataValidationError(
                    f"{table} has no column(s) {', '.join(map(repr, unknown))} named as "
                    "rating factors", table=table, column=unknown[0],
                    fix=f"use some of {', '.join(c for c in frame.columns if c not in skip)}")
            cols = list(self.factors)
        else:
            cols = [c for c in frame.columns if c not in skip]
        if not cols:
            raise DataValidationError(f"{table} has no rating factor columns", table=table,
                                      fix=f"add rating factors beside {ID}/{TARGET}")
        self.numeric_: list[str] = []
        self.levels_: dict[str, list[str]] = {}
        self.base_: dict[str, str] = {}
        for col in cols:
            s = frame[col]
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                self.numeric_.append(str(col))
            else:
                text = s.dropna().astype(str)
                self.levels_[str(col)] = sorted(text.unique().tolist())
                counts = text.value_counts()
                top = counts[counts == counts.max()].index
                self.base_[str(col)] = sorted(map(str, top))[0]
        self.names_ = [str(c) for c in cols]
        return self

    @property
    def binary_(self) -> list[str]:
        """Categoricals with two levels, coded 0/1 as numbers."""
        return [c for c, lv in self.levels_.items() if len(lv) == 2]

    def problems(self, frame: pd.DataFrame, table: str = TABLE) -> pd.Series:
        """Per row, why it cannot be priced ('' when it can): a missing factor, a level
        unseen at fit, or text in a numeric factor. An absent column raises."""
        absent = [c for c in self.names_ if c not in frame.columns]
        if absent:
            raise DataValidationError(
                f"{table} is missing rating factor column(s) {', '.join(absent)}",
                table=table, column=absent[0],
                fix="price a frame with the columns the model was trained on")
        notes = np.full(len(frame), "", dtype=object)

        def note(mask: np.ndarray, text: str) -> None:
            for i in np.flatnonzero(mask):
                notes[i] = f"{notes[i]}; {text}" if notes[i] else text

        for col in self.numeric_:
            num = pd.to_numeric(frame[col], errors="coerce")
            missing = frame[col].isna().to_numpy()
            note(missing, f"{col} is missing")
            note((num.isna().to_numpy() & ~missing) | ~np.isfinite(num.fillna(0).to_numpy(
                dtype=float)), f"{col} is not a finite number")
        for col, levels in self.levels_.items():
            s = frame[col]
            missing = s.isna().to_numpy()
            note(missing, f"{col} is missing")
            note(~missing & ~s.astype(str).isin(levels).to_numpy(),
                 f"{col} has a level unseen in training")
        return pd.Series(notes, index=frame.index, dtype=object)

    def raise_problems(self, frame: pd.DataFrame, table: str = TABLE) -> None:
        """Raise naming the rows that cannot be priced and the first problem."""
        problems = self.problems(frame, table).to_numpy(dtype=object)
        bad = problems != ""
        if bad.any():
            n, rows, text = row_list(bad)
            first = str(problems[bad][0])
            raise DataValidationError(
                f"{table} has {n} rows that cannot be priced (rows {text}; first: {first})",
                table=table, column=first.split(" ", 1)[0], n_rows=n, rows=rows,
                fix="fill or drop rows with missing or unseen rating factor values")

    def codes(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        """Level codes of a categorical factor (sorted order), NaN when unseen."""
        levels = self.levels_[col]
        codes = pd.Categorical(frame[col].astype("string"), categories=levels).codes
        out = codes.astype(np.float64)
        out[codes < 0] = np.nan
        return out

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Float matrix in ``names_`` order; categoricals as their level codes."""
        out = np.empty((len(frame), len(self.names_)), dtype=np.float64)
        for j, col in enumerate(self.names_):
            if col in self.levels_:
                out[:, j] = self.codes(frame, col)
            else:
                out[:, j] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        return out

    def state(self) -> dict[str, Any]:
        return {"factors": None if self.factors is None else list(self.factors),
                "numeric": self.numeric_, "levels": self.levels_, "base": self.base_,
                "names": self.names_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RatingFactors:
        obj = cls(factors=state["factors"])
        obj.numeric_ = [str(c) for c in state["numeric"]]
        obj.levels_ = {str(k): [str(v) for v in lv] for k, lv in state["levels"].items()}
        obj.base_ = {str(k): str(v) for k, v in state["base"].items()}
        obj.names_ = [str(c) for c in state["names"]]
        return obj
