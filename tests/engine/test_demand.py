"""DemandModel, its features and the forecast backtest, on tiny simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.demand import DemandModel, backtest, origin_features
from features.errors import DataValidationError

START = pd.Timestamp("2020-01-02")  # a Thursday, like Dominick's weeks
PARAMS = dict(horizon=3, quantiles=(0.1, 0.5, 0.9), n_estimators=40, learning_rate=0.1,
              num_leaves=8, min_child_samples=10, lags=(1, 2, 4), windows=(4, 8), n_jobs=1)


def simulate(n_stores: int = 3, n_items: int = 3, weeks: int = 70, seed: int = 0) -> pd.DataFrame:
    """Known structure: a promo doubles units, price elasticity -2, Poisson noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_stores):
        for i in range(n_items):
            base = 40.0 * (1 + s) * (1 + 0.5 * i)
            for w in range(weeks):
                promo = float(rng.random() < 0.25)
                price = 2.0 * rng.uniform(0.8, 1.2)
                mu = base * (2.0 if promo else 1.0) * (price / 2.0) ** -2
                rows.append((str(s), str(i), START + pd.Timedelta(weeks=w),
                             float(rng.poisson(mu)), price, promo, float(rng.random() < 0.1)))
    return pd.DataFrame(rows, columns=["store_id", "item_id", "date", "units", "price", "promo",
                                       "feat"])


def stores_table() -> pd.DataFrame:
    return pd.DataFrame({"store_id": ["0", "1", "2"], "income": [1.0, 2.0, 3.0]})


def split(sales: pd.DataFrame, origin: pd.Timestamp, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    hist = sales.loc[sales["date"] <= origin]
    fut = sales.loc[(sales["date"] > origin) & (sales["date"] <= origin + pd.Timedelta(weeks=h))]
    return hist, fut.drop(columns="units")


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    return simulate()


@pytest.fixture(scope="module")
def origin(sales: pd.DataFrame) -> pd.Timestamp:
    return sales["date"].max() - pd.Timedelta(weeks=10)


@pytest.fixture(scope="module")
def fitted(sales: pd.DataFrame, origin: pd.Timestamp) -> DemandModel:
    return DemandModel(**PARAMS).fit(sales.loc[sales["date"] <= origin], stores_table())


# ------------------------------------------------------------------------- leakage
def test_origin_features_use_only_data_up_to_origin(sales: pd.DataFrame) -> None:
    origins = sales.loc[sales["date"] >= START + pd.Timedelta(weeks=20),
                        ["store_id", "item_id", "date"]].iloc[::7]
    full = origin_features(sales, origins, lags=(1, 2, 4), windows=(4, 8))
    for idx, row in origins.iterrows():
        cut = sales.loc[sales["date"] <= row["date"]]
        alone = origin_features(cut, origins.loc[[idx]], lags=(1, 2, 4), windows=(4, 8))
        pd.testing.assert_frame_equal(full.loc[[idx]], alone)


def test_lags_are_calendar_correct_and_windows_stay_apart() -> None:
    frame = pd.DataFrame({
        "store_id": "s", "item_id": "i", "window_id": [0, 0, 0, 1, 1],
        "date": START + pd.to_timedelta([0, 7, 21, 0, 7], unit="D"),
        "units": [1.0, 2.0, 4.0, 100.0, 200.0], "price": 1.0, "promo": 0.0})
    origins = pd.DataFrame({"store_id": "s", "item_id": "i", "window_id": [0, 1],
                            "date": [START + pd.Timedelta(weeks=3), START + pd.Timedelta(weeks=1)]})
    out = origin_features(frame, origins, lags=(1, 2, 3), windows=(2,))
    # window 0: week 2 is missing, so lag2 (one period before the origin) is NaN, not 2.0
    assert out["units_lag1"].tolist() == [4.0, 200.0]
    assert np.isnan(out["units_lag2"].iloc[0]) and out["units_lag3"].iloc[0] == 2.0
    assert out["units_lag2"].iloc[1] == 100.0 and np.isnan(out["units_lag3"].iloc[1])
    assert out["n_history"].tolist() == [3.0, 2.0]


def test_spike_after_cutoff_changes_nothing(sales: pd.DataFrame, origin: pd.Timestamp,
                                            fitted: DemandModel) -> None:
    hist, fut = split(sales, origin, 3)
    spiked = sales.copy()
    spiked.loc[spiked["date"] > origin, "units"] *= 1000
    f_clean = fitted.forecast_features(hist, fut)
    f_spiked = fitted.forecast_features(spiked, fut, origin=origin)
    pd.testing.assert_frame_equal(f_clean, f_spiked)
    pd.testing.assert_frame_equal(fitted.predict(hist, fut),
                                  fitted.predict(spiked, fut, origin=origin))
    # in a backtest the first cutoff's model never sees the spike planted after it
    cut1 = sales["date"].max() - pd.Timedelta(weeks=6)
    spiked = sales.copy()
    spiked.loc[spiked["date"] > cut1, "units"] *= 1000
    params = {k: v for k, v in PARAMS.items() if k != "horizon"}
    a = backtest(sales, cutoffs=2, horizon=3, params=params)["predictions"]
    b = backtest(spiked, cutoffs=2, horizon=3, params=params)["predictions"]
    first_a, first_b = a[a["cutoff"] == cut1], b[b["cutoff"] == cut1]
    cols = ["lightgbm", "q0.1", "q0.5", "q0.9", "naive", "ma4", "ma8"]
    pd.testing.assert_frame_equal(first_a[cols], first_b[cols])
    # the later cutoff trains on the spike: the test has teeth
    assert not np.allclose(a.loc[a["cutoff"] > cut1, "lightgbm"],
                           b.loc[b["cutoff"] > cut1, "lightgbm"])


# -------------------------------------------------------------- known future inputs
def test_known_future_promo_moves_only_its_own_horizon(sales: pd.DataFrame, origin: pd.Timestamp,
                                                       fitted: DemandModel) -> None:
    hist, fut = split(sales, origin, 3)
    fut = fut.assign(promo=0.0, price=2.0)
    base = fitted.predict(hist, fut)
    target = (fut["store_id"] == "1") & (fut["item_id"] == "1") & \
             (fut["date"] == origin + pd.Timedelta(weeks=2))
    moved = fitted.predict(hist, fut.assign(promo=np.where(target, 1.0, 0.0)))
    changed = ~np.isclose(base["point"], moved["point"])
    hit = ((base["store_id"] == "1") & (base["item_id"] == "1") & (base["horizon"] == 2))
    # the h=2 forecast of that series rises; h=1 (promo at t+h+1) and h=3 do not move
    assert changed[hit].all() and not changed[~hit].any()
    assert moved.loc[hit, "point"].item() > 1.4 * base.loc[hit, "point"].item()


# ------------------------------------------------------------------------ quantiles
def test_quantiles_monotone_and_cover(sales: pd.DataFrame, origin: pd.Timestamp) -> None:
    params = {k: v for k, v in PARAMS.items() if k != "horizon"}
    res = backtest(sales, stores_table(), cutoffs=3, horizon=3, params=params)
    pred = res["predictions"]
    q = pred[["q0.1", "q0.5", "q0.9"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and (q >= 0).all()
    m = res["metrics"].set_index(["cutoff", "method"])
    assert 0.6 <= m.loc[("all", "lightgbm"), "coverage80"] <= 0.95
    # promos double demand: the model must beat the last value clearly
    assert m.loc[("all", "lightgbm"), "wape"] < 0.85 * m.loc[("all", "naive"), "wape"]
    assert set(m.index.get_level_values("method")) == {"lightgbm", "naive", "ma4", "ma8"}


def test_sample_paths_follow_the_quantiles(sales: pd.DataFrame, origin: pd.Timestamp,
                                           fitted: DemandModel) -> None:
    hist, fut = split(sales, origin, 3)
    paths = fitted.sample_paths(hist, fut, 4000, random_state=1)
    assert paths.shape == (9, 4000, 3) and (paths >= 0).all()
    pred = fitted.predict(hist, fut)
    med = pred["q0.5"].to_numpy().reshape(9, 3)
    lo, hi = pred["q0.1"].to_numpy().reshape(9, 3), pred["q0.9"].to_numpy().reshape(9, 3)
    np.testing.assert_allclose(np.median(paths, axis=1), med, rtol=0.05)
    inside = ((paths >= lo[:, None, :]) & (paths <= hi[:, None, :])).mean()
    assert inside == pytest.approx(0.8, abs=0.03)
    np.testing.assert_array_equal(paths, fitted.sample_paths(hist, fut, 4000, random_state=1))
    # rho=0.5 ties consecutive periods together (rank correlation > 0)
    ranks = paths[0].argsort(axis=0).argsort(axis=0)
    assert np.corrcoef(ranks[:, 0], ranks[:, 1])[0, 1] > 0.3


# ---------------------------------------------------------------- persistence, synthetic
def test_save_load_same_predictions(tmp_path, sales: pd.DataFrame, origin: pd.Timestamp,
                                    fitted: DemandModel) -> None:
    hist, fut = split(sales, origin, 3)
    path = fitted.save(tmp_path / "demand")
    loaded = DemandModel.load(path)
    pd.testing.assert_frame_equal(fitted.predict(hist, fut), loaded.predict(hist, fut))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.offsets_ == fitted.offsets_ and any(v != 0 for v in fitted.offsets_.values())
    (path / "h1_point.txt").write_text("tampered")
    with pytest.raises(DataValidationError, match="sha256"):
        DemandModel.load(path)


def test_synthetic_weight_zero_equals_none(sales: pd.DataFrame, origin: pd.Timestamp) -> None:
    train = sales.loc[sales["date"] <= origin]
    hist, fut = split(sales, origin, 3)
    syn = simulate(seed=5).assign(window_id=1)
    syn["units"] *= 3
    plain = DemandModel(**PARAMS).fit(train).predict(hist, fut)
    zero = DemandModel(**PARAMS).fit(train, synthetic=syn, synthetic_weight=0.0).predict(hist, fut)
    pd.testing.assert_frame_equal(plain, zero)
    used = DemandModel(**PARAMS).fit(train, synthetic=syn, synthetic_weight=1.0).predict(hist, fut)
    assert not np.allclose(plain["point"], used["point"])


# ------------------------------------------------------------------------ bad input
def test_bad_parameters_and_data(sales: pd.DataFrame, origin: pd.Timestamp,
                                 fitted: DemandModel) -> None:
    with pytest.raises(ValueError, match="'horizon' parameter of DemandModel"):
        DemandModel(horizon=0).fit(sales)
    with pytest.raises(ValueError, match="'quantiles' parameter"):
        DemandModel(quantiles=(0.5, 1.2)).fit(sales)
    with pytest.raises(DataValidationError, match="sales is empty"):
        DemandModel(**PARAMS).fit(sales.iloc[:0])
    with pytest.raises(DataValidationError, match=r"no column\(s\) \['promo'\]"):
        DemandModel(**PARAMS).fit(sales.drop(columns="promo"))
    neg = sales.copy()
    neg.loc[3, "units"] = -1
    with pytest.raises(DataValidationError, match="sales.units has 1 invalid"):
        DemandModel(**PARAMS).fit(neg)
    hist, fut = split(sales, origin, 3)
    with pytest.raises(DataValidationError, match="lacks rows for some horizons"):
        fitted.predict(hist, fut.drop(index=fut.index[1]))
    with pytest.raises(DataValidationError, match="outside the horizon"):
        fitted.predict(hist, split(sales, origin, 4)[1])
    stranger = fut.loc[fut["store_id"] == "0"].assign(store_id="99")
    with pytest.raises(DataValidationError, match="no history"):
        fitted.predict(hist, pd.concat([fut, stranger]))
    with pytest.raises(RuntimeError, match="not fitted"):
        DemandModel().predict(hist, fut)


# ----------------------------------------------------------- gap, objectives, train_end
def test_gap_trains_and_forecasts_only_the_later_horizons(sales: pd.DataFrame,
                                                          origin: pd.Timestamp) -> None:
    train = sales.loc[sales["date"] <= origin]
    model = DemandModel(**dict(PARAMS, gap=1)).fit(train)
    assert sorted({h for h, _ in model.boosters_}) == [2, 3]
    assert model.train_end_ == origin
    hist, fut = split(sales, origin, 3)
    later = fut.loc[fut["date"] > origin + pd.Timedelta(weeks=1)]
    pred = model.predict(hist, later)
    assert sorted(pred["horizon"].unique()) == [2, 3]
    with pytest.raises(DataValidationError, match=r"outside the horizon 2\.\.3"):
        model.predict(hist, fut)
    assert model.sample_paths(hist, later, 5, random_state=0).shape[2] == 2
    with pytest.raises(ValueError, match="'gap' parameter"):
        DemandModel(horizon=2, gap=2).fit(train)


def test_mape_objective_forecasts_below_the_median() -> None:
    """One series of i.i.d. demand {10, 100} with equal odds: the median is anywhere in
    [10, 100] (L1), while the MAPE-optimal forecast is 10 (an over-forecast of 90 costs 9x
    the percentage of an under-forecast of 90)."""
    rng = np.random.default_rng(1)
    n = 200
    units = rng.choice([10.0, 100.0], size=n)
    frame = pd.DataFrame({"store_id": "0", "item_id": "0",
                          "date": START + pd.to_timedelta(np.arange(n) * 7, unit="D"),
                          "units": units, "price": 2.0, "promo": 0.0, "feat": 0.0})
    kw = dict(horizon=1, quantiles=(), n_estimators=30, learning_rate=0.1, num_leaves=4,
              min_child_samples=20, lags=(1,), windows=(4,), n_jobs=1, calibration_periods=0)
    hist = frame.iloc[:-1]
    fut = frame.iloc[-1:].drop(columns="units")
    mape = DemandModel(**dict(kw, objective="mape")).fit(hist).predict(hist, fut)["point"]
    mean = DemandModel(**dict(kw, objective="tweedie")).fit(hist).predict(hist, fut)["point"]
    assert float(mape.iloc[0]) < 20 and float(mean.iloc[0]) > 40
    with pytest.raises(ValueError, match="'objective' parameter"):
        DemandModel(objective="mse").fit(frame)


def test_max_bin_reaches_the_boosters(sales: pd.DataFrame, origin: pd.Timestamp) -> None:
    train = sales.loc[sales["date"] <= origin]
    model = DemandModel(**dict(PARAMS, max_bin=15, quantiles=())).fit(train)
    assert "[max_bin: 15]" in model.boosters_[(1, "point")].model_to_string()
    with pytest.raises(ValueError, match="'max_bin' parameter"):
        DemandModel(max_bin=1).fit(train)
