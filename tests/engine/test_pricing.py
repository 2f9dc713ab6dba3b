"""Pricing models on constructed policies with known multiplicative effects: the GLM
recovers exp(beta), the GBM keeps its monotone constraints and ranks as well, save ->
load gives the same predictions, and bad input is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.insurance import GBMPricing, GLMPricing, gini
from engine.insurance.pricing_evaluation import cross_validate, holdout_evaluation
from features.errors import DataValidationError

REGION = {"north": 1.0, "south": 1.5, "west": 0.8}


def policies(n: int = 3000, seed: int = 0, shape: float = 20.0) -> pd.DataFrame:
    """Expected cost 2000 * exp(0.03 (age - 40)) * 3 if smoker * region factor; Gamma
    noise with the given shape (coefficient of variation 1 / sqrt(shape))."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 65, n)
    smoker = rng.choice(["no", "yes"], n, p=[0.8, 0.2])
    region = rng.choice(list(REGION), n, p=[0.5, 0.3, 0.2])
    mu = 2000 * np.exp(0.03 * (age - 40)) * np.where(smoker == "yes", 3.0, 1.0) \
        * np.array([REGION[r] for r in region])
    return pd.DataFrame({"policy_id": [f"p{i:05d}" for i in range(n)], "age": age,
                         "smoker": smoker, "region": region,
                         "charges": rng.gamma(shape, mu / shape)})


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return policies()


@pytest.fixture(scope="module")
def glm(book: pd.DataFrame) -> GLMPricing:
    return GLMPricing().fit(book)


@pytest.fixture(scope="module")
def gbm(book: pd.DataFrame) -> GBMPricing:
    return GBMPricing(n_bags=2, learning_rate=0.1).fit(book)


def test_glm_relativities_recover_exp_beta(glm: GLMPricing) -> None:
    coef = glm.coef_.set_index("term")
    assert coef.loc["age", "relativity"] == pytest.approx(np.exp(0.03), rel=0.003)
    assert coef.loc["smoker[yes]", "relativity"] == pytest.approx(3.0, rel=0.03)
    assert coef.loc["region[south]", "relativity"] == pytest.approx(1.5, rel=0.03)
    assert coef.loc["region[west]", "relativity"] == pytest.approx(0.8, rel=0.03)
    for term in ("smoker[yes]", "region[south]"):  # the 95% CIs cover the truth
        truth = {"smoker[yes]": 3.0, "region[south]": 1.5}[term]
        assert coef.loc[term, "ci_low"] < truth < coef.loc[term, "ci_high"]
    assert glm.features_.base_ == {"smoker": "no", "region": "north"}


def test_relativity_tables_share_the_base(glm: GLMPricing, gbm: GBMPricing,
                                          book: pd.DataFrame) -> None:
    for model in (glm, gbm):
        rel = model.relativities(book).set_index(["factor", "value"])["relativity"]
        assert rel[("region", "north")] == pytest.approx(1.0)
        base_age = model.reference_["age"]  # the median age
        assert rel[("age", base_age)] == pytest.approx(1.0)
        assert rel[("smoker", "yes")] == pytest.approx(3.0, rel=0.15)
        assert rel[("age", 64.0)] == pytest.approx(np.exp(0.03 * (64 - base_age)), rel=0.15)


def test_gbm_monotone_in_age_and_smoker(gbm: GBMPricing, book: pd.DataFrame) -> None:
    assert gbm.monotone_ == {"age": 1, "smoker": 1}
    row = book.iloc[[0]]
    ages = pd.concat([row.assign(age=a) for a in range(18, 65)], ignore_index=True)
    assert np.all(np.diff(gbm.predict(ages)) >= -1e-9)
    smokers = pd.concat([book.assign(smoker="no"), book.assign(smoker="yes")])
    p = gbm.predict(smokers).reshape(2, -1)
    assert np.all(p[1] >= p[0] - 1e-9)


def test_both_rank_well_and_balance(glm: GLMPricing, gbm: GBMPricing) -> None:
    test = policies(2000, seed=9)
    truth = gini(test["charges"], test["charges"])
    for model in (glm, gbm):
        assert gini(test["charges"], model.predict(test)) > 0.8 * truth
    book = policies()
    assert glm.predict(book).sum() == pytest.approx(book["charges"].sum(), rel=1e-9)


def test_premium_is_cost_times_loading(glm: GLMPricing, book: pd.DataFrame) -> None:
    assert np.allclose(glm.premium(book, loading=1.25), 1.25 * glm.predict(book))
    for bad in (0.9, float("nan"), "1.2"):
        with pytest.raises(ValueError, match="'loading' parameter of GLMPricing.premium"):
            glm.premium(book, loading=bad)  # type: ignore[arg-type]


def test_save_load_same_predictions(glm: GLMPricing, gbm: GBMPricing, book: pd.DataFrame,
                                    tmp_path: Path) -> None:
    for name, model in (("glm", glm), ("gbm", gbm)):
        model.save(tmp_path / name)
        again = type(model).load(tmp_path / name)
        assert np.array_equal(again.predict(book), model.predict(book))
        pd.testing.assert_frame_equal(again.relativities(book), model.relativities(book))
    assert (tmp_path / "glm" / "glm.json").is_file()
    assert (tmp_path / "gbm" / "model_0.txt").is_file()


def test_bad_input() -> None:
    book = policies(200)
    neg = book.assign(charges=book["charges"].where(book.index != 3, -5.0))
    with pytest.raises(DataValidationError, match=r"policies.charges has 1 negative .*rows 4"):
        GLMPricing(objective="tweedie").fit(neg)
    with pytest.raises(DataValidationError, match="<= 0 or missing.*use objective='tweedie'"):
        GLMPricing().fit(book.assign(charges=0.0))
    with pytest.raises(DataValidationError, match="no column.*'colour' named as rating"):
        GBMPricing(factors=("age", "colour")).fit(book)
    with pytest.raises(DataValidationError, match="no 'charges' column"):
        GLMPricing().fit(book.drop(columns="charges"))
    with pytest.raises(DataValidationError, match="monotone names 'region'"):
        GBMPricing(monotone={"region": 1}).fit(book)
    with pytest.raises(ValueError, match="'objective' parameter of GBMPricing"):
        GBMPricing(objective="poisson").fit(book)
    model = GLMPricing().fit(book)
    with pytest.raises(DataValidationError, match="region has a level unseen"):
        model.predict(book.assign(region="moon"))
    with pytest.raises(DataValidationError, match="missing rating factor column"):
        model.predict(book.drop(columns="age"))


def test_tweedie_takes_zero_claims() -> None:
    book = policies(400).assign(charges=lambda f: f["charges"].where(f.index % 3 != 0, 0.0))
    for model in (GLMPricing(objective="tweedie"), GBMPricing(objective="tweedie", n_bags=2)):
        assert (model.fit(book).predict(book) > 0).all()


def test_cross_validate_picks_the_champion_by_gini() -> None:
    result = cross_validate(policies(600), repeats=1, folds=3,
                            model_params={"gbm": {"n_bags": 2}})
    assert result["champion"] in ("gbm", "glm")
    gini_of = {m: result["summary"][m]["gini"]["mean"] for m in ("gbm", "glm")}
    assert result["champion"] == max(gini_of, key=gini_of.get)  # type: ignore[arg-type]
    assert result["paired"]["gbm - glm"]["gini"]["verdict"]
    assert len(result["folds"]) == 6


def test_holdout_evaluation_shapes() -> None:
    result = holdout_evaluation(policies(600), repeats=1, folds=2, n_boot=200,
                                model_params={"gbm": {"n_bags": 2}})
    assert result["config"]["n_test"] == 120
    assert len(result["double_lift"]) == 10 and set(result["calibration"]) == {"gbm", "glm"}
    d = result["gini_delta"]
    assert d["ci_low"] <= d["delta"] <= d["ci_high"]
    assert result["lorenz"]["perfect"]["y"][-1] == pytest.approx(1.0)
