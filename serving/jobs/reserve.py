"""`genlift reserve`: the paid reserve of one company x line by the `chainladder`
library's methods and genlift's synthetic development scenarios, with an HTML report;
`genlift reserve --backtest`: the retrospective test of those distributions over every
eligible company of a line (:mod:`engine.insurance.reserve_backtest`).

Every output (report, JSON summary, per-company parquet) is written to a temporary name
and renamed into place, and only after every number is computed: a bad input or a crash
never leaves a partial file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.insurance.reserve_backtest import (
    BACKTEST_LINES,
    ELIGIBILITY,
    backtest_line,
    fit_line_model,
    line_squares,
    reserve_distributions,
    synthetic_reserve,
)
from engine.insurance.reserving import METHODS, TABLE, paid_triangle
from features.artifacts import write_json_atomic
from features.errors import DataValidationError
from features.io import write_parquet_atomic
from features.store import Store
from serving.reports.reserve import write_backtest_report, write_reserve_report

logger = logging.getLogger(__name__)

__all__ = ["ReserveConfig", "run_reserve", "run_reserve_backtest"]


@dataclass(frozen=True)
class ReserveConfig:
    """One `genlift reserve` run (CLI flags map 1:1 onto the fields)."""

    line: str
    company: str | None = None
    methods: tuple[str, ...] = METHODS
    valuation_year: int | None = None
    n_sims: int = 2000  # synthetic scenarios
    n_boot: int = 300  # ODP bootstrap resamples (chainladder's BootstrapODPSample)
    seed: int = 0
    backtest: bool = False
    top: int = 50  # --backtest: companies tested per line at most

    def check(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise DataValidationError(f"unknown reserving method(s) {unknown}",
                                      fix=f"use --method one of {', '.join(METHODS)}")
        for name, low in (("n_sims", 10), ("n_boot", 10), ("top", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"The '{name}' parameter of ReserveConfig must be an int "
                                 f"in the range [{low}, inf). Got {value!r} instead.")
        if self.backtest and set(self.methods) == {"chainladder"}:
            raise DataValidationError(
                "the backtest tests predictive distributions; chainladder alone gives a "
                "point estimate", fix="use --method mack, bootstrap, synthetic or all")
        if not self.backtest and not self.company:
            raise DataValidationError("genlift reserve needs --company (or --backtest)",
                                      fix="give --company C --line L, or --backtest --line L")


def _triangles(store: Store) -> pd.DataFrame:
    frame = store.read(TABLE)
    if frame.empty:
        raise DataValidationError(f"{TABLE} is empty", table=TABLE,
                                  fix="run `genlift data fetch clrd`")
    return frame


def run_reserve(store: Store, cfg: ReserveConfig, out: Path, *,
                show_progress: bool | None = None) -> dict[str, Any]:
    """Reserve distributions of one company x line; report at ``out`` (HTML) and the
    summary as JSON beside it."""
    cfg.check()
    assert cfg.company is not None
    frame = _triangles(store)
    tri = paid_triangle(frame, cfg.company, cfg.line, valuation_year=cfg.valuation_year)
    started = time.perf_counter()
    model, paths = None, None
    if "synthetic" in cfg.methods:
        squares = line_squares(frame, cfg.line, tri.valuation_year, tri.n)
        squares.setdefault(tri.company, {"known": tri.known, "actual": tri.actual,
                                         "premium": tri.premium})
        model = fit_line_model(squares, random_state=cfg.seed, n_sims=cfg.n_sims)
    others = [m for m in cfg.methods if m != "synthetic"]
    dists = reserve_distributions(tri, others, n_boot=cfg.n_boot, n_sims=cfg.n_sims,
                                  random_state=cfg.seed)
    if model is not None:
        dists["synthetic"], paths = synthetic_reserve(tri, model, n_sims=cfg.n_sims,
                                                      random_state=cfg.seed)
    actual = tri.actual_ultimate
    methods = []
    for m in cfg.methods:
        row = dists[m].summary()
        if actual is not None:
            row["actual_reserve"] = actual - tri.latest.sum()
            row["actual_percentile"] = dists[m].percentile_of(actual)
        methods.append(row)
    result: dict[str, Any] = {
        "company": tri.company, "company_name": tri.company_name, "line": tri.line,
        "valuation_year": tri.valuation_year,
        "accident_years": [int(tri.years[0]), int(tri.years[-1])],
        "paid_to_date": float(tri.latest.sum()), "premium": float(tri.premium.sum()),
        "actual_ultimate": actual, "methods": methods,
        "synthetic_model": None if model is None else {
            "companies": model.n_companies_, "kappa_by_lag": model.kappa_.tolist(),
            "omega2": model.omega2_},
        "seconds": round(time.perf_counter() - started, 2),
        "config": asdict(cfg),
    }
    report = write_reserve_report(out, tri, dists, paths, result)
    summary = write_json_atomic(result, out.with_suffix(".json"))
    result.update({"report": str(report), "summary": str(summary)})
    return result


def run_reserve_backtest(store: Store, cfg: ReserveConfig, out: Path, *,
                         show_progress: bool | None = None) -> dict[str, Any]:
    """The retrospective test on ``cfg.line`` (``all``: Meyers' four lines); report at
    ``out``, per-company percentiles as parquet and the summary as JSON beside it."""
    cfg.check()
    frame = _triangles(store)
    known_lines = sorted(frame["line"].astype(str).unique())
    lines = list(BACKTEST_LINES) if cfg.line == "all" else [cfg.line]
    for line in lines:
        if line not in known_lines:
            raise DataValidationError(f"{TABLE} has no line {line!r}", table=TABLE,
                                      column="line",
                                      fix=f"use one of {', '.join(known_lines)} or all")
    if cfg.valuation_year is None:
        # the latest valuation whose squares the store holds: the last accident year
        # with a value at the last lag (its square is complete)
        have = frame[frame["development_lag"] == frame["development_lag"].max()]
        year = int(have["accident_year"].max())
    else:
        year = cfg.valuation_year
    started = time.perf_counter()
    results = []
    for line in lines:
        results.append(backtest_line(
            frame, line, valuation_year=year, methods=cfg.methods, n_boot=cfg.n_boot,
            n_sims=cfg.n_sims, seed=cfg.seed, top=cfg.top, show_progress=show_progress))
    table = pd.concat([r["rows"].assign(line=r["line"]) for r in results],
                      ignore_index=True)
    summary = {
        "lines": lines, "valuation_year": year, "eligibility": ELIGIBILITY,
        "tests": {r["line"]: r["tests"] for r in results},
        "companies": {r["line"]: r["companies"] for r in results},
        "synthetic_model": {r["line"]: r["synthetic_model"] for r in results},
        "seconds": round(time.perf_counter() - started, 1), "config": asdict(cfg),
    }
    report = write_backtest_report(out, results, summary)
    parquet = write_parquet_atomic(table, out.with_suffix(".parquet"))
    js = write_json_atomic(summary, out.with_suffix(".json"))
    summary.update({"report": str(report), "parquet": str(parquet), "summary": str(js)})
    return summary
