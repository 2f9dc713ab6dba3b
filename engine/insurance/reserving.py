"""Claims reserving on one paid triangle: the triangle known at a valuation year (and,
where the store holds the full square, what was actually paid afterwards), and the
reserve distributions of the `chainladder` library's own methods.

genlift does not re-implement chain ladder, Mack or the ODP bootstrap: it builds a
``chainladder.Triangle`` from the store's long rows and reads the library's results.
Every method ends in the same :class:`ReserveDistribution`: the simulated (or, for
Mack, lognormal) distribution of the total ultimate paid loss over all accident years,
from which the reserve (ultimate - paid to date), its mean and percentiles follow.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from features.errors import DataValidationError

logger = logging.getLogger(__name__)

TABLE = "claims_triangles"
METHODS = ("chainladder", "mack", "bootstrap", "synthetic")
PERCENTILES = (5, 25, 50, 75, 95, 99)


@dataclass(frozen=True)
class PaidTriangle:
    """One company x line: cumulative paid losses (accident years x lags 1..n).

    ``known`` has NaN below the valuation diagonal; ``actual`` is the full square when
    the store holds it (what was paid after the valuation year), else None.
    """

    company: str
    line: str
    years: np.ndarray  # accident years, ascending
    known: np.ndarray  # (n, n) cumulative paid, NaN after the valuation year
    premium: np.ndarray  # (n,) earned premium per accident year
    actual: np.ndarray | None = None
    company_name: str = ""

    @property
    def n(self) -> int:
        return int(self.known.shape[0])

    @property
    def valuation_year(self) -> int:
        return int(self.years[-1])

    @property
    def latest(self) -> np.ndarray:
        """Paid to date per accident year (the last diagonal)."""
        return np.array([self.known[i, self.n - 1 - i] for i in range(self.n)])

    @property
    def actual_ultimate(self) -> float | None:
        """What was finally paid at lag n, summed over the accident years."""
        return None if self.actual is None else float(self.actual[:, -1].sum())


def known_mask(n: int) -> np.ndarray:
    """Cells (accident year i, lag j) known at the valuation: i + j <= n - 1."""
    i, j = np.indices((n, n))
    return (i + j) <= n - 1


def _bad(message: str, fix: str, column: str | None = None) -> DataValidationError:
    return DataValidationError(message, table=TABLE, column=column, fix=fix)


def paid_triangle(frame: pd.DataFrame, company: str, line: str, *,
                  valuation_year: int | None = None, n: int = 10) -> PaidTriangle:
    """The paid triangle of ``company`` x ``line`` known at the end of ``valuation_year``
    (default: the last accident year the store holds for them), with the actual outcome
    where every cell of the square is present.

    Raises
    ------
    DataValidationError
        Unknown company or line (naming the known ones), a known cell missing (a missing
        diagonal), paid losses that are not finite, a negative or missing premium.
    """
    company, line = str(company).strip(), str(line).strip()
    lines = sorted(frame["line"].astype(str).unique())
    if line not in lines:
        raise _bad(f"{TABLE} has no line {line!r}", f"use one of {', '.join(lines)}", "line")
    rows = frame[frame["line"].astype(str) == line]
    ids = rows["company"].astype(str)
    if company not in set(ids):
        shown = ", ".join(sorted(ids.unique(), key=lambda s: (len(s), s))[:8])
        raise _bad(f"{TABLE} has no company {company!r} in line {line!r}",
                   f"use one of the {ids.nunique()} companies of {line} (e.g. {shown}); "
                   "`genlift reserve --backtest --line L --json` lists the eligible ones",
                   "company")
    rows = rows[ids == company]
    last = int(rows["accident_year"].max()) if valuation_year is None else int(valuation_year)
    years = np.arange(last - n + 1, last + 1)
    rows = rows[rows["accident_year"].isin(years) & rows["development_lag"].between(1, n)]
    who = f"{TABLE} company {company} line {line}"
    square = np.full((n, n), np.nan)
    ai = (rows["accident_year"].to_numpy(dtype=int) - years[0])
    lj = rows["development_lag"].to_numpy(dtype=int) - 1
    square[ai, lj] = rows["paid"].to_numpy(dtype=float)
    mask = known_mask(n)
    missing = mask & np.isnan(square)
    if missing.any():
        cells = [f"{years[i]} lag {j + 1}" for i, j in zip(*np.nonzero(missing), strict=True)]
        diag = sorted({int(years[i] + j) for i, j in zip(*np.nonzero(missing), strict=True)})
        raise _bad(f"{who} has {int(missing.sum())} missing paid cells in the triangle "
                   f"known at {last} (accident year {', '.join(cells[:5])}"
                   f"{', ...' if len(cells) > 5 else ''}; calendar years "
                   f"{', '.join(map(str, diag))})",
                   f"load every cell of accident years {years[0]}-{last} up to calendar year "
                   f"{last} (a full diagonal per calendar year), or give --valuation-year "
                   "where the triangle is complete", "paid")
    if not np.isfinite(square[mask]).all():
        raise _bad(f"{who} has paid losses that are not finite", "fix those cells", "paid")
    prem = (rows[rows["development_lag"] == 1].set_index("accident_year")["premium"]
            .reindex(years).to_numpy(dtype=float))
    bad_prem = ~np.isfinite(prem) | (prem < 0)
    if bad_prem.any():
        where = ", ".join(str(y) for y in years[bad_prem])
        raise _bad(f"{who} has a negative or missing premium for accident year(s) {where}",
                   "earned premium must be >= 0: correct those rows or choose another "
                   "company", "premium")
    full = not np.isnan(square).any()
    name = ""
    if "company_name" in rows.columns and len(rows):
        name = str(rows["company_name"].iloc[0])
    known = np.where(mask, square, np.nan)
    return PaidTriangle(company, line, years, known, prem,
                        actual=square if full else None, company_name=name)


def paid_triangle_from_array(known: np.ndarray, *, start_year: int = 1988,
                             premium: np.ndarray | None = None,
                             actual: np.ndarray | None = None) -> PaidTriangle:
    """A :class:`PaidTriangle` from an (n, n) array (cells after the valuation ignored)."""
    known = np.asarray(known, dtype=float)
    n = known.shape[0]
    prem = np.ones(n) if premium is None else np.asarray(premium, dtype=float)
    return PaidTriangle("test", "test", np.arange(start_year, start_year + n),
                        np.where(known_mask(n), known, np.nan), prem, actual)


def to_cl_triangle(tri: PaidTriangle) -> Any:
    """The known triangle as a ``chainladder.Triangle`` (annual origins, cumulative)."""
    import chainladder as cl

    n = tri.n
    i, j = np.nonzero(known_mask(n))
    long = pd.DataFrame({"origin": tri.years[i].astype(str),
                         "development": (tri.years[i] + j).astype(str),
                         "paid": tri.known[i, j]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cl.Triangle(long, origin="origin", development="development",  # type: ignore[abstract]
                           columns=["paid"], cumulative=True)


@dataclass
class ReserveDistribution:
    """The distribution of the total ultimate paid loss (all accident years) of one
    method; the reserve is ultimate - paid to date."""

    method: str
    paid_to_date: float
    ultimate_by_year: np.ndarray  # mean ultimate per accident year
    samples: np.ndarray | None = None  # simulated total ultimates
    lognormal: tuple[float, float] | None = None  # (mean, sd) of the total (Mack)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_ultimate(self) -> float:
        if self.samples is not None:
            return float(np.mean(self.samples))
        return float(self.ultimate_by_year.sum())

    @property
    def mean_reserve(self) -> float:
        return self.mean_ultimate - self.paid_to_date

    def _lognormal(self) -> Any:
        assert self.lognormal is not None
        mean, sd = self.lognormal
        s2 = np.log1p((sd / mean) ** 2) if mean > 0 else 0.0
        return stats.lognorm(s=max(np.sqrt(s2), 1e-12), scale=mean * np.exp(-s2 / 2))

    @property
    def sd_ultimate(self) -> float:
        if self.samples is not None:
            return float(np.std(self.samples, ddof=1)) if self.samples.size > 1 else 0.0
        return float(self.lognormal[1]) if self.lognormal is not None else 0.0

    def ultimate_quantiles(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if self.samples is not None:
            return np.quantile(self.samples, q)
        if self.lognormal is not None and self.lognormal[0] > 0:
            return np.asarray(self._lognormal().ppf(q), dtype=float)
        return np.full(q.shape, self.mean_ultimate)

    def percentile_of(self, value: float) -> float:
        """Where ``value`` (an ultimate) falls in the distribution, in [0, 100]."""
        if self.samples is not None:
            s = self.samples
            # mid-rank: ties (a point estimate) land in the middle, not at an edge
            return float(100 * (np.mean(s < value) + 0.5 * np.mean(s == value)))
        if self.lognormal is not None and self.lognormal[0] > 0:
            return float(100 * self._lognormal().cdf(value))
        m = self.mean_ultimate
        return 50.0 if value == m else (100.0 if value > m else 0.0)

    def summary(self) -> dict[str, Any]:
        qs = np.array(PERCENTILES) / 100
        reserve_q = self.ultimate_quantiles(qs) - self.paid_to_date
        return {"method": self.method, "paid_to_date": self.paid_to_date,
                "mean_ultimate": self.mean_ultimate, "mean_reserve": self.mean_reserve,
                "sd": self.sd_ultimate,
                **{f"reserve_p{p}": float(v) for p, v in zip(PERCENTILES, reserve_q,
                                                             strict=True)}}


def chainladder_reserve(tri: PaidTriangle) -> ReserveDistribution:
    """``cl.Chainladder()``: the volume-weighted chain ladder, a point estimate."""
    import chainladder as cl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cl.Chainladder().fit(to_cl_triangle(tri))
        ult = np.asarray(model.ultimate_.values, dtype=float).reshape(-1)
        ibnr = float(np.nansum(model.ibnr_.values))
    return ReserveDistribution("chainladder", float(tri.latest.sum()), ult,
                               extra={"ibnr": ibnr,
                                      "ldf": np.asarray(model.ldf_.values).reshape(-1)})


def mack_reserve(tri: PaidTriangle) -> ReserveDistribution:
    """``cl.MackChainladder()``: the chain ladder's mean and Mack's total standard
    error; the distribution is lognormal with that mean and sd (as Meyers 2015 did)."""
    import chainladder as cl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cl.MackChainladder().fit(to_cl_triangle(tri))
        ult = np.asarray(model.ultimate_.values, dtype=float).reshape(-1)
        se = float(np.nansum(np.asarray(model.total_mack_std_err_.values, dtype=float)))
    se = se if np.isfinite(se) else 0.0
    return ReserveDistribution("mack", float(tri.latest.sum()), ult,
                               lognormal=(float(ult.sum()), se),
                               extra={"mack_std_err": se})


def bootstrap_reserve(tri: PaidTriangle, *, n_sims: int = 500,
                      random_state: int | None = 0) -> ReserveDistribution:
    """``cl.BootstrapODPSample`` then ``cl.Chainladder`` on each resampled triangle: the
    ODP bootstrap's simulated ultimates (with the library's process variance).

    Two settings keep the same seed giving the same samples with chainladder 0.10.1:
    it seeds its process variance with ``None if not random_state`` (a seed of 0 would
    draw it unseeded), so genlift passes ``random_state + 1``; and its hat-matrix
    adjustment leaves the cells where the hat value is 1 (the triangle's corners) as
    uninitialized memory (``np.divide(..., where=...)`` without ``out``), which enters
    the residual pool, so genlift uses ``hat_adj=False`` (the unadjusted Pearson
    residuals, one of the library's documented options)."""
    import chainladder as cl

    seed = None if random_state is None else int(random_state) + 1
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        sims = cl.BootstrapODPSample(n_sims=n_sims, random_state=seed,
                                     hat_adj=False).fit_transform(
            to_cl_triangle(tri))
        model = cl.Chainladder().fit(sims)
        ult = np.asarray(model.ultimate_.values, dtype=float)  # (sims, 1, n, 1)
    per_sim = np.nansum(ult.reshape(n_sims, -1), axis=1)
    by_year = np.nanmean(ult.reshape(n_sims, -1), axis=0)
    return ReserveDistribution("bootstrap", float(tri.latest.sum()), by_year,
                               samples=per_sim[np.isfinite(per_sim)])
