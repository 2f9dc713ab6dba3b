"""The ``demand`` lift task on tiny simulated weekly sales.

3 stores x 4 items x 40 weeks with a known structure (a promo doubles units, price
elasticity -2, Poisson noise), plus two edge cases: series ``0|3`` misses its last week
(not a test unit) and series ``2|9`` starts in the validation window (a test unit only).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment.sales import SalesWindowGenerator
from engine.demand import DemandModel
from engine.lift import LiftConfig, get_task, run_lift
from engine.lift.demand import DemandLiftTask, jitter_windows, n_windows
from engine.lift.stats import VERDICTS
from features.errors import DataValidationError

START = pd.Timestamp("2020-01-02")
WEEKS, H = 40, 2
FAST: dict[str, Any] = {"horizon": H, "window": 6, "short_periods": 4, "short_share": 0.25,
                        "n_estimators": 5, "learning_rate": 0.3, "num_leaves": 4,
                        "min_child_samples": 5, "epochs": 1, "calibration_periods": 0}


def tiny_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(3):
        for i in range(4):
            base = 40.0 * (1 + s) * (1 + 0.5 * i)
            for w in range(WEEKS):
                promo = float(rng.random() < 0.25)
                price = 2.0 * rng.uniform(0.8, 1.2)
                mu = base * (2.0 if promo else 1.0) * (price / 2.0) ** -2
                rows.append((s, str(i), START + pd.Timedelta(weeks=w), float(rng.poisson(mu)),
                             price, promo, float(rng.random() < 0.1)))
    for w in range(WEEKS - 2 * H, WEEKS):  # a new series: first seen in validation
        rows.append((2, "9", START + pd.Timedelta(weeks=w), 30.0, 2.0, 0.0, 0.0))
    sales = pd.DataFrame(rows, columns=["store_id", "item_id", "date", "units", "price",
                                        "promo", "feat"])
    last = sales["date"] == sales["date"].max()
    sales = sales.loc[~(last & (sales["store_id"] == 0) & (sales["item_id"] == "3"))]
    stores = pd.DataFrame({"store_id": [0, 1, 2], "income": [1.0, 2.0, 3.0]})
    return {"sales": sales.reset_index(drop=True), "stores": stores}


def config(**kw: Any) -> LiftConfig:
    params = {**FAST, **kw.pop("params", {})}
    base: dict[str, Any] = dict(task="demand", budget="small", seeds=(0, 1), n_boot=100,
                                ratios=(0.5, 1.0), params=params)
    base.update(kw)
    return LiftConfig(**base)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return tiny_tables()


@pytest.fixture(scope="module")
def task() -> DemandLiftTask:
    return DemandLiftTask()


@pytest.fixture(scope="module")
def result(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    return run_lift(DemandLiftTask(), tables, config())


def origins() -> tuple[pd.Timestamp, pd.Timestamp]:
    last = START + pd.Timedelta(weeks=WEEKS - 1)
    return last - pd.Timedelta(weeks=2 * H), last - pd.Timedelta(weeks=H)


# ------------------------------------------------------------------------- split
def test_split_is_time_ordered_with_short_history(task: DemandLiftTask,
                                                  tables: dict[str, pd.DataFrame]) -> None:
    cfg = config().resolve(task)
    sp = task.split(tables, cfg)
    t1, t2 = origins()
    assert sp.validation.origin == t1 and sp.test.origin == t2
    assert sp.train["date"].max() == t1
    assert sp.validation.rows["date"].between(t1 + pd.Timedelta(weeks=1), t2).all()
    assert (sp.test.rows["date"] > t2).all()
    assert sp.test.rows["date"].nunique() == H and sp.validation.rows["date"].nunique() == H
    # units: sorted, unique, complete windows with history
    assert list(sp.units_test) == sorted(sp.units_test)
    assert len(set(sp.units_validation)) == len(sp.units_validation) == 12
    assert "0|3" in sp.units_validation and "0|3" not in sp.units_test
    assert "2|9" not in sp.units_validation and "2|9" in sp.units_test
    assert sp.validation.actual.shape == (12, H) and sp.test.actual.shape == (12, H)
    # short history: 3 of the 12 training series keep only their last 4 periods
    short = set(sp.units_test[sp.segments_test["short_history"]])
    assert len(short) == 3 == sp.info["short_series"]
    counts = sp.train.assign(k=sp.train["store_id"] + "|" + sp.train["item_id"]) \
        .groupby("k")["date"].agg(["size", "min"])
    assert (counts.loc[sorted(short), "size"] == 4).all()
    assert (counts.loc[sorted(short), "min"] > t1 - pd.Timedelta(weeks=4)).all()
    assert (counts.drop(index=sorted(short))["size"] == WEEKS - 2 * H).all()
    assert set(sp.units_validation[sp.segments_validation["short_history"]]) == short
    assert sp.segments_test["all"].all() and sp.segments_validation["all"].all()
    assert sp.info["rows"]["dropped_short_history"] == 3 * (WEEKS - 2 * H - 4)
    json.dumps(sp.info)
    # the short series follow split_seed
    again = task.split(tables, cfg)
    assert set(again.units_test[again.segments_test["short_history"]]) == short
    other = task.split(tables, config(split_seed=3).resolve(task))
    assert set(other.units_test[other.segments_test["short_history"]]) != short


def test_jitter_windows_copy_real_runs() -> None:
    sales = tiny_tables()["sales"].astype({"store_id": str})
    out = jitter_windows(sales, 50, window=6, sigma=0.15, seed=0)
    assert len(out) == 300 and sorted(out["window_id"].unique()) == list(range(50))
    steps = out.groupby("window_id")["date"].diff().dropna()
    assert (steps == pd.Timedelta(weeks=1)).all()
    assert (out.groupby("window_id")[["store_id", "item_id"]].nunique() == 1).all().all()
    src = out.merge(sales, on=["store_id", "item_id", "date"], suffixes=("", "_real"))
    assert len(src) == len(out)
    assert np.allclose(src["price"], src["price_real"])
    assert (src["units"] == np.round(src["units"])).all()
    assert not np.allclose(src["units"], src["units_real"])
    exact = jitter_windows(sales, 50, window=6, sigma=0.0, seed=0)
    src0 = exact.merge(sales, on=["store_id", "item_id", "date"], suffixes=("", "_real"))
    assert np.array_equal(src0["units"], src0["units_real"])
    pd.testing.assert_frame_equal(out, jitter_windows(sales, 50, window=6, sigma=0.15, seed=0))
    with pytest.raises(DataValidationError, match="no run of 50 consecutive"):
        jitter_windows(sales, 5, window=50, sigma=0.1, seed=0)


# ------------------------------------------------------------------------- isolation
def test_no_validation_or_test_row_reaches_an_augmenter_or_the_model(
        monkeypatch: pytest.MonkeyPatch, tables: dict[str, pd.DataFrame]) -> None:
    seen_gen: list[pd.DataFrame] = []
    seen_model: list[tuple[pd.DataFrame, pd.DataFrame | None]] = []
    gen_fit, model_fit = SalesWindowGenerator.fit, DemandModel.fit

    def record_gen(self: SalesWindowGenerator, frame: pd.DataFrame) -> SalesWindowGenerator:
        seen_gen.append(frame.copy())
        return gen_fit(self, frame)

    def record_model(self: DemandModel, sales: pd.DataFrame, stores: Any = None,
                     **kw: Any) -> DemandModel:
        seen_model.append((sales.copy(), kw.get("synthetic")))
        return model_fit(self, sales, stores, **kw)

    monkeypatch.setattr(SalesWindowGenerator, "fit", record_gen)
    monkeypatch.setattr(DemandModel, "fit", record_model)
    task = DemandLiftTask()
    cfg = config(seeds=(0,), generators=("vae", "ar"))
    run_lift(task, tables, cfg)
    sp = task.split(tables, cfg.resolve(task))
    t1, _ = origins()
    held = pd.concat([sp.validation.rows, sp.test.rows])
    held_keys = set(zip(held["store_id"], held["item_id"], held["date"], strict=True))
    assert len(seen_gen) == 2 and len(seen_model) == 1 + 3 * 2
    for frame in seen_gen + [m[0] for m in seen_model]:
        assert frame["date"].max() <= t1
        assert len(frame) == len(sp.train)
        keys = set(zip(frame["store_id"], frame["item_id"], frame["date"], strict=True))
        assert not keys & held_keys
    synthetic = [m[1] for m in seen_model if m[1] is not None]
    assert len(synthetic) == 6
    for syn in synthetic:
        assert syn["date"].max() <= t1
        assert syn["window_id"].nunique() in {n_windows(r, len(sp.train), 6) for r in (0.5, 1)}


# ------------------------------------------------------------------------- units
def test_units_match_an_independent_forecast(task: DemandLiftTask,
                                             tables: dict[str, pd.DataFrame]) -> None:
    cfg = config().resolve(task)
    sp = task.split(tables, cfg)
    out = task.evaluate(sp, "lightgbm", {}, None, None, None, 0, cfg)
    assert {len(v) for v in out["validation"].values()} == {len(sp.units_validation)}
    assert {len(v) for v in out["test"].values()} == {len(sp.units_test)}
    model = DemandModel(horizon=H, quantiles=(0.1, 0.5, 0.9), n_estimators=5,
                        learning_rate=0.3, num_leaves=4, min_child_samples=5,
                        calibration_periods=0, n_jobs=1, random_state=0
                        ).fit(sp.train, tables["stores"])
    hist = pd.concat([sp.train, sp.validation.rows])
    fut = sp.test.rows.drop(columns="units")
    fut = fut.loc[(fut["store_id"] + "|" + fut["item_id"]).isin(sp.units_test)]
    pred = model.predict(hist, fut).merge(sp.test.rows, on=["store_id", "item_id", "date"])
    pred["unit"] = pred["store_id"] + "|" + pred["item_id"]
    err = (pred["units"] - pred["point"]).abs().groupby(pred["unit"]).sum()
    np.testing.assert_allclose(out["test"]["abs_error"], err.loc[sp.units_test].to_numpy())
    np.testing.assert_allclose(out["test"]["actual"],
                               pred.groupby("unit")["units"].sum().loc[sp.units_test])
    wape = task.metric("wape").point(out["test"])
    assert wape == pytest.approx(err.sum() / pred["units"].sum())
    loss = sum(np.maximum(q * (pred["units"] - pred[f"q{q:g}"]),
                          (q - 1) * (pred["units"] - pred[f"q{q:g}"])) for q in (0.1, 0.5, 0.9))
    assert task.metric("pinball").point(out["test"]) == pytest.approx(
        loss.sum() / 3 / pred["units"].sum())


# ------------------------------------------------------------------------- end to end
def test_run_lift_end_to_end(result: dict[str, Any]) -> None:
    rows = pd.DataFrame(result["rows"])
    assert set(rows["arm"]) == {"real", "jitter", "vae"}
    assert set(rows["segment"]) == {"all", "short_history"}
    assert set(rows["metric"]) == {"wape", "pinball"}
    arms = rows[rows["arm"] != "real"]
    assert len(arms) == 2 * 2 * 2
    assert arms["verdict"].isin({*VERDICTS, "too few units"}).all()
    assert arms["ratio"].isin({0.5, 1.0}).all()
    assert np.isfinite(rows["value"]).all() and (rows["value"] > 0).all()
    assert set(result["quality"]) == {"jitter", "vae"}
    assert all(q["mean"] <= 0 and "W1" in q["name"] for q in result["quality"].values())
    assert result["params"] == {"lightgbm": {}}
    assert result["config"]["params"]["horizon"] == H
    json.dumps({k: v for k, v in result.items() if k != "seconds"})


def test_same_seeds_give_identical_rows(tables: dict[str, pd.DataFrame],
                                        result: dict[str, Any]) -> None:
    # Rows in another order (a store's scan order is not fixed): the same numbers.
    shuffled = {**tables, "sales": tables["sales"].sample(frac=1.0, random_state=7)}
    again = run_lift(get_task("demand"), shuffled, config())
    assert json.dumps(again["rows"]) == json.dumps(result["rows"])  # NaN-safe
    assert again["curves"] == result["curves"]
    assert again["quality"] == result["quality"]


def test_tune_picks_num_leaves_on_validation(task: DemandLiftTask,
                                             tables: dict[str, pd.DataFrame]) -> None:
    cfg = config(params={"tune_leaves": (4, 8)}).resolve(task)
    sp = task.split(tables, cfg)
    assert task.tune(sp, cfg)["lightgbm"]["num_leaves"] in (4, 8)
    assert task.tune(sp, config().resolve(task)) == {"lightgbm": {}}


def test_defaults_and_arms(task: DemandLiftTask) -> None:
    for budget in ("small", "full"):
        d = task.defaults(budget)
        assert set(d["generators"]) <= set(task.known_generators)
        assert d["models"] == ("lightgbm",)
    cfg = config(generators=("vae", "ar")).resolve(task)
    arms = task.arms(cfg)
    assert [(a.name, a.family) for a in arms] == [("jitter", "baseline"), ("vae", "generator"),
                                                 ("ar", "generator")]
    assert all(a.ratios == (0.5, 1.0) for a in arms)


# ------------------------------------------------------------------------- bad input
def test_bad_tables_are_named(task: DemandLiftTask, tables: dict[str, pd.DataFrame]) -> None:
    cfg = config().resolve(task)
    sales = tables["sales"]
    with pytest.raises(DataValidationError, match="needs the sales table"):
        task.split({"stores": tables["stores"]}, cfg)
    with pytest.raises(DataValidationError, match="no column.*promo"):
        task.split({"sales": sales.drop(columns="promo")}, cfg)
    with pytest.raises(DataValidationError, match=r"sales.units has 1 missing"):
        task.split({"sales": sales.assign(units=sales["units"].where(sales.index != 5))}, cfg)
    short = sales.loc[sales["date"] >= START + pd.Timedelta(weeks=WEEKS - 15)]
    with pytest.raises(DataValidationError, match="training needs at least 12 more"):
        task.split({"sales": short}, cfg)
    gap = sales.loc[sales["date"] != START + pd.Timedelta(weeks=WEEKS - 2)]
    with pytest.raises(DataValidationError, match="not consecutive weeks"):
        task.split({"sales": gap}, cfg)
    with pytest.raises(DataValidationError, match="stores must be a DataFrame with a store_id"):
        task.split({"sales": sales, "stores": tables["stores"].drop(columns="store_id")}, cfg)
    sp = task.split(tables, cfg)
    with pytest.raises(DataValidationError, match="unknown model 'xgboost'"):
        task.evaluate(sp, "xgboost", {}, None, None, None, 0, cfg)


@pytest.mark.parametrize(("param", "value", "match"), [
    ("horizon", 0, "'horizon' parameter"),
    ("short_share", 1.5, "'short_share' parameter"),
    ("quantiles", (), "'quantiles' parameter"),
    ("jitter_sigma", -1.0, "'jitter_sigma' parameter"),
    ("window", 1, "'window' parameter"),
    ("tune_leaves", (1,), "'tune_leaves' parameter"),
])
def test_bad_params_are_named(task: DemandLiftTask, tables: dict[str, pd.DataFrame],
                              param: str, value: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        task.split(tables, config(params={param: value}).resolve(task))


def test_unknown_names_are_rejected(task: DemandLiftTask) -> None:
    with pytest.raises(DataValidationError, match="unknown parameter"):
        config(params={"trees": 3}).resolve(task)
    with pytest.raises(DataValidationError, match="unknown generator 'gan'"):
        config(generators=("gan",)).resolve(task)
