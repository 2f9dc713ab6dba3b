"""Errors and warnings shared by every genlift package."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class DataValidationError(ValueError):
    """Input data breaks a table contract.

    The message names the table, the column, how many rows are wrong, a few example
    rows (1-based row numbers of the input) and what to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        column: str | None = None,
        n_rows: int = 0,
        rows: Sequence[int] = (),
        fix: str = "",
    ) -> None:
        self.table = table
        self.column = column
        self.n_rows = n_rows
        self.rows = list(rows)
        self.fix = fix
        text = message if not fix else f"{message}. Fix: {fix}"
        super().__init__(text)


class GenliftWarning(UserWarning):
    """A conversion genlift made for the user; nothing is changed silently."""


def is_int(value: object) -> bool:
    """An integer (Python or numpy), not a bool: the test behind ``check_param`` calls."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A finite number (Python or numpy), not a bool."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and bool(np.isfinite(value)))


def check_param(owner: str, name: str, value: object, ok: bool, expected: str) -> None:
    """Raise the scikit-learn style parameter error when ``ok`` is false."""
    if not ok:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be {expected}. Got {value!r} instead."
        )
