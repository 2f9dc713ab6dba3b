"""What makes synthetic rows hard to tell from real ones: types, spikes, grids and
dependencies survive the tabular encoder (augment/marginals.py, augment/encoding.py),
checked on tables built here with known answers."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from augment.copula import GaussianCopula
from augment.encoding import TabularEncoder
from augment.marginals import Marginal, correlation_ratio, grid_step, snap
from augment.quality import detection_auc

# -- the pieces ------------------------------------------------------------------------


def test_spikes_come_back_exactly_and_real_levels_are_uniform() -> None:
    rng = np.random.default_rng(0)
    x = np.where(rng.random(5000) < 0.4, 0.0, rng.lognormal(3, 1, 5000))
    m = Marginal.fit(x)
    assert not m.step and m.spikes.shape[1] == 1 and m.spikes[0, 0] == 0.0
    np.testing.assert_allclose(m.spikes[1:, 0], [0.0, np.mean(x == 0)])
    u = m.to_uniform(x, rng)
    assert abs(np.mean(u < 0.2) - 0.2) < 0.02 and abs(np.mean(u > 0.9) - 0.1) < 0.02
    back = m.from_uniform(rng.random(20000))
    assert abs(np.mean(back == 0.0) - np.mean(x == 0)) < 0.015
    assert back.min() >= x.min() and back.max() <= x.max()


def test_few_values_are_a_step_function_of_observed_values() -> None:
    x = np.repeat([1.0, 2.0, 5.0], [50, 30, 20])
    m = Marginal.fit(x)
    assert m.step
    out = m.from_uniform(np.random.default_rng(1).random(10000))
    assert set(np.unique(out)) == {1.0, 2.0, 5.0}
    assert abs(np.mean(out == 1.0) - 0.5) < 0.02


@pytest.mark.parametrize(("values", "grid"), [
    ([3, 7, 12, 40], 1.0),
    ([1200, 300, 45000, 800], 100.0),
    ([0.05, 0.1325, 0.2], 0.0025),
    ([5.32, 6.07, 12.99], 0.01),
    ([1.5, np.pi], 0.0),
    ([7.0, 7.0], 0.0),
])
def test_grid_step(values: list[float], grid: float) -> None:
    assert grid_step(np.array(values, dtype=float)) == pytest.approx(grid)


def test_snap_leaves_no_float_residue() -> None:
    assert snap(np.array([0.0699999, 0.0700001, 0.123]), 0.01).tolist() == [0.07, 0.07, 0.12]


def test_correlation_ratio_known_answers() -> None:
    g = np.repeat(np.arange(4), 250)
    # groups that order the values leave only the within-group spread: 1 - 1/k^2
    assert correlation_ratio(g * 10.0 + np.linspace(0, 1, 1000), g, 4) == \
        pytest.approx(1 - 1 / 16, abs=1e-6)
    rng = np.random.default_rng(2)
    assert correlation_ratio(rng.normal(size=1000), g, 4) < 0.02


# -- types ---------------------------------------------------------------------------------


def typed_frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    count = pd.array(rng.poisson(2, n), dtype="Int64")
    count[rng.random(n) < 0.1] = pd.NA
    flag = pd.array(rng.random(n) < 0.3, dtype="boolean")
    flag[:5] = pd.NA
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),                       # int64
        "count": count,                                       # nullable integers
        "balance": np.round(rng.gamma(2, 3000, n)),           # DOUBLE holding integers
        "rate": np.round(rng.uniform(5, 25, n), 2),           # steps of 0.01
        "owner": rng.random(n) < 0.5,                         # bool
        "flag": flag,                                         # nullable bool
        "state": pd.Series(rng.choice(["CA", "NY", "TX"], n), dtype="string"),
        "tier": pd.Categorical(rng.choice(["low", "high"], n)),
    })


def test_types_and_ranges_survive_the_round_trip() -> None:
    real = typed_frame()
    synth = GaussianCopula(random_state=0).fit(real).sample(3000, random_state=1)
    synth = synth.drop(columns="is_synthetic")
    assert synth.dtypes.astype(str).to_dict() == {
        "age": "int64", "count": "Int64", "balance": "float64", "rate": "float64",
        "owner": "bool", "flag": "boolean", "state": "string", "tier": "category"}
    for col in ("age", "count", "balance"):
        v = synth[col].dropna().to_numpy(dtype=float)
        assert np.all(v == np.round(v)), col
        assert real[col].min() <= v.min() and v.max() <= real[col].max(), col
    cents = synth["rate"].to_numpy() * 100
    assert np.allclose(cents, np.round(cents))
    assert set(synth["state"]) <= {"CA", "NY", "TX"}
    assert 0.05 < synth["count"].isna().mean() < 0.15


# -- dependencies ------------------------------------------------------------------------


@cache
def graded_loans(n: int = 3000) -> pd.DataFrame:
    """A rate set by a grade (a few rates per grade, plus noise on the amount), a
    zero-inflated count and amounts in hundreds."""
    rng = np.random.default_rng(4)
    grade = rng.choice(list("ABCDEFG"), n, p=[.25, .2, .18, .15, .1, .07, .05])
    gi = np.array(["ABCDEFG".index(g) for g in grade])
    rate = np.round(5.0 + 3.1 * gi + 0.25 * rng.integers(0, 3, n) +
                    rng.normal(0, 0.05, n), 2)
    amount = np.clip(np.round(rng.lognormal(9.2, 0.6, n) / 100) * 100, 500, 40000)
    delinq = np.where(rng.random(n) < 0.7, 0, rng.poisson(1.5, n) + 1).astype(float)
    return pd.DataFrame({"grade": grade, "rate": rate, "amount": amount, "delinq": delinq,
                         "home": rng.choice(["rent", "own", "mortgage"], n)})


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(frame) * 2 / 3)
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def test_a_rate_set_by_a_grade_stays_possible_and_undetectable() -> None:
    train, holdout = _split(graded_loans())
    synth = GaussianCopula(random_state=0).fit(train).sample(len(holdout), random_state=1)
    synth = synth.drop(columns="is_synthetic")
    bounds = train.groupby("grade")["rate"].agg(["min", "max"])
    lo = synth["grade"].map(bounds["min"]).to_numpy()
    hi = synth["grade"].map(bounds["max"]).to_numpy()
    assert np.all((synth["rate"] >= lo) & (synth["rate"] <= hi))
    assert abs((synth["delinq"] == 0).mean() - (train["delinq"] == 0).mean()) < 0.04
    assert np.all(synth["amount"] % 100 == 0)
    assert detection_auc(holdout, synth, folds=3) <= 0.60


def test_without_the_dependence_the_pair_is_impossible() -> None:
    """The same encoder with ``dependence=None`` (the 0.1 encoding) mixes the grades'
    rates: many decoded rates fall outside their grade's range."""
    train, _ = _split(graded_loans())
    rng = np.random.default_rng(5)
    for dependence, share in ((None, 0.3), (0.3, 0.0)):
        enc = TabularEncoder(dependence=dependence).fit(train)
        cont, codes = enc.transform(train, rng)
        cont = cont + rng.normal(0, 0.3, cont.shape).astype(np.float32)  # a model's error
        out = enc.inverse(cont, codes, rng)
        bounds = train.groupby("grade")["rate"].agg(["min", "max"])
        outside = ((out["rate"] < out["grade"].map(bounds["min"])) |
                   (out["rate"] > out["grade"].map(bounds["max"]))).mean()
        assert (outside > share) if dependence is None else (outside == share)


def test_a_total_set_by_two_numbers_follows_them() -> None:
    """A continuous parent: a total of monthly charges over a tenure is decoded within the
    tenure's own bins, so the total never strays far from tenure x monthly."""
    rng = np.random.default_rng(6)
    n = 3000
    tenure = rng.integers(1, 73, n)
    monthly = np.round(rng.uniform(20, 110, n), 2)
    frame = pd.DataFrame({"tenure": tenure, "monthly": monthly,
                          "total": np.round(tenure * monthly * rng.uniform(0.97, 1.03, n), 2),
                          "contract": rng.choice(["month", "year"], n)})
    enc = TabularEncoder(dependence=0.3).fit(frame)
    total = next(c for c in enc.continuous if c.name == "total")
    assert total.parent == "tenure" and len(total.group_codes) >= 10
    train, holdout = _split(frame)
    synth = GaussianCopula(random_state=0).fit(train).sample(len(holdout), random_state=1)
    ratio = synth["total"] / (synth["tenure"] * synth["monthly"])
    assert ratio.between(0.5, 2.0).mean() > 0.9


def test_encoder_state_with_groups_round_trips() -> None:
    train, _ = _split(graded_loans())
    rng = np.random.default_rng(7)
    enc = TabularEncoder(dependence=0.3).fit(train)
    cont, codes = enc.transform(train, rng)
    meta, arrays = enc.state()
    again = TabularEncoder.from_state(meta, arrays)
    pd.testing.assert_frame_equal(enc.inverse(cont, codes, np.random.default_rng(1)),
                                  again.inverse(cont, codes, np.random.default_rng(1)))
    assert any(k.startswith("enc_s::") for k in arrays)  # the spike at 0 delinquencies
