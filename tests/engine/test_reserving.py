"""Claims reserving: chainladder's own numbers reproduced through genlift, triangles and
outcomes from long rows, bad input, percentiles and uniformity tests, the synthetic
development scenarios on data with a known pattern."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from engine.insurance.reserve_backtest import eligible, line_squares, uniformity
from engine.insurance.reserving import (
    bootstrap_reserve,
    chainladder_reserve,
    known_mask,
    mack_reserve,
    paid_triangle,
    paid_triangle_from_array,
    to_cl_triangle,
)
from engine.insurance.scenarios import DevelopmentScenarios, log_links, truncate
from features.errors import DataValidationError

cl = pytest.importorskip("chainladder")

# Mack's RAA triangle (1981-1990), as chainladder ships it
RAA = np.array([
    [5012, 8269, 10907, 11805, 13539, 16181, 18009, 18608, 18662, 18834],
    [106, 4285, 5396, 10666, 13782, 15599, 15496, 16169, 16704, np.nan],
    [3410, 8992, 13873, 16141, 18735, 22214, 22863, 23466, np.nan, np.nan],
    [5655, 11555, 15766, 21266, 23425, 26083, 27067, np.nan, np.nan, np.nan],
    [1092, 9565, 15836, 22169, 25955, 26180, np.nan, np.nan, np.nan, np.nan],
    [1513, 6445, 11702, 12935, 15852, np.nan, np.nan, np.nan, np.nan, np.nan],
    [557, 4020, 10946, 12314, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
    [1351, 6947, 13112, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
    [3133, 5395, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
    [2063, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
])


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore", RuntimeWarning)


def _raa() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cl.load_sample("raa")


def test_chainladder_reproduced_exactly() -> None:
    tri = paid_triangle_from_array(RAA, start_year=1981)
    got = chainladder_reserve(tri)
    want = float(cl.Chainladder().fit(_raa()).ibnr_.sum())
    assert got.mean_reserve == pytest.approx(want, rel=1e-12)
    assert got.mean_reserve == pytest.approx(52135.228, abs=1e-3)


def test_mack_reproduced_exactly() -> None:
    tri = paid_triangle_from_array(RAA, start_year=1981)
    got = mack_reserve(tri)
    model = cl.MackChainladder().fit(_raa())
    assert got.sd_ultimate == pytest.approx(float(model.total_mack_std_err_.values.sum()),
                                            rel=1e-12)
    assert got.mean_reserve == pytest.approx(float(model.ibnr_.sum()), rel=1e-12)
    # lognormal with Mack's mean and sd: its median sits below the mean
    assert got.ultimate_quantiles(np.array([0.5]))[0] < got.mean_ultimate


def test_bootstrap_reproduced_exactly() -> None:
    tri = paid_triangle_from_array(RAA, start_year=1981)
    got = bootstrap_reserve(tri, n_sims=40, random_state=3)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # genlift passes seed + 1: chainladder leaves its process variance unseeded at 0
        sims = cl.BootstrapODPSample(n_sims=40, random_state=4,
                                     hat_adj=False).fit_transform(_raa())
        ult = np.asarray(cl.Chainladder().fit(sims).ultimate_.values).reshape(40, -1)
    assert got.samples is not None
    assert np.allclose(np.sort(got.samples), np.sort(np.nansum(ult, axis=1)))
    again = bootstrap_reserve(tri, n_sims=40, random_state=3).samples
    assert again is not None and np.array_equal(got.samples, again)
    zero = [bootstrap_reserve(tri, n_sims=40, random_state=0).samples for _ in range(2)]
    assert zero[0] is not None and zero[1] is not None
    assert np.array_equal(zero[0], zero[1])


def test_to_cl_triangle_round_trip() -> None:
    tri = paid_triangle_from_array(RAA, start_year=1981)
    values = np.asarray(to_cl_triangle(tri).values, dtype=float).reshape(10, 10)
    assert np.allclose(values[known_mask(10)], RAA[known_mask(10)])


def _long(square: np.ndarray, company: str = "A", line: str = "x", start: int = 2000,
          premium: float = 100.0) -> pd.DataFrame:
    i, j = np.nonzero(np.isfinite(square))
    return pd.DataFrame({"company": company, "line": line,
                         "accident_year": start + i, "development_lag": j + 1,
                         "paid": square[i, j], "incurred": square[i, j],
                         "premium": premium, "company_name": f"{company} Ins"})


SQUARE = np.array([[10.0, 20, 25, 26], [12, 22, 28, 29], [11, 23, 27, 28], [13, 25, 30, 31]])


def test_triangle_and_outcome_from_long_rows() -> None:
    frame = _long(SQUARE).sample(frac=1.0, random_state=0)  # order must not matter
    tri = paid_triangle(frame, "A", "x", n=4)
    assert tri.valuation_year == 2003
    assert np.array_equal(np.isnan(tri.known), ~known_mask(4))
    assert tri.latest.tolist() == [26, 28, 23, 13]
    assert tri.actual is not None and np.array_equal(tri.actual, SQUARE)
    assert tri.actual_ultimate == 26 + 29 + 28 + 31
    # a 3 x 3 triangle known a year earlier, its outcome (lag 3) known by 2003
    early = paid_triangle(frame, "A", "x", n=3, valuation_year=2002)
    assert early.years.tolist() == [2000, 2001, 2002]
    assert early.actual is not None and early.latest.tolist() == [25, 22, 11]


def test_no_outcome_without_the_full_square() -> None:
    upper = np.where(known_mask(4), SQUARE, np.nan)
    tri = paid_triangle(_long(upper), "A", "x", n=4)
    assert tri.actual is None and tri.actual_ultimate is None


def test_bad_input_errors() -> None:
    frame = _long(SQUARE)
    with pytest.raises(DataValidationError, match=r"no line 'y'.*Fix: use one of x"):
        paid_triangle(frame, "A", "y", n=4)
    with pytest.raises(DataValidationError, match=r"no company 'Z' in line 'x'.*e\.g\. A"):
        paid_triangle(frame, "Z", "x", n=4)
    hole = frame[~((frame.accident_year == 2001) & (frame.development_lag == 3))]
    with pytest.raises(DataValidationError,
                       match=r"1 missing paid cells .*accident year 2001 lag 3; calendar "
                             r"years 2003\).*Fix: load every cell"):
        paid_triangle(hole, "A", "x", n=4)
    neg = frame.assign(premium=np.where(frame.accident_year == 2002, -5.0, 100.0))
    with pytest.raises(DataValidationError,
                       match=r"negative or missing premium for accident year\(s\) 2002"):
        paid_triangle(neg, "A", "x", n=4)


def test_percentile_and_uniformity_known_cases() -> None:
    tri = paid_triangle_from_array(RAA, start_year=1981)
    d = bootstrap_reserve(tri, n_sims=20, random_state=0)
    d.samples = np.arange(1.0, 101.0)
    assert d.percentile_of(50.5) == 50.0
    assert d.percentile_of(0.0) == 0.0 and d.percentile_of(1000.0) == 100.0
    flat = uniformity(np.linspace(1, 99, 50))
    assert flat["ks_p"] > 0.9 and flat["histogram"] == [5] * 10 and flat["passes_ks"]
    bunched = uniformity(np.full(50, 3.0) + np.linspace(0, 4, 50))
    assert bunched["ks_p"] < 1e-6 and bunched["ad_p"] < 0.01 and not bunched["passes_ks"]


def _pattern_triangles(n_companies: int = 30, seed: int = 0) -> tuple[list[np.ndarray],
                                                                         np.ndarray]:
    rng = np.random.default_rng(seed)
    factors = np.array([2.0, 1.5, 1.2, 1.1, 1.05])
    tris = []
    for _ in range(n_companies):
        first = rng.uniform(500, 2000, 6)
        logs = np.log(factors)[None, :] + rng.normal(0, 0.02, (6, 5))
        square = first[:, None] * np.exp(np.concatenate([np.zeros((6, 1)),
                                                         np.cumsum(logs, axis=1)], axis=1))
        tris.append(np.where(known_mask(6), square, np.nan))
    return tris, factors


def test_synthetic_recovers_a_known_pattern() -> None:
    tris, factors = _pattern_triangles()
    gen = DevelopmentScenarios(n_scenarios=500, holdout=2, random_state=0).fit(tris)
    assert np.allclose(gen.mu_, np.log(factors), atol=0.02)
    known = tris[0]
    paths = gen.sample(known, 2000, random_state=1)
    assert paths.shape == (2000, 6, 6)
    assert np.array_equal(paths[:, known_mask(6)], np.broadcast_to(
        known[known_mask(6)], (2000, int(known_mask(6).sum()))))
    latest = np.array([known[i, 5 - i] for i in range(6)])
    expected = sum(latest[i] * np.prod(factors[5 - i:]) for i in range(6))
    assert np.median(paths[:, :, -1].sum(axis=1)) == pytest.approx(expected, rel=0.02)
    same = gen.sample(known, 2000, random_state=1)
    assert np.array_equal(paths, same)


def test_synthetic_parameter_errors() -> None:
    with pytest.raises(ValueError, match="The 'n_scenarios' parameter of Development"):
        DevelopmentScenarios(n_scenarios=0).fit(_pattern_triangles()[0])
    with pytest.raises(ValueError, match="at least 3 companies"):
        DevelopmentScenarios().fit(_pattern_triangles()[0][:2])


def test_log_links_and_truncate() -> None:
    y = log_links(np.array([[1.0, 2.0, 4.0], [0.0, 1.0, np.nan], [3.0, np.nan, np.nan]]))
    assert y[0].tolist() == pytest.approx([np.log(2), np.log(2)])
    assert np.isnan(y[1]).all()
    t = truncate(np.ones((3, 3)), 1)
    assert np.isfinite(t).sum() == 3


def test_eligibility_rule() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for k, prem in enumerate([300.0, 100.0, 200.0, -1.0]):
        square = np.cumsum(rng.uniform(5, 10, (10, 10)), axis=1)
        rows.append(_long(square, company=f"C{k}", premium=prem, start=1998))
    upper = np.where(known_mask(10), np.cumsum(np.ones((10, 10)), axis=1), np.nan)
    rows.append(_long(upper, company="NOSQUARE", premium=999.0, start=1998))
    squares = line_squares(pd.concat(rows), "x", 2007)
    assert set(squares) == {"C0", "C1", "C2", "C3", "NOSQUARE"}
    assert eligible(squares) == ["C0", "C2", "C1"]  # by premium; no negative, no square
    assert eligible(squares, top=1) == ["C0"]


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_calendar_year_share_recovered(share: float) -> None:
    """Factors sharing a shock per diagonal (share of the noise variance known)."""
    rng = np.random.default_rng(1)
    n, tris = 10, []
    i, j = np.indices((n, n - 1))
    for _ in range(60):
        shock = rng.normal(size=2 * n)[i + j]
        noise = np.sqrt(share) * shock + np.sqrt(1 - share) * rng.normal(size=(n, n - 1))
        logs = np.log(1.2) + 0.05 * noise
        square = 1000 * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(logs, axis=1)],
                                              axis=1))
        tris.append(np.where(known_mask(n), square, np.nan))
    gen = DevelopmentScenarios(holdout=0, random_state=0).fit(tris)
    assert gen.omega2_ == pytest.approx(share, abs=0.1)
