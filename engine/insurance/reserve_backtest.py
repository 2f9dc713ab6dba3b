"""The retrospective test of reserve distributions (Meyers 2015, CAS Monograph 1): for
every eligible company of a line, the percentile of the actual ultimate paid loss in
each method's predictive distribution; a well-calibrated method gives uniform
percentiles (histogram, KS and Anderson-Darling tests of uniformity).

The selection rule is fixed here, before any outcome is looked at, and uses only what
was known at the valuation (plus whether the store holds the square at all):
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from engine.insurance.reserving import (
    PaidTriangle,
    ReserveDistribution,
    bootstrap_reserve,
    chainladder_reserve,
    known_mask,
    mack_reserve,
)
from engine.insurance.scenarios import DevelopmentScenarios
from features.errors import DataValidationError

logger = logging.getLogger(__name__)

BACKTEST_LINES = ("comauto", "ppauto", "wkcomp", "othliab")  # Meyers' four lines
STOCHASTIC = ("mack", "bootstrap", "synthetic")
TOP = 50

#: The eligibility rule, written down before any outcome was looked at.
ELIGIBILITY = (
    "a company x line is eligible when the store holds its whole 10 x 10 square of "
    "accident years valuation-9..valuation (so an outcome exists at all), and in the "
    "triangle known at the valuation: the net earned premium of every accident year "
    "is > 0, the cumulative paid loss of every known cell is > 0, and the paid loss "
    "never falls by more than 5% from one lag to the next; of those, the (at most) 50 "
    f"with the largest total net earned premium are tested (Meyers took {TOP} per line)"
)


def line_squares(frame: pd.DataFrame, line: str, valuation_year: int, n: int = 10
                 ) -> dict[str, dict[str, np.ndarray | None]]:
    """Company -> {"known", "actual" (None without the full square), "premium"} for the
    accident years ``valuation_year - n + 1 .. valuation_year`` of ``line``; companies
    with a missing known cell are left out."""
    years = np.arange(valuation_year - n + 1, valuation_year + 1)
    rows = frame[(frame["line"].astype(str) == line) & frame["accident_year"].isin(years)
                 & frame["development_lag"].between(1, n)]
    mask = known_mask(n)
    out: dict[str, dict[str, np.ndarray | None]] = {}
    for company, g in rows.groupby(rows["company"].astype(str), sort=True):
        sq = np.full((n, n), np.nan)
        sq[g["accident_year"].to_numpy(dtype=int) - years[0],
           g["development_lag"].to_numpy(dtype=int) - 1] = g["paid"].to_numpy(dtype=float)
        if np.isnan(sq[mask]).any():
            continue
        prem = (g[g["development_lag"] == 1].set_index("accident_year")["premium"]
                .reindex(years).to_numpy(dtype=float))
        out[str(company)] = {"known": np.where(mask, sq, np.nan),
                             "actual": None if np.isnan(sq).any() else sq,
                             "premium": prem}
    return out


def eligible(squares: dict[str, dict[str, np.ndarray | None]], top: int = TOP) -> list[str]:
    """The companies the backtest tests (:data:`ELIGIBILITY`), largest premium first."""
    picked: list[tuple[float, str]] = []
    for company, sq in squares.items():
        known, prem = sq["known"], sq["premium"]
        if sq["actual"] is None or known is None or prem is None:
            continue
        mask = known_mask(known.shape[0])
        if not (np.isfinite(prem).all() and (prem > 0).all()):
            continue
        if not (known[mask] > 0).all():
            continue
        with np.errstate(all="ignore"):
            ratio = known[:, 1:] / known[:, :-1]
        if (ratio[np.isfinite(ratio)] < 0.95).any():
            continue
        picked.append((float(prem.sum()), company))
    picked.sort(key=lambda t: (-t[0], t[1]))
    return [c for _, c in picked[:top]]


def synthetic_reserve(tri: PaidTriangle, model: DevelopmentScenarios, *,
                      n_sims: int | None = None, random_state: int | None = 0
                      ) -> tuple[ReserveDistribution, np.ndarray]:
    """The synthetic-scenario distribution of one triangle, and its paths."""
    paths = model.sample(tri.known, n_sims, random_state=random_state)
    total = paths[:, :, -1].sum(axis=1)
    return (ReserveDistribution("synthetic", float(tri.latest.sum()),
                                paths[:, :, -1].mean(axis=0), samples=total,
                                extra={"kappa": model.kappa_.tolist()}), paths)


def reserve_distributions(tri: PaidTriangle, methods: Sequence[str], *,
                          model: DevelopmentScenarios | None = None, n_boot: int = 300,
                          n_sims: int = 2000, random_state: int = 0
                          ) -> dict[str, ReserveDistribution]:
    """Each requested method's distribution for one triangle (``synthetic`` needs the
    line's fitted ``model``)."""
    out: dict[str, ReserveDistribution] = {}
    for m in methods:
        if m == "chainladder":
            out[m] = chainladder_reserve(tri)
        elif m == "mack":
            out[m] = mack_reserve(tri)
        elif m == "bootstrap":
            out[m] = bootstrap_reserve(tri, n_sims=n_boot, random_state=random_state)
        elif m == "synthetic":
            if model is None:
                raise ValueError("the synthetic method needs the line's fitted "
                                 "DevelopmentScenarios")
            out[m] = synthetic_reserve(tri, model, n_sims=n_sims,
                                       random_state=random_state)[0]
        else:
            raise ValueError(f"unknown method {m!r}: use one of chainladder, mack, "
                             "bootstrap, synthetic")
    return out


def uniformity(percentiles: np.ndarray, *, bins: int = 10,
               random_state: int = 0) -> dict[str, Any]:
    """KS and Anderson-Darling tests of uniformity on [0, 1] of ``percentiles`` (in
    [0, 100]) and their histogram; the AD p-value is scipy's Monte Carlo one."""
    u = np.asarray(percentiles, dtype=float) / 100.0
    u = u[np.isfinite(u)]
    if u.size < 2:
        return {"n": int(u.size), "ks_stat": float("nan"), "ks_p": float("nan"),
                "ad_stat": float("nan"), "ad_p": float("nan"), "histogram": []}
    ks = stats.kstest(u, "uniform")
    eps = 1e-6  # AD's log(u) needs u inside (0, 1)
    uc = np.clip(u, eps, 1 - eps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ad = stats.goodness_of_fit(stats.uniform, uc, known_params={"loc": 0, "scale": 1},
                                   statistic="ad", n_mc_samples=999,
                                   rng=np.random.default_rng(random_state))
    hist, _ = np.histogram(u, bins=bins, range=(0, 1))
    return {"n": int(u.size), "ks_stat": float(ks.statistic), "ks_p": float(ks.pvalue),
            "ad_stat": float(ad.statistic), "ad_p": float(ad.pvalue),
            "histogram": hist.tolist(), "mean_percentile": float(100 * u.mean()),
            "passes_ks": bool(ks.pvalue > 0.05)}


def fit_line_model(squares: dict[str, dict[str, np.ndarray | None]], *,
                   random_state: int = 0, n_sims: int = 2000) -> DevelopmentScenarios:
    """The synthetic generator fitted on the known triangles of every company of the line
    (not only the eligible ones: the line's pattern is what transfers)."""
    tris = [sq["known"] for sq in squares.values() if sq["known"] is not None]
    return DevelopmentScenarios(n_scenarios=n_sims, random_state=random_state).fit(tris)


def backtest_line(frame: pd.DataFrame, line: str, *, valuation_year: int,
                  methods: Sequence[str] = STOCHASTIC, n_boot: int = 300,
                  n_sims: int = 2000, seed: int = 0, top: int = TOP,
                  show_progress: bool | None = False,
                  callback: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Percentiles of the actual ultimate paid loss per eligible company and method,
    and the uniformity tests per method."""
    squares = line_squares(frame, line, valuation_year)
    companies = eligible(squares, top)
    if not companies:
        raise DataValidationError(
            f"claims_triangles: no company of line {line!r} is eligible for the backtest "
            f"at valuation {valuation_year} ({ELIGIBILITY})",
            table="claims_triangles", column="line",
            fix="fetch the full squares (`genlift data fetch clrd`) or choose another "
                "line or --valuation-year")
    model = fit_line_model(squares, random_state=seed, n_sims=n_sims) \
        if "synthetic" in methods else None
    names = frame[["company", "company_name"]].drop_duplicates("company").set_index(
        "company")["company_name"].astype(str).to_dict() \
        if "company_name" in frame.columns else {}
    rows = []
    years = np.arange(valuation_year - 9, valuation_year + 1)
    for k, company in enumerate(tqdm(companies, desc=f"backtest {line}",
                                     disable=None if show_progress is None
                                     else not show_progress)):
        sq = squares[company]
        assert sq["known"] is not None and sq["premium"] is not None
        tri = PaidTriangle(company, line, years, sq["known"], sq["premium"], sq["actual"],
                           names.get(company, ""))
        dists = reserve_distributions(tri, methods, model=model, n_boot=n_boot,
                                      n_sims=n_sims, random_state=seed + k)
        actual = tri.actual_ultimate
        row: dict[str, Any] = {"company": company, "company_name": tri.company_name,
                               "premium": float(tri.premium.sum()),
                               "paid_to_date": float(tri.latest.sum()),
                               "actual_ultimate": actual}
        for m, d in dists.items():
            row[f"{m}_mean"] = d.mean_ultimate
            row[f"{m}_sd"] = d.sd_ultimate
            row[f"{m}_percentile"] = d.percentile_of(float(actual)) if actual else None
        rows.append(row)
        if callback is not None:
            callback(company)
    table = pd.DataFrame(rows)
    tests = {m: uniformity(table[f"{m}_percentile"].to_numpy(dtype=float),
                           random_state=seed)
             for m in methods if m != "chainladder"}
    return {"line": line, "valuation_year": valuation_year, "eligibility": ELIGIBILITY,
            "companies": companies, "n_eligible": len(companies), "rows": table,
            "tests": tests,
            "synthetic_model": None if model is None else {
                "kappa": np.round(model.kappa_, 3).tolist(), "omega2": model.omega2_,
                "n_companies": model.n_companies_, "calibration": model.calibration_}}
