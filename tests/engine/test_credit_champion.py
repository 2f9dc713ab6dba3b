"""Credit champion / challenger: the points Scorecard (monotone WOE bins, PDO points,
reason codes, persistence, errors) and select_champion on tables of known structure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.credit import (
    LGB_GRID,
    CreditModel,
    Scorecard,
    load_credit_model,
    select_champion,
)
from features.artifacts import ArtifactError
from features.errors import DataValidationError

GRID = (LGB_GRID[0], LGB_GRID[3])  # stumps and the default 8 leaves: enough, and fast


def _linear(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Log-odds linear in amount (risk up), age (risk down) and renting."""
    rng = np.random.default_rng(seed)
    amount = rng.uniform(0, 10, n)
    age = rng.integers(20, 70, n).astype(float)
    housing = rng.choice(["own", "rent", "free"], n, p=[0.5, 0.3, 0.2])
    logit = -1.0 + 0.5 * (amount - 5) - 0.05 * (age - 45) + 1.2 * (housing == "rent")
    return pd.DataFrame({"applicant_id": [f"a{i:04d}" for i in range(n)], "amount": amount,
                         "age": age, "housing": housing,
                         "default": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})


def _xor(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Default when exactly one of x1, x2 is positive (85% of the time): no additive
    model of x1 and x2 separates it, two-level trees do."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    flip = rng.random(n) < 0.15
    return pd.DataFrame({"applicant_id": [f"x{i:05d}" for i in range(n)], "x1": x1, "x2": x2,
                         "default": (((x1 > 0) != (x2 > 0)) ^ flip).astype(int)})


@pytest.fixture(scope="module")
def linear() -> pd.DataFrame:
    return _linear()


@pytest.fixture(scope="module")
def card(linear: pd.DataFrame) -> Scorecard:
    return Scorecard().fit(linear)


# --------------------------------------------------------------------------- bins
def test_bins_are_monotone_in_the_direction_of_the_data(card: Scorecard) -> None:
    assert card.directions_ == {"amount": 1, "age": -1}
    for col, sign in card.directions_.items():
        rates = card.bins_[col]["bad_rate"]
        assert len(rates) >= 3  # a real shape, not one flat bin
        assert (np.diff(rates) * sign > 0).all()
        assert (card.bins_[col]["count"] >= card.min_bin_share * 600 - 1e-9).all()
        woe = card.bins_[col]["woe"]  # WOE is ln(good/bad): it falls where the risk rises
        assert (np.diff(woe) * sign < 0).all()
    table = card.table()
    assert list(table.columns) == ["feature", "bin", "count", "bad_rate", "woe", "coef",
                                   "points"]
    housing = table[table.feature == "housing"].set_index("bin")
    assert housing.loc["rent", "points"] < housing.loc["own", "points"]


def test_rare_categories_merge_with_a_neighbour(linear: pd.DataFrame) -> None:
    frame = linear.copy()
    frame.loc[:5, "housing"] = "boat"  # 6 of 600 rows: under min_bin_share
    fitted = Scorecard().fit(frame)
    labels = fitted.bins_["housing"]["labels"]
    assert not any(label == "boat" for label in labels)
    assert any("boat" in label for label in labels)


# ------------------------------------------------------------------------- points
def test_points_follow_pdo_scaling_by_hand(card: Scorecard, linear: pd.DataFrame) -> None:
    factor = 20 / math.log(2)  # 28.85 points per unit of log-odds
    offset = 600 - factor * math.log(50)  # 487.12
    np.testing.assert_allclose(card.points(np.array([1 / 51, 1 / 101, 1 / 26])),
                               [600, 620, 580], atol=1e-6)  # 50:1, 100:1, 25:1
    out = card.score(linear.drop(columns="default").iloc[:50])
    odds = (1 - out["pd"]) / out["pd"]
    np.testing.assert_allclose(out["score"], offset + factor * np.log(odds), rtol=1e-9)
    # the score is the sum of the table's points of the applicant's bins
    table = card.table()
    row = linear.iloc[0]
    total = 0.0
    for col in ("amount", "age", "housing"):
        rows = table[table.feature == col].reset_index(drop=True)
        if col == "housing":
            b = next(i for i, label in enumerate(rows["bin"])
                     if row["housing"] in label.split(", "))
        else:
            b = int(np.searchsorted(card.bins_[col]["edges"], row[col], side="right"))
        total += rows.loc[b, "points"]
    assert total == pytest.approx(out["score"].iloc[0], rel=1e-9)


def test_reason_codes_are_points_lost_against_the_best_bin(card: Scorecard) -> None:
    worst = {"applicant_id": "worst", "amount": 9.9, "age": 21.0, "housing": "rent"}
    best = {"applicant_id": "best", "amount": 0.1, "age": 69.0, "housing": "own"}
    out = card.score(pd.DataFrame([worst, best])).set_index("applicant_id")
    reasons = [out.loc["worst", f"reason_{k}"] for k in range(1, 4)]
    assert set(reasons) == {"amount", "age", "housing"}
    table = card.table()
    lost = {f: table[table.feature == f]["points"].max() - table[table.feature == f]["points"]
            for f in ("amount", "age", "housing")}
    assert out.loc["worst", "reason_1_value"] == pytest.approx(
        max(lost[out.loc["worst", "reason_1"]]))
    values = [out.loc["worst", f"reason_{k}_value"] for k in range(1, 4)]
    assert values == sorted(values, reverse=True) and min(values) > 0
    assert out.loc["best", "reason_1"] == "" and np.isnan(out.loc["best", "reason_1_value"])
    assert out.loc["worst", "pd"] > 0.5 > out.loc["best", "pd"]


# -------------------------------------------------------------- persistence, errors
def test_save_load_gives_the_same_scores(tmp_path: Path, card: Scorecard,
                                         linear: pd.DataFrame) -> None:
    apps = linear.drop(columns="default").iloc[:40]
    loaded = load_credit_model(card.save(tmp_path / "card"))
    assert isinstance(loaded, Scorecard)
    pd.testing.assert_frame_equal(loaded.score(apps), card.score(apps))
    pd.testing.assert_frame_equal(loaded.table(), card.table())
    with pytest.raises(ArtifactError, match="holds a Scorecard, not a CreditModel"):
        CreditModel.load(tmp_path / "card")
    # a champion folder may switch class: a CreditModel replaces the scorecard
    CreditModel(n_estimators=20, n_bags=2).fit(linear).save(tmp_path / "card")
    assert isinstance(load_credit_model(tmp_path / "card"), CreditModel)


def test_bad_rows_get_errors_and_bad_input_raises(card: Scorecard,
                                                  linear: pd.DataFrame) -> None:
    apps = linear.drop(columns="default").iloc[:3].copy()
    apps.loc[apps.index[1], "amount"] = np.nan
    apps.loc[apps.index[2], "housing"] = "castle"
    out = card.score(apps)
    assert list(out["error"] == "") == [True, False, False]
    assert "amount is missing" in out["error"].iloc[1]
    assert "housing has a category unseen" in out["error"].iloc[2]
    assert out["pd"].iloc[1:].isna().all() and out["score"].iloc[1:].isna().all()
    assert (out["reason_1"].iloc[1:] == "").all()
    with pytest.raises(DataValidationError, match=r"2 rows that cannot be used"):
        card.predict_proba(apps)
    with pytest.raises(DataValidationError, match="no 'applicant_id' column"):
        card.score(apps.drop(columns="applicant_id"))
    with pytest.raises(DataValidationError, match="missing feature column"):
        card.score(apps.drop(columns="age"))
    with pytest.raises(DataValidationError, match="rows that cannot be used"):
        Scorecard().fit(linear.assign(amount=np.where(linear.index == 3, np.nan,
                                                      linear["amount"])))
    with pytest.raises(DataValidationError, match="no 'default' column"):
        Scorecard().fit(linear.drop(columns="default"))
    with pytest.raises(ValueError, match="The 'min_bin_share' parameter of Scorecard"):
        Scorecard(min_bin_share=0.9).fit(linear)
    with pytest.raises(ValueError, match="The 'calibration' parameter of Scorecard"):
        Scorecard(calibration="isotonic").fit(linear)
    with pytest.raises(RuntimeError, match="not fitted"):
        Scorecard().score(apps)


# ----------------------------------------------------------------------- champion
def test_linear_small_table_keeps_the_scorecard() -> None:
    frame = _linear(300, seed=1)
    champ, report = select_champion(frame, repeats=1, folds=3, grid=GRID)
    assert report["champion"] == "scorecard" and isinstance(champ, Scorecard)
    assert "scorecard" in report["reason"]
    for name in ("lightgbm", "scorecard"):
        cv = report[name]["cv_auc"]
        assert cv["ci_low"] <= cv["mean"] <= cv["ci_high"] and len(report[name]["fold_auc"]) == 3
    assert report["paired_auc"]["ci_high"] >= 0 or "better beyond" in report["reason"]


def test_interaction_makes_lightgbm_the_champion() -> None:
    champ, report = select_champion(_xor(), repeats=1, folds=3, grid=GRID)
    assert report["champion"] == "lightgbm" and isinstance(champ, CreditModel)
    assert report["paired_auc"]["ci_low"] > 0 and "LightGBM is better" in report["reason"]
    assert report["lightgbm"]["cv_auc"]["mean"] > 0.8 > report["scorecard"]["cv_auc"]["mean"]
    assert report["lightgbm"]["params"] in [dict(g) for g in GRID]


def test_forced_model_and_bad_arguments(linear: pd.DataFrame) -> None:
    champ, report = select_champion(linear, model="scorecard", repeats=1, folds=3)
    assert isinstance(champ, Scorecard) and "lightgbm" not in report
    assert report["reason"] == "requested with --model scorecard"
    with pytest.raises(ValueError, match="The 'model' parameter of select_champion"):
        select_champion(linear, model="forest")
    with pytest.raises(DataValidationError, match="too few rows of a class for 5-fold CV"):
        select_champion(linear.iloc[:12].assign(default=[1, 1, 1] + [0] * 9))


def test_synthetic_rows_count_only_with_weight(card: Scorecard, linear: pd.DataFrame) -> None:
    syn = _linear(200, seed=5).drop(columns="applicant_id")
    apps = linear.drop(columns="default").iloc[:20]
    same = Scorecard().fit(linear, synthetic=syn, synthetic_weight=0.0)
    np.testing.assert_allclose(same.predict_proba(apps), card.predict_proba(apps))
    moved = Scorecard().fit(linear, synthetic=syn, synthetic_weight=0.5)
    assert not np.allclose(moved.predict_proba(apps), card.predict_proba(apps))
    for col in ("amount", "age"):  # the cuts come from the real rows only
        assert set(moved.bins_[col]["edges"]) <= set(np.quantile(
            linear[col], np.linspace(0, 1, 21)[1:-1]))
