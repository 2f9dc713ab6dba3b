"""A simulated portfolio priced against the real one: what a tariff does to a book whose
mix has shifted (more smokers, an older book, another region mix).

A tabular generator fitted on the real policyholders (any genlift ``Generator``: copula,
VAE, ...) draws the simulated book. A shift is a list of :class:`Condition`:

- ``column=value`` on a categorical factor (``smoker=yes``) is the generator's own
  conditional sampling: every row has it, the other columns follow the learned
  dependence (a smoker's charges, bmi, ...);
- an inequality or a numeric equality (``age>=50``, ``children=0``) selects the
  generated policyholders that satisfy it, drawing more until the book is full (the
  generator's conditions fix categorical values only);
- a mix (``region=southeast:0.5,northwest:0.5``) draws each level's share of the book
  conditioned on that level.

Each book is priced by the same model (premium = expected cost x loading); its loss
ratio is actual (here: simulated) charges over premium. The spread of a book's loss
ratio is a bootstrap over policies of books of the same size.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from augment.base import Generator
from engine.insurance.pricing import PricingModel, check_loading
from engine.insurance.pricing_data import TABLE, TARGET, exposure_of
from features.errors import DataValidationError, check_int

logger = logging.getLogger(__name__)

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq,
    "=": operator.eq, ">": operator.gt, "<": operator.lt}
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|==|=|>|<)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    """One portfolio shift: ``column op value`` (``op`` one of = == != >= <= > <)."""

    column: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"


def parse_condition(text: str) -> Condition:
    """``"smoker=yes"``, ``"age>=50"`` -> :class:`Condition`.

    Raises
    ------
    DataValidationError
        When ``text`` is not ``COLUMN OP VALUE``.
    """
    found = _PATTERN.match(str(text))
    if not found:
        raise DataValidationError(
            f"condition {text!r} is not COLUMN OP VALUE", fix="write e.g. smoker=yes or "
            "age>=50 (operators = != >= <= > <)")
    return Condition(found.group(1), found.group(2), found.group(3))


def parse_mix(text: str) -> tuple[str, dict[str, float]]:
    """``"region=southeast:0.5,northwest:0.5"`` -> ``("region", {level: share})``; the
    shares must be > 0 and are scaled to sum to 1."""
    column, sep, rest = str(text).partition("=")
    shares: dict[str, float] = {}
    for item in rest.split(",") if sep else []:
        level, colon, share = item.partition(":")
        try:
            value = float(share) if colon else float("nan")
        except ValueError:
            value = float("nan")
        if not level.strip() or not np.isfinite(value) or value <= 0:
            shares = {}
            break
        shares[level.strip()] = value
    if not column.strip() or not shares:
        raise DataValidationError(
            f"mix {text!r} is not COLUMN=LEVEL:SHARE,LEVEL:SHARE,...",
            fix="write e.g. region=southeast:0.5,northwest:0.5 (shares > 0)")
    total = sum(shares.values())
    return column.strip(), {k: v / total for k, v in shares.items()}


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s))


def check_conditions(conditions: Sequence[Condition], real: pd.DataFrame,
                     mix: tuple[str, Mapping[str, float]] | None = None) -> None:
    """Every condition names a column of the real policies with a comparable value (a
    number for a numeric column, a seen level for a categorical one)."""
    items = [(c.column, c.op, c.value) for c in conditions]
    items += [(mix[0], "=", level) for level in mix[1]] if mix else []
    for column, op, value in items:
        if column not in real.columns:
            raise DataValidationError(
                f"condition on unknown column {column!r}", table=TABLE, column=column,
                fix=f"use one of {', '.join(c for c in real.columns if c != 'policy_id')}")
        if _is_text(real[column]):
            levels = sorted(real[column].dropna().astype(str).unique())
            if op not in ("=", "==", "!="):
                raise DataValidationError(
                    f"condition {column}{op}{value}: {column} is categorical",
                    table=TABLE, column=column, fix=f"use {column}=LEVEL or {column}!=LEVEL")
            if value not in levels:
                raise DataValidationError(
                    f"condition {column}{op}{value}: level unseen in the policies",
                    table=TABLE, column=column, fix=f"use one of {', '.join(levels)}")
        else:
            try:
                float(value)
            except ValueError:
                raise DataValidationError(
                    f"condition {column}{op}{value}: {column} is numeric, {value!r} is not "
                    "a number", table=TABLE, column=column, fix=f"write e.g. {column}>=50"
                ) from None


def _selected(frame: pd.DataFrame, conditions: Sequence[Condition], real: pd.DataFrame
              ) -> np.ndarray:
    keep = np.ones(len(frame), dtype=bool)
    for c in conditions:
        if _is_text(real[c.column]):
            col = frame[c.column].astype(str).to_numpy()
            keep &= _OPS[c.op](col, c.value)
        else:
            col = pd.to_numeric(frame[c.column], errors="coerce").to_numpy(dtype=float)
            keep &= np.asarray(_OPS[c.op](col, float(c.value)), dtype=bool)
    return keep


def simulate_book(generator: Generator, real: pd.DataFrame, n: int, *,
                  conditions: Sequence[Condition] = (),
                  mix: tuple[str, Mapping[str, float]] | None = None,
                  random_state: int = 0, max_draws: int = 200_000) -> pd.DataFrame:
    """``n`` simulated policyholders under the shift (see the module docstring).

    Parameters
    ----------
    generator : Generator
        A tabular generator fitted on the real policies (without ``policy_id``).
    real : DataFrame
        The real policies (their columns and types decide how a condition is applied).
    n : int
        Policies in the simulated book.
    conditions : sequence of Condition
    mix : (column, {level: share}), optional
    random_state : int
    max_draws : int, default 200,000
        Generated rows at most; a selection that keeps too few of them raises.

    Returns
    -------
    DataFrame
        ``policy_id`` ("sim-000001", ...), the generator's columns and ``is_synthetic``.
    """
    check_int("simulate_book", "n", n, 1)
    check_conditions(conditions, real, mix)
    fixed = {c.column: c.value for c in conditions
             if c.op in ("=", "==") and _is_text(real[c.column])}
    select = [c for c in conditions if not (c.op in ("=", "==") and _is_text(real[c.column]))]
    if mix is not None and mix[0] in fixed:
        raise DataValidationError(f"--mix and a condition both fix {mix[0]}", column=mix[0],
                                  fix="give one of them")
    parts = [(dict(fixed), n)] if mix is None else []
    if mix is not None:
        counts = np.floor(np.array(list(mix[1].values())) * n).astype(int)
        counts[: n - counts.sum()] += 1  # largest-remainder style: the book has n rows
        parts = [({**fixed, mix[0]: level}, int(k))
                 for level, k in zip(mix[1], counts, strict=True) if k > 0]
    rng = np.random.default_rng(random_state)
    books = []
    drawn = 0
    for cond, k in parts:
        got: list[pd.DataFrame] = []
        have = 0
        while have < k:
            size = max(2 * (k - have), 500)
            # stop early when the selection's acceptance rate so far cannot fill the book
            hopeless = drawn >= 10_000 and have / drawn * max_draws < k
            if hopeless or drawn + size > max_draws:
                raise DataValidationError(
                    f"the conditions {', '.join(map(str, select))} keep {have} of the "
                    f"{drawn:,} simulated policies drawn, fewer than the {k:,} wanted",
                    table=TABLE, fix="loosen the condition, or ask for a smaller book (--n)")
            frame = generator.sample(size, conditions=cond or None,
                                     random_state=int(rng.integers(2**31)))
            drawn += size
            keep = frame[_selected(frame, select, real)] if select else frame
            got.append(keep)
            have += len(keep)
        books.append(pd.concat(got, ignore_index=True).iloc[:k])
    book = pd.concat(books, ignore_index=True)
    book.insert(0, "policy_id", [f"sim-{i:06d}" for i in range(1, len(book) + 1)])
    logger.info("simulate_book: %d policies (%d drawn) under %s", len(book), drawn,
                [str(c) for c in conditions])
    return book


def price_book(model: PricingModel, book: pd.DataFrame, loading: float) -> pd.DataFrame:
    """``book`` with ``expected_cost``, ``premium`` and ``loss_ratio`` (charges /
    premium, per policy) columns."""
    loading = check_loading(loading, "price_book")
    out = book.copy()
    out["expected_cost"] = model.predict(book) * exposure_of(book)
    out["premium"] = out["expected_cost"] * loading
    out["loss_ratio"] = pd.to_numeric(out[TARGET]).to_numpy(dtype=float) / out["premium"]
    return out


def book_loss_ratios(priced: pd.DataFrame, *, n_books: int = 1000, random_state: int = 0
                     ) -> np.ndarray:
    """Loss ratio (total charges / total premium) of ``n_books`` books resampled from
    ``priced`` with replacement, each as large as ``priced``."""
    check_int("book_loss_ratios", "n_books", n_books, 1)
    rng = np.random.default_rng(random_state)
    n = len(priced)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_books).astype(float)
    charges = pd.to_numeric(priced[TARGET]).to_numpy(dtype=float)
    return (counts @ charges) / (counts @ priced["premium"].to_numpy(dtype=float))


def book_summary(priced: pd.DataFrame, loss_ratios: np.ndarray) -> dict[str, Any]:
    """Size, premium and loss-ratio figures of a priced book."""
    prem = priced["premium"].to_numpy(dtype=float)
    charges = pd.to_numeric(priced[TARGET]).to_numpy(dtype=float)
    lo, med, hi = np.percentile(loss_ratios, [5, 50, 95])
    return {"policies": len(priced), "mean_premium": float(prem.mean()),
            "median_premium": float(np.median(prem)),
            "p90_premium": float(np.percentile(prem, 90)),
            "total_premium": float(prem.sum()), "total_charges": float(charges.sum()),
            "mean_charges": float(charges.mean()),
            "loss_ratio": float(charges.sum() / prem.sum()),
            "loss_ratio_p5": float(lo), "loss_ratio_p50": float(med),
            "loss_ratio_p95": float(hi)}
