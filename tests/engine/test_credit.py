"""Credit risk: monotone calibrated LightGBM PD model, WOE baseline, PSI, metrics and CV."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from engine.credit import Calibrator, CreditModel, WoeLogistic, cross_validate
from engine.credit.data import feature_matrix
from features.errors import DataValidationError

FAST: dict[str, Any] = {"n_estimators": 150, "learning_rate": 0.1, "n_bags": 2}


def _toy(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Applicants whose default risk rises with ``amount`` and is higher for renters."""
    rng = np.random.default_rng(seed)
    amount = rng.uniform(0, 10, n)
    age = rng.integers(20, 70, n)
    housing = rng.choice(["own", "rent", "free"], n)
    logit = -1.0 + 0.6 * (amount - 5) + 1.0 * (housing == "rent") - 0.02 * (age - 45)
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"applicant_id": [f"a{i:04d}" for i in range(n)], "amount": amount,
                         "age": age, "housing": housing, "noise": rng.normal(size=n),
                         "default": default})


@pytest.fixture(scope="module")
def toy() -> pd.DataFrame:
    return _toy()


@pytest.fixture(scope="module")
def model(toy: pd.DataFrame) -> CreditModel:
    return CreditModel(monotone={"amount": 1}, **FAST).fit(toy)


# ------------------------------------------------------------------------ monotone
def _grid_pd(model: CreditModel, toy: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    base = toy.drop(columns="default").iloc[:20]
    rows = base.loc[base.index.repeat(len(grid))].reset_index(drop=True)
    rows["amount"] = np.tile(grid, len(base))
    return model.predict_proba(rows).reshape(len(base), len(grid))


def test_pd_is_monotone_in_a_constrained_feature(toy: pd.DataFrame, model: CreditModel) -> None:
    grid = np.linspace(0, 10, 41)
    pd_up = _grid_pd(model, toy, grid)
    assert (np.diff(pd_up, axis=1) >= -1e-12).all()
    assert (pd_up[:, -1] > pd_up[:, 0]).all()  # the effect is learnt, not flattened away
    down = CreditModel(monotone={"amount": -1}, **FAST).fit(toy)
    assert (np.diff(_grid_pd(down, toy, grid), axis=1) <= 1e-12).all()


def test_default_monotone_only_for_present_columns(toy: pd.DataFrame) -> None:
    frame = toy.rename(columns={"amount": "duration_in_month"})
    fitted = CreditModel(**FAST).fit(frame)
    assert fitted.monotone_ == {"duration_in_month": 1}
    assert fitted.direction_check_["duration_in_month"] > 0
    assert CreditModel(monotone={}, **FAST).fit(frame).monotone_ == {}


def test_monotone_must_name_numeric_features(toy: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="'housing'.*not numeric"):
        CreditModel(monotone={"housing": 1}, **FAST).fit(toy)
    with pytest.raises(DataValidationError, match="'nope'"):
        CreditModel(monotone={"nope": 1}, **FAST).fit(toy)
    with pytest.raises(ValueError, match="The 'monotone' parameter of CreditModel"):
        CreditModel(monotone={"amount": 2}).fit(toy)


# ---------------------------------------------------------------------- calibration
def test_calibration_improves_brier_of_miscalibrated_scores() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(int)
    raw = 3 * z + 1  # right order, wrong scale and offset
    fit, test = slice(0, 2000), slice(2000, None)
    before = brier_score_loss(y[test], 1 / (1 + np.exp(-raw[test])))
    for method in ("platt", "isotonic"):
        cal = Calibrator(method).fit(raw[fit], y[fit])
        after = brier_score_loss(y[test], cal.predict(raw[test]))
        assert after < before - 0.01, method
        assert np.all(np.diff(cal.predict(np.sort(raw[test]))) >= 0)  # keeps the order
    platt = Calibrator("platt").fit(raw[fit], y[fit])
    assert platt.coef_[0] == pytest.approx(1 / 3, abs=0.05)


def test_auto_calibration_is_chosen_by_held_out_brier(toy: pd.DataFrame,
                                                       model: CreditModel) -> None:
    scores = model.calibration_scores_
    assert set(scores) == {"none", "platt", "isotonic"}
    assert model.calibration_ == min(scores, key=lambda k: scores[k])
    forced = CreditModel(calibration="isotonic", monotone={}, **FAST).fit(toy)
    assert forced.calibration_ == "isotonic" and forced.calibrator_.x_.size > 0
    single = CreditModel(**{**FAST, "n_bags": 1, "validation_fraction": 0.25}).fit(toy)
    assert len(single.boosters_) == 1
    assert roc_auc_score(toy["default"], single.predict_proba(toy)) > 0.75


# ------------------------------------------------------------------ reasons, points
def test_reason_codes_name_the_driver_of_a_high_pd() -> None:
    rng = np.random.default_rng(2)
    n = 800
    frame = pd.DataFrame({"applicant_id": np.arange(n).astype(str),
                          "amount": rng.uniform(0, 10, n), "age": rng.uniform(20, 70, n),
                          "housing": rng.choice(["own", "rent"], n)})
    frame["default"] = (rng.random(n) < np.where(frame.amount > 8, 0.9, 0.1)).astype(int)
    fitted = CreditModel(**FAST).fit(frame)
    probe = frame.drop(columns="default").iloc[:50].copy()
    probe["amount"] = 9.5
    out = fitted.score(probe)
    assert (out["reason_1"] == "amount").all()
    assert (out["reason_1_value"] > 0).all()
    vals = out[[f"reason_{k}_value" for k in range(1, 5)]].to_numpy()
    filled = np.where(np.isnan(vals), -np.inf, vals)
    assert (filled == -np.sort(-filled, axis=1)).all()  # largest contribution first
    assert ((out[[f"reason_{k}" for k in range(1, 5)]] == "") == np.isnan(vals)).all().all()
    np.testing.assert_allclose(out["pd"], fitted.predict_proba(probe))


def test_points_follow_pdo_scaling(model: CreditModel) -> None:
    card = CreditModel(pdo=20, base_score=600, base_odds=50)
    odds = np.array([50.0, 100.0, 25.0, 200.0])
    np.testing.assert_allclose(card.points(1 / (1 + odds)), [600, 620, 580, 640])
    assert np.isnan(card.points(np.array([np.nan])))[0]
    assert np.isfinite(card.points(np.array([0.0, 1.0]))).all()  # clipped, not infinite
    out = model.score(_toy(30, seed=5))
    np.testing.assert_allclose(out["score"], model.points(out["pd"].to_numpy()))
    model.n_reasons = 0  # PD and points only: no SHAP pass, no reason columns
    try:
        bare = model.score(_toy(30, seed=5))
    finally:
        model.n_reasons = 4
    assert list(bare.columns) == ["applicant_id", "pd", "score", "error"]
    np.testing.assert_allclose(bare["pd"], out["pd"])


# ---------------------------------------------------------------- per-row errors
def test_bad_rows_get_an_error_and_are_not_scored(model: CreditModel) -> None:
    frame = _toy(8, seed=9).drop(columns="default")
    frame["amount"] = frame["amount"].astype(object)
    frame.loc[0, "amount"] = None
    frame.loc[1, "housing"] = "castle"
    frame.loc[2, "amount"] = "lots"
    out = model.score(frame)
    assert len(out) == 8 and out["applicant_id"].tolist() == frame["applicant_id"].tolist()
    assert "amount is missing" in out.loc[0, "error"]
    assert "housing has a category unseen" in out.loc[1, "error"]
    assert "amount is not a number" in out.loc[2, "error"]
    bad = out.index < 3
    assert out.loc[bad, ["pd", "score", "reason_1_value"]].isna().all().all()
    assert (out.loc[bad, "reason_1"] == "").all()
    assert (out.loc[~bad, "error"] == "").all() and out.loc[~bad, "pd"].notna().all()
    clean = model.score(_toy(8, seed=9).drop(columns="default"))
    np.testing.assert_allclose(out.loc[~bad, "pd"], clean.loc[~bad, "pd"])
    with pytest.raises(DataValidationError, match="3 rows that cannot be used"):
        model.predict_proba(frame)
    with pytest.raises(DataValidationError, match="missing feature column"):
        model.score(frame.drop(columns="age"))
    with pytest.raises(DataValidationError, match="no 'applicant_id'"):
        model.score(frame.drop(columns="applicant_id"))


# -------------------------------------------------------------------- persistence
def test_save_load_gives_the_same_scores(tmp_path, toy: pd.DataFrame,
                                         model: CreditModel) -> None:
    path = model.save(tmp_path / "credit")
    loaded = CreditModel.load(path)
    probe = toy.drop(columns="default").iloc[:100]
    pd.testing.assert_frame_equal(loaded.score(probe), model.score(probe))
    assert loaded.features_.categories_ == model.features_.categories_
    assert loaded.calibration_ == model.calibration_
    model.save(path)  # replacing a saved model is fine
    (path / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(DataValidationError, match="sha256"):
        CreditModel.load(path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "file")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------- synthetic
def test_synthetic_rows_with_zero_weight_change_nothing(toy: pd.DataFrame) -> None:
    synthetic = _toy(300, seed=7)
    synthetic["default"] = 1 - synthetic["default"]  # harmful rows, to see them act
    probe = toy.iloc[:100]
    plain = CreditModel(monotone={}, **FAST).fit(toy).predict_proba(probe)
    zero = CreditModel(monotone={}, **FAST).fit(toy, synthetic=synthetic, synthetic_weight=0.0)
    assert zero.n_synthetic_ == 0
    np.testing.assert_array_equal(zero.predict_proba(probe), plain)
    used = CreditModel(monotone={}, **FAST).fit(toy, synthetic=synthetic)
    assert used.n_synthetic_ == 300
    assert not np.allclose(used.predict_proba(probe), plain)
    again = CreditModel(monotone={}, **FAST).fit(toy).predict_proba(probe)
    np.testing.assert_array_equal(again, plain)  # same seed, same data, same output
    synthetic.loc[3, "housing"] = "castle"
    with pytest.raises(DataValidationError, match="synthetic_applicants has 1 rows"):
        CreditModel(**FAST).fit(toy, synthetic=synthetic)


# -------------------------------------------------------------------- bad input
def test_bad_training_data_and_parameters(toy: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="no 'default' column"):
        CreditModel().fit(toy.drop(columns="default"))
    wrong = toy.copy()
    wrong.loc[[4, 9], "default"] = 2
    with pytest.raises(DataValidationError, match=r"2 values that are not 0 or 1 \(rows 5, 10\)"):
        CreditModel().fit(wrong)
    with pytest.raises(DataValidationError, match="applicants is empty"):
        CreditModel().fit(toy.iloc[:0])
    with pytest.raises(DataValidationError, match="at least 2 of each"):
        CreditModel().fit(toy[toy["default"] == 0])
    holes = toy.copy()
    holes.loc[5, "age"] = np.nan
    with pytest.raises(DataValidationError, match="1 rows that cannot be used .rows 6"):
        CreditModel().fit(holes)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        CreditModel().fit(toy.to_numpy())
    with pytest.raises(ValueError, match="The 'calibration' parameter of CreditModel"):
        CreditModel(calibration="beta").fit(toy)
    with pytest.raises(ValueError, match="The 'validation_fraction' parameter"):
        CreditModel(validation_fraction=0.9).fit(toy)
    with pytest.raises(ValueError, match="The 'n_bags' parameter"):
        CreditModel(n_bags=0).fit(toy)
    with pytest.raises(RuntimeError, match="not fitted"):
        CreditModel().score(toy)


# ---------------------------------------------------------- baseline and metrics
def test_woe_logistic_learns_the_toy_signal(toy: pd.DataFrame) -> None:
    test = _toy(400, seed=11)
    woe = WoeLogistic(bins=5).fit(toy)
    assert roc_auc_score(test["default"], woe.predict_proba(test)) > 0.75
    assert max(woe.iv_, key=lambda k: woe.iv_[k]) == "amount"
    assert np.all(np.diff(woe.woe_["amount"]) < 0)  # more amount, fewer goods per bad
    assert len(woe.woe_["housing"]) == 3


def test_cross_validate_pairs_models_over_the_same_folds(toy: pd.DataFrame) -> None:
    out = cross_validate(toy, repeats=2, folds=2, model_params={"lightgbm": FAST})
    assert len(out["folds"]) == 2 * 2 * 2
    for name in ("lightgbm", "woe_logistic"):
        auc = out["summary"][name]["auc"]
        assert auc["ci_low"] <= auc["mean"] <= auc["ci_high"]
        assert auc["ci_low"] <= auc["naive_ci_low"]  # the corrected interval is wider
    paired = out["paired"]["lightgbm - woe_logistic"]
    assert set(paired) == {"auc", "ks", "brier", "pr_auc", "recall_at_fpr"}
    assert paired["brier"]["higher_is_better"] is False
    assert paired["auc"]["verdict"] in {"better", "worse", "no significant difference"}
    table = pd.DataFrame(out["folds"])
    lgb_auc = table[table.model == "lightgbm"]["auc"].to_numpy()
    lr_auc = table[table.model == "woe_logistic"]["auc"].to_numpy()
    assert paired["auc"]["mean"] == pytest.approx(np.mean(lgb_auc - lr_auc))
    with pytest.raises(ValueError, match="The 'models' parameter of cross_validate"):
        cross_validate(toy, models=("xgboost",))


def test_holdout_drives_early_stopping_and_calibration(toy: pd.DataFrame) -> None:
    fit_part, hold = toy.iloc[:450], toy.iloc[450:]
    defaults_only = fit_part[fit_part["default"] == 1]  # one-class synthetic rows are fine
    model = CreditModel(random_state=0, n_jobs=1).fit(
        fit_part, synthetic=defaults_only, holdout=hold)
    assert len(model.boosters_) == 1 and model.n_synthetic_ == len(defaults_only)
    p = model.predict_proba(hold)
    assert roc_auc_score(hold["default"], p) > 0.6
    # The calibrator was fitted on the holdout's scores: refitting on the same margins
    # reproduces it exactly.
    margin = model._margin(feature_matrix(model.features_, hold))
    again = Calibrator(model.calibration_).fit(margin, hold["default"].to_numpy())
    assert np.allclose(again.predict(margin), p)
    with pytest.raises(DataValidationError, match="holdout_applicants has no 'default'"):
        CreditModel(random_state=0).fit(fit_part, holdout=hold.drop(columns="default"))
