"""Credit features: typed numerics and categoricals with a fixed category list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataValidationError

ID, TARGET = "applicant_id", "default"


class CreditFeatures:
    """Learn the feature columns of ``applicants`` and turn frames into model input.

    Numeric columns become float64; text columns become pandas categoricals whose
    categories are fixed at ``fit`` (sorted), so training and scoring agree on codes.

    Examples
    --------
    >>> frame = pd.DataFrame({"applicant_id": ["a", "b"], "age": [30, 40],
    ...                       "housing": ["own", "rent"], "default": [0, 1]})
    >>> X, y = CreditFeatures().fit(frame).transform(frame)
    >>> list(X.columns), X["housing"].cat.categories.tolist(), y.tolist()
    (['age', 'housing'], ['own', 'rent'], [0, 1])
    """

    def __init__(self, *, exclude: tuple[str, ...] = ()) -> None:
        self.exclude = exclude

    def fit(self, frame: pd.DataFrame) -> CreditFeatures:
        skip = {ID, TARGET, *self.exclude}
        self.numeric_: list[str] = []
        self.categories_: dict[str, list[str]] = {}
        for col in frame.columns:
            if col in skip:
                continue
            s = frame[col]
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                self.numeric_.append(col)
            else:
                self.categories_[col] = sorted(s.dropna().astype(str).unique().tolist())
        self.feature_names_ = [c for c in frame.columns if c in self.numeric_ or
                               c in self.categories_]
        return self

    def state(self) -> dict[str, Any]:
        """The fitted columns as JSON-ready values (saved with every credit model)."""
        return {"exclude": list(self.exclude), "numeric": self.numeric_,
                "categories": self.categories_, "feature_names": self.feature_names_}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CreditFeatures:
        """The fitted columns back from :meth:`state`."""
        f = cls(exclude=tuple(state["exclude"]))
        f.numeric_ = list(state["numeric"])
        f.categories_ = {k: list(v) for k, v in state["categories"].items()}
        f.feature_names_ = list(state["feature_names"])
        return f

    def problems(self, frame: pd.DataFrame) -> pd.Series:
        """Per row, why it cannot be scored ('' when it can): a missing feature value,
        a category unseen at fit, or text in a numeric column."""
        out = pd.Series("", index=frame.index, dtype=object)
        absent = [c for c in self.feature_names_ if c not in frame.columns]
        if absent:
            raise DataValidationError(
                f"applicants is missing feature column(s) {', '.join(absent)}",
                table="applicants", column=absent[0],
                fix="score a frame with the columns the model was trained on",
            )
        for col in self.numeric_:
            num = pd.to_numeric(frame[col], errors="coerce")
            bad_type = num.isna() & frame[col].notna()
            out = _note(out, frame[col].isna(), f"{col} is missing")
            out = _note(out, bad_type, f"{col} is not a number")
        for col, cats in self.categories_.items():
            s = frame[col]
            unseen = s.notna() & ~s.astype(str).isin(cats)
            out = _note(out, s.isna(), f"{col} is missing")
            out = _note(out, unseen, f"{col} has a category unseen in training")
        return out

    def transform(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
        """Model input ``X`` (feature columns in fit order) and ``y`` when present."""
        if not hasattr(self, "feature_names_"):
            raise RuntimeError("CreditFeatures is not fitted yet: call fit(frame) first")
        self.problems(frame)  # raises on absent columns
        X = pd.DataFrame(index=frame.index)
        for col in self.feature_names_:
            if col in self.numeric_:
                X[col] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
            else:
                text = frame[col].astype("string")
                known = text.where(text.isin(self.categories_[col]))  # unseen -> NA
                X[col] = pd.Categorical(known, categories=self.categories_[col])
        y = frame[TARGET].astype(int) if TARGET in frame.columns else None
        return X, y


def _note(out: pd.Series, mask: pd.Series, text: str) -> pd.Series:
    if not mask.any():
        return out
    hit = mask.to_numpy()
    vals = out.to_numpy().copy()
    vals[hit] = [f"{v}; {text}" if v else text for v in vals[hit]]
    return pd.Series(vals, index=out.index, dtype=object)
