"""What every credit model reads: labelled applicants checked, unusable rows named, and
the float matrix in fit order (typing itself is :class:`features.credit.CreditFeatures`)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from features.credit import TARGET, CreditFeatures
from features.errors import DataValidationError


def row_list(mask: np.ndarray) -> tuple[int, list[int], str]:
    """Count, first 1-based row numbers and their text, for an error message."""
    rows = (np.flatnonzero(mask)[:5] + 1).tolist()
    more = ", ..." if mask.sum() > 5 else ""
    return int(mask.sum()), rows, ", ".join(map(str, rows)) + more


def check_labelled(frame: object, owner: str, table: str, *, both_classes: bool = True
                   ) -> pd.DataFrame:
    """A non-empty DataFrame whose ``default`` column holds only 0 and 1 (both present
    unless ``both_classes`` is False: synthetic rows may hold one class, e.g. oversampled
    defaults)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{owner} expects {table} as a pandas DataFrame; got "
                        f"{type(frame).__name__}")
    if len(frame) == 0:
        raise DataValidationError(f"{table} is empty", table=table, n_rows=0,
                                  fix="fit on at least a few applicants of each class")
    if TARGET not in frame.columns:
        raise DataValidationError(f"{table} has no '{TARGET}' column", table=table,
                                  column=TARGET, fix="add the 0/1 default label per applicant")
    target = pd.to_numeric(frame[TARGET], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(target, (0.0, 1.0))
    if bad.any():
        n, rows, text = row_list(bad)
        raise DataValidationError(
            f"{table}.{TARGET} has {n} values that are not 0 or 1 (rows {text})",
            table=table, column=TARGET, n_rows=n, rows=rows,
            fix="encode default as 1 (bad) / 0 (good), with no missing labels")
    n_bad = int(target.sum())
    if both_classes and min(n_bad, len(target) - n_bad) < 2:
        raise DataValidationError(
            f"{table}.{TARGET} has {n_bad} defaults and {len(target) - n_bad} non-defaults; "
            "a PD model needs at least 2 of each", table=table, column=TARGET,
            fix="fit on a sample that holds both classes")
    return frame


def raise_problems(features: CreditFeatures, frame: pd.DataFrame, table: str,
                   hint: str) -> None:
    """Raise when some row of ``frame`` cannot be scored (missing value, unseen
    category, text in a numeric column), naming the rows and the first problem."""
    problems = features.problems(frame).to_numpy(dtype=object)
    bad = problems != ""
    if bad.any():
        n, rows, text = row_list(bad)
        first = str(problems[bad][0])
        raise DataValidationError(
            f"{table} has {n} rows that cannot be used (rows {text}; first: {first})",
            table=table, column=first.split(" ", 1)[0], n_rows=n, rows=rows, fix=hint)


def feature_matrix(features: CreditFeatures, frame: pd.DataFrame) -> np.ndarray:
    """Float matrix in fit order; categoricals as their fixed codes, NaN when missing."""
    X, _ = features.transform(frame)
    out = np.empty((len(X), len(features.feature_names_)), dtype=np.float64)
    for j, col in enumerate(features.feature_names_):
        if col in features.categories_:
            codes = X[col].cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = X[col].to_numpy(dtype=np.float64)
    return out


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of a frame's column names and values."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function (log-odds to probability)."""
    return 1.0 / (1.0 + np.exp(-z))
