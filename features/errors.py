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


def _span(low: float, high: float, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low == -np.inf else "["
    right = ")" if high_open or high == np.inf else "]"
    return f"{left}{low:g}, {high:g}{right}"


def check_int(owner: str, name: str, value: object, low: int = 0,
              high: float = np.inf) -> int:
    """``value`` as an int in ``[low, high]``, or the scikit-learn style ``ValueError``
    (``The 'factors' parameter of ALSRecommender must be an int in the range [1, inf).
    Got 0 instead.``)."""
    ok = is_int(value) and low <= value <= high  # type: ignore[operator]
    span = f"[{low}, inf)" if high == np.inf else f"[{low}, {int(high)}]"
    check_param(owner, name, value, bool(ok), f"an int in the range {span}")
    return int(value)  # type: ignore[call-overload]


def check_real(owner: str, name: str, value: object, low: float = -np.inf,
               high: float = np.inf, *, low_open: bool = False,
               high_open: bool = False) -> float:
    """``value`` as a finite float between ``low`` and ``high`` (each end closed unless
    ``*_open``), or the scikit-learn style ``ValueError``."""
    ok = is_real(value) and (
        (value > low if low_open else value >= low)  # type: ignore[operator]
        and (value < high if high_open else value <= high))  # type: ignore[operator]
    check_param(owner, name, value, bool(ok),
                f"a float in the range {_span(low, high, low_open, high_open)}")
    return float(value)  # type: ignore[arg-type]


def check_random_state(owner: str, value: object) -> None:
    """``random_state`` must be None, a non-negative int or a ``np.random.Generator``."""
    ok = value is None or isinstance(value, np.random.Generator) or (is_int(value)
                                                                     and value >= 0)  # type: ignore[operator]
    check_param(owner, "random_state", value, bool(ok),
                "None, an int in the range [0, inf) or a numpy.random.Generator")


def check_choice(owner: str, name: str, value: object, choices: Sequence[object]) -> None:
    """``value`` must be one of ``choices`` (compared by equality, bools apart from ints)."""
    ok = any(value == c and type(value) is type(c) for c in choices)
    check_param(owner, name, value, ok, "one of " + ", ".join(repr(c) for c in choices))
