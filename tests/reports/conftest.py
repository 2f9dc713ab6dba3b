"""Fixtures of the report tests: tiny results with a known answer, built here (no model
is trained), in the shapes the jobs write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

LiftResult = Callable[..., dict[str, Any]]


def _row(arm: str, metric: str, segment: str, verdict: str, *, higher: bool,
         value: float, delta: float) -> dict[str, Any]:
    real = arm == "real"
    return {"model": "lightgbm", "arm": arm, "family": "real" if real else "generator",
            "ratio": None if real else 0.5, "segment": segment, "metric": metric,
            "n_units": 200, "value": value, "delta": 0.0 if real else delta,
            "ci_low": None if real else delta - 0.02, "ci_high": None if real else delta + 0.02,
            "seed_sd": 0.004, "margin": 0.005, "mde": 0.04, "n_factor": 64.0,
            "p_value": 0.5, "holm_significant": None if real else False,
            "verdict": "" if real else verdict, "higher_is_better": higher}


def make_lift_result(verdicts: dict[tuple[str, str, str], str] | None = None
                     ) -> dict[str, Any]:
    """A credit-like result: primary ``auc`` and secondary ``pr_auc`` and ``brier``; two
    arms x two segments. ``verdicts[(arm, segment, metric)]`` sets a row's verdict
    (default inconclusive)."""
    verdicts = verdicts or {}
    metrics = [("auc", True), ("pr_auc", True), ("brier", False)]
    rows = []
    for metric, higher in metrics:
        for segment in ("all", "age<30"):
            rows.append(_row("real", metric, segment, "", higher=higher, value=0.75,
                             delta=0.0))
            for arm in ("copula-both", "vae-both"):
                rows.append(_row(arm, metric, segment,
                                 verdicts.get((arm, segment, metric), "inconclusive"),
                                 higher=higher, value=0.76, delta=0.01))
    curves = [{"model": "lightgbm", "arm": arm, "part": part, "metric": m, "ratio": r,
               "delta": 0.01 * r} for arm in ("copula-both", "vae-both")
              for part in ("validation", "test") for m, _ in metrics for r in (0.5, 1.0)]
    return {
        "task": "credit", "dataset": "german-credit", "unit": "applicant", "segments": 2,
        "primary_metric": "auc", "run_id": "lift-test", "seconds": 1.5,
        "provisional": True,
        "config": {"seeds": [0, 1], "budget": "small", "alpha": 0.05},
        "metrics": [{"name": m, "label": {"brier": "Brier score"}.get(m, m),
                     "higher_is_better": h} for m, h in metrics],
        "rows": rows, "curves": curves,
        "chosen_ratio": {"lightgbm": {"copula-both": 0.5, "vae-both": 0.5}},
        "arms": [{"name": a, "family": "generator", "label": a, "ratios": [0.5, 1.0]}
                 for a in ("copula-both", "vae-both")],
        "quality": {"copula-both": {"name": "quality", "mean": 0.9},
                    "vae-both": {"name": "quality", "mean": 0.8}},
        "recommended": [], "split": {"train": 600, "validation": 200, "test": 200},
        "params": {"num_leaves": 15}, "fingerprints": {"applicants": "abc"},
        "fit_seconds": {"copula-both": 0.1, "vae-both": 2.0},
    }


@pytest.fixture(scope="session")
def lift_result() -> LiftResult:
    """``make(verdicts=None)``: see :func:`make_lift_result`."""
    return make_lift_result


def make_prices(days: int) -> pd.DataFrame:
    """Three assets' daily closes (Student-t returns with small drifts), ``days`` days."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2015-01-01", periods=days)
    return pd.concat([pd.DataFrame({"date": dates, "asset": a, "close": 50 * np.exp(np.cumsum(
        rng.standard_t(4, days) * 0.01 + 0.0003 * (i + 1)))})
        for i, a in enumerate(("AAA", "BBB", "CCC"))], ignore_index=True)


@pytest.fixture(scope="session")
def price_table() -> Callable[[int], pd.DataFrame]:
    """:func:`make_prices` (a price table for the backtest reports)."""
    return make_prices

