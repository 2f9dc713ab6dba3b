"""Ids in the order people expect: ``2`` before ``10`` when every id of a column is a
whole number written as text, plain text order otherwise."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def id_order(ids: pd.Series) -> pd.Series:
    """A sort key for one id column (``DataFrame.sort_values(key=...)``): the numbers when
    every id is a whole number (``"007"`` and ``"7"`` compare equal, then keep their text
    order), else the text itself."""
    text = ids.astype(str)
    if len(text) and text.str.fullmatch(r"[+-]?\d+").all():
        return pd.to_numeric(text, downcast=None).astype(float)
    return text


def sort_ids(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` sorted by the id ``columns`` (then its own order), index reset."""
    cols = [c for c in columns if c in frame.columns]
    if not cols:
        return frame.reset_index(drop=True)
    return frame.sort_values(cols, key=id_order, kind="stable").reset_index(drop=True)


__all__ = ["id_order", "sort_ids"]
