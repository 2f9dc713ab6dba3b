"""Feature builders on tiny frames with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.credit import CreditFeatures
from features.demand import demand_features
from features.errors import DataValidationError
from features.matrix import build_user_items
from features.returns import log_returns
from features.users import user_features


@pytest.fixture
def interactions() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["u2", "u1", "u1", "u2", "u2", "u3"],
        "item_id": ["b", "a", "a", "c", "b", "c"],
        "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-03",
                              "2024-01-10", "2024-01-08"]),
        "qty": [1.0, 2.0, 1.0, 3.0, 1.0, 5.0],
        "value": [10.0, 4.0, 2.0, 9.0, 10.0, 1.0],
    })


class TestMatrix:
    def test_counts_and_layout(self, interactions: pd.DataFrame) -> None:
        m = build_user_items(interactions)
        assert list(m.user_ids) == ["u1", "u2", "u3"]
        assert list(m.item_ids) == ["a", "b", "c"]
        expected = np.array([[2, 0, 0], [0, 2, 1], [0, 0, 1]], dtype=np.float32)
        np.testing.assert_array_equal(m.matrix.toarray(), expected)

    @pytest.mark.parametrize(("weight", "cell"), [("qty", 2.0), ("value", 20.0),
                                                  ("binary", 1.0)])
    def test_weights(self, interactions: pd.DataFrame, weight: str, cell: float) -> None:
        m = build_user_items(interactions, weight=weight)  # type: ignore[arg-type]
        assert m.matrix[m.user_index(["u2"])[0], m.item_index(["b"])[0]] == cell

    def test_round_trip_and_unknown_ids(self, interactions: pd.DataFrame) -> None:
        m = build_user_items(interactions)
        back = m.to_frame().sort_values(["user_id", "item_id"], ignore_index=True)
        assert back[["user_id", "item_id"]].values.tolist() == [
            ["u1", "a"], ["u2", "b"], ["u2", "c"], ["u3", "c"]]
        assert back["weight"].tolist() == [2.0, 2.0, 1.0, 1.0]
        assert m.user_index(["u3", "nobody", "u1"]).tolist() == [2, -1, 0]

    def test_fixed_layout_drops_unlisted(self, interactions: pd.DataFrame) -> None:
        m = build_user_items(interactions, user_ids=np.array(["u1", "u2"]),
                             item_ids=np.array(["a", "b", "c", "d"]))
        assert m.shape == (2, 4)
        assert m.matrix.sum() == 5  # u3's row is not in the layout

    def test_bad_weight(self, interactions: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="'weight' parameter of build_user_items"):
            build_user_items(interactions, weight="rating")  # type: ignore[arg-type]


def test_user_features_rfm(interactions: pd.DataFrame) -> None:
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "age": [30, 40, 50, 60]})
    f = user_features(interactions, users).set_index("user_id")
    assert f.loc["u2", "frequency"] == 3
    assert f.loc["u2", "monetary"] == 29.0
    assert f.loc["u2", "quantity"] == 5.0
    assert f.loc["u2", "n_items"] == 2
    assert f.loc["u2", "recency_days"] == 0.0  # last interaction in the data
    assert f.loc["u1", "recency_days"] == 5.0  # 2024-01-05 -> 2024-01-10
    assert f.loc["u2", "tenure_days"] == 9.0
    assert f.loc["u4", "frequency"] == 0 and np.isnan(f.loc["u4", "recency_days"])
    assert f.loc["u3", "age"] == 50


def test_user_features_as_of_ignores_later_rows(interactions: pd.DataFrame) -> None:
    f = user_features(interactions, as_of="2024-01-04").set_index("user_id")
    assert f.loc["u2", "frequency"] == 2  # the 2024-01-10 row is after as_of
    assert "u3" not in f.index


@pytest.fixture
def sales() -> pd.DataFrame:
    dates = pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-22", "2024-01-29",
                            "2024-02-05"])
    return pd.DataFrame({
        "store_id": ["1"] * 10,
        "item_id": ["a"] * 5 + ["b"] * 5,
        "date": list(dates) * 2,
        "units": [1.0, 2, 3, 4, 5, 10, 20, 30, 40, 50],
        "price": [1.0] * 5 + [3.0] * 5,
        "promo": [0.0, 1, 0, 0, 1] * 2,
        "feat": [0.5] * 10,
    })


class TestDemand:
    def test_calendar_lags_and_windows(self, sales: pd.DataFrame) -> None:
        f = demand_features(sales, lags=(1, 2), windows=(2,), exog=("feat",))
        a = f[f["item_id"] == "a"].reset_index(drop=True)
        # 2024-01-15 is missing: lags follow the calendar, not row positions.
        np.testing.assert_allclose(a["units_lag1"], [np.nan, 1.0, np.nan, 3.0, 4.0])
        np.testing.assert_allclose(a["units_lag2"], [np.nan, np.nan, 2.0, np.nan, 3.0])
        np.testing.assert_allclose(a["units_mean_2"], [np.nan, 1.0, 2.0, 3.0, 3.5])
        np.testing.assert_allclose(a["units_std_2"].iloc[4], np.std([3.0, 4.0], ddof=1))
        assert a["n_history"].tolist() == [0, 1, 2, 3, 4]
        assert a["feat"].tolist() == [0.5] * 5

    def test_no_feature_sees_its_own_target(self, sales: pd.DataFrame) -> None:
        spiked = sales.copy()
        spiked.loc[4, "units"] = 1e6  # the last row of item a
        base = demand_features(sales)
        f = demand_features(spiked)
        lag_cols = [c for c in f.columns if c.startswith("units_")]
        pd.testing.assert_frame_equal(f.loc[4, lag_cols].to_frame(),
                                      base.loc[4, lag_cols].to_frame())

    def test_relative_price_and_calendar(self, sales: pd.DataFrame) -> None:
        f = demand_features(sales)
        assert f.loc[f["item_id"] == "a", "rel_price"].tolist() == [pytest.approx(1 / 3)] * 5
        assert f.loc[f["item_id"] == "b", "rel_price"].tolist() == [pytest.approx(3.0)] * 5
        np.testing.assert_allclose(f["log_price"].iloc[5], np.log(3.0))
        assert f["week_of_year"].iloc[:5].tolist() == [1, 2, 4, 5, 6]
        assert f["month"].iloc[4] == 2

    def test_store_attributes_joined(self, sales: pd.DataFrame) -> None:
        stores = pd.DataFrame({"store_id": ["1"], "income": [10.5], "price": [9.0]})
        f = demand_features(sales, stores)
        assert (f["income"] == 10.5).all()
        assert "store_price" in f.columns  # a clash is prefixed, never overwritten
        assert (f["price"] != 9.0).all()

    def test_daily_frequency(self) -> None:
        s = pd.DataFrame({"store_id": "s", "item_id": "i",
                          "date": pd.date_range("2024-01-01", periods=4, freq="D"),
                          "units": [1.0, 2, 3, 4], "price": 1.0, "promo": 0.0})
        f = demand_features(s, lags=(1,), windows=(2,), freq_days=1)
        np.testing.assert_allclose(f["units_lag1"], [np.nan, 1, 2, 3])
        np.testing.assert_allclose(f["units_mean_2"], [np.nan, 1, 1.5, 2.5])

    @pytest.mark.parametrize(("kwargs", "match"), [
        ({"lags": ()}, "'lags' parameter"),
        ({"windows": (0,)}, "'windows' parameter"),
        ({"freq_days": 0}, "'freq_days' parameter"),
        ({"exog": ("nope",)}, "'exog' parameter"),
    ])
    def test_bad_params(self, sales: pd.DataFrame, kwargs: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            demand_features(sales, **kwargs)


class TestCredit:
    @pytest.fixture
    def applicants(self) -> pd.DataFrame:
        return pd.DataFrame({
            "applicant_id": ["1", "2", "3"],
            "age": [25, 40, 61],
            "housing": ["rent", "own", "own"],
            "default": [1, 0, 0],
        })

    def test_types_and_fixed_categories(self, applicants: pd.DataFrame) -> None:
        cf = CreditFeatures().fit(applicants)
        X, y = cf.transform(applicants)
        assert cf.numeric_ == ["age"] and cf.categories_ == {"housing": ["own", "rent"]}
        assert X["age"].dtype == np.float64
        assert X["housing"].cat.codes.tolist() == [1, 0, 0]
        assert y is not None and y.tolist() == [1, 0, 0]

    def test_problems_per_row(self, applicants: pd.DataFrame) -> None:
        cf = CreditFeatures().fit(applicants)
        new = pd.DataFrame({"applicant_id": ["9", "10", "11"], "age": [30, None, "x"],
                            "housing": ["own", "castle", None]})
        problems = cf.problems(new).tolist()
        assert problems[0] == ""
        assert "age is missing" in problems[1] and "unseen" in problems[1]
        assert "age is not a number" in problems[2] and "housing is missing" in problems[2]
        X, y = cf.transform(new)
        assert y is None and np.isnan(X.loc[1, "age"]) and pd.isna(X.loc[1, "housing"])

    def test_missing_column_is_an_error(self, applicants: pd.DataFrame) -> None:
        cf = CreditFeatures().fit(applicants)
        with pytest.raises(DataValidationError, match="missing feature column.*housing"):
            cf.transform(applicants.drop(columns="housing"))

    def test_transform_before_fit(self, applicants: pd.DataFrame) -> None:
        with pytest.raises(RuntimeError, match="not fitted"):
            CreditFeatures().transform(applicants)


def test_log_returns_hand_computed() -> None:
    prices = pd.DataFrame({
        "date": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03", "2024-01-01",
                                "2024-01-03"]),
        "asset": ["A", "A", "A", "B", "B"],
        "close": [110.0, 100.0, 99.0, 50.0, 55.0],
    })
    wide = log_returns(prices)
    assert list(wide.columns) == ["A", "B"]
    np.testing.assert_allclose(wide["A"].to_numpy(), [np.log(1.1), np.log(99 / 110)])
    # B has no price on 2024-01-02: its return spans its two consecutive prices.
    np.testing.assert_allclose(wide["B"].to_numpy(), [np.nan, np.log(1.1)])
    long = log_returns(prices, wide=False)
    assert len(long) == 3 and set(long.columns) == {"date", "asset", "log_return"}
