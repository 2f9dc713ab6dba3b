"""The ``paths`` lift task on tiny synthetic prices: the time split and its windows,
strategy outcomes with known answers, the scaled pinball score, generator isolation,
unit alignment, an end-to-end run, reproducibility and bad input."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment.base import Generator
from engine.demand.metrics import pinball
from engine.lift import LiftConfig, get_task, run_lift
from engine.lift.paths import (
    TAUS,
    PathsLiftTask,
    inverse_vol_weights,
    quantile_scores,
    window_outcomes,
)
from engine.lift.stats import VERDICTS
from features.errors import DataValidationError

ASSETS = ["AAA", "BBB", "CCC"]
TRAIN_END, VALID_END = "2001-06-29", "2001-12-31"
PARAMS = {"train_end": TRAIN_END, "valid_end": VALID_END, "horizon": 10, "epochs": 1,
          "gan_epochs": 1, "path_days": 40, "burn_in": 5, "quality_paths": 8}


def make_prices(days: int = 700, seed: int = 0) -> pd.DataFrame:
    """Long prices of three correlated assets with GARCH-like volatility clustering."""
    rng = np.random.default_rng(seed)
    var = np.full(len(ASSETS), 1e-4)
    out = np.empty((days, len(ASSETS)))
    for t in range(days):
        z = 0.6 * rng.standard_normal() + 0.8 * rng.standard_normal(len(ASSETS))
        out[t] = 2e-4 + np.sqrt(var) * z
        var = 2e-6 + 0.1 * (out[t] - 2e-4) ** 2 + 0.88 * var
    dates = pd.bdate_range("2000-01-03", periods=days + 1)
    close = 100 * np.exp(np.vstack([np.zeros(len(ASSETS)), np.cumsum(out, axis=0)]))
    return pd.DataFrame({"date": np.repeat(dates, len(ASSETS)),
                         "asset": np.tile(ASSETS, days + 1), "close": close.ravel()})


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return make_prices()


def config(**kw: Any) -> LiftConfig:
    params = {**PARAMS, **kw.pop("params", {})}
    base: dict[str, Any] = {"task": "paths", "seeds": (0, 1), "n_boot": 100,
                            "baselines": ("bootstrap",), "generators": (), "ratios": (0.5, 1.0)}
    return LiftConfig(**{**base, **kw, "params": params})


def split_of(prices: pd.DataFrame, **kw: Any) -> tuple[PathsLiftTask, Any, LiftConfig]:
    task = PathsLiftTask()
    cfg = config(**kw).resolve(task)
    return task, task.split({"prices": prices}, cfg), cfg


# ----------------------------------------------------------------------------- defaults
def test_registry_and_defaults_name_every_knob() -> None:
    task = get_task("paths")
    assert isinstance(task, PathsLiftTask)
    small, full = task.defaults("small"), task.defaults("full")
    assert set(small["params"]) == set(full["params"])
    assert small["models"] == full["models"] == ("historical",)
    assert full["params"]["epochs"] > small["params"]["epochs"]
    assert set(full["generators"]) == {"vae", "gan"} and small["generators"] == ("vae",)
    cfg = LiftConfig(task="paths", budget="full").resolve(task)
    assert cfg.ratios == (0.25, 0.5, 1.0, 2.0, 4.0)
    arms = task.arms(cfg)
    assert [a.name for a in arms] == ["bootstrap", "garch", "vae", "gan"]
    assert [a.family for a in arms] == ["baseline", "baseline", "generator", "generator"]
    assert all(a.ratios == cfg.ratios for a in arms)


# ----------------------------------------------------------------------------- split
def test_split_is_time_ordered_with_non_overlapping_windows(prices: pd.DataFrame) -> None:
    task, split, cfg = split_of(prices)
    h = cfg.params["horizon"]
    train = split.train
    assert train.index.max() <= pd.Timestamp(TRAIN_END)
    assert list(train.columns) == ASSETS and not train.isna().any().any()
    val, test = split.validation, split.test
    assert val.returns.index.min() > train.index.max()
    assert val.returns.index.max() <= pd.Timestamp(VALID_END) < test.returns.index.min()
    for part, units in ((val, split.units_validation), (test, split.units_test)):
        n = len(part.returns) // h
        assert len(units) == len(part.starts) == len(part.outcomes) == n
        assert list(units) == [f"{d:%Y-%m-%d}" for d in part.returns.index[:n * h:h]]
        assert list(units) == sorted(units)
    info = split.info
    assert info["historical_windows"] == len(train) - h + 1
    assert info["validation_windows"] == len(split.units_validation)
    assert info["test_windows"] == len(split.units_test)
    assert info["train_dates"][1] <= TRAIN_END < info["validation_dates"][0]


def test_segments_mark_the_high_volatility_windows(prices: pd.DataFrame) -> None:
    _, split, _ = split_of(prices)
    for part, segs in ((split.validation, split.segments_validation),
                       (split.test, split.segments_test)):
        vol = part.outcomes[:, 0, 1]
        assert set(segs) == {"all", "high_vol"} and segs["all"].all()
        high = segs["high_vol"]
        assert high.dtype == bool and len(high) == len(vol)
        assert 0 < high.sum() < len(vol)
        assert vol[high].min() >= vol[~high].max()
        assert high.sum() == pytest.approx(0.25 * len(vol), abs=1.5)


# ----------------------------------------------------------------------------- outcomes
def test_window_outcomes_known_answers() -> None:
    h, w = 5, np.full(2, 0.5)
    flat = np.full((1, h, 2), 0.01)
    out = window_outcomes(flat, w)
    np.testing.assert_allclose(out[0, :, 0], 0.05)          # total log return, all three
    np.testing.assert_allclose(out[0, :, 1], 0.0, atol=1e-12)  # no volatility
    np.testing.assert_allclose(out[0, :, 2], 0.0)           # no drawdown
    drop = np.zeros((1, h, 2))
    drop[0, 1] = -0.1
    drop[0, 3] = 0.05
    out = window_outcomes(drop, w)
    np.testing.assert_allclose(out[0, :, 2], 1 - np.exp(-0.1))
    np.testing.assert_allclose(out[0, :, 0], -0.05)
    ann = np.std([0, -0.1, 0, 0.05, 0], ddof=1) * np.sqrt(252)
    np.testing.assert_allclose(out[0, :, 1], ann)
    # one asset up 10% on day one, the other flat: buy and hold drifts, rebalancing not
    split = np.zeros((1, 2, 2))
    split[0, :, 0] = 0.1
    out = window_outcomes(split, np.array([0.25, 0.75]))
    assert out[0, 0, 0] == pytest.approx(2 * np.log1p(np.expm1(0.1) / 2))
    assert out[0, 1, 0] == pytest.approx(np.log((np.exp(0.2) + 1) / 2))
    assert out[0, 2, 0] == pytest.approx(2 * np.log1p(0.25 * np.expm1(0.1)))


def test_inverse_vol_weights_favour_the_calm_asset() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 2)) * np.array([0.01, 0.02])
    w = inverse_vol_weights(x)
    assert w.sum() == pytest.approx(1.0)
    assert w[0] / w[1] == pytest.approx(2.0, rel=0.1)
    assert np.allclose(inverse_vol_weights(np.zeros((10, 3))), 1 / 3)


def test_quantile_scores_equal_the_pinball_loss() -> None:
    rng = np.random.default_rng(1)
    realised = rng.standard_normal((4, 3, 3))
    predicted = np.sort(rng.standard_normal((len(TAUS), 3, 3)), axis=0)
    scale = rng.uniform(0.5, 2.0, (3, 3))
    scores, cover = quantile_scores(realised, predicted, scale)
    assert scores.shape == (4, 3) and cover.shape == (4,)
    for i in range(4):
        for k in range(3):
            want = np.mean([np.mean(pinball([realised[i, s, k]], predicted[:, s, k][None],
                                            TAUS.tolist()))
                            / scale[s, k] for s in range(3)])
            assert scores[i, k] == pytest.approx(want)
    inside = (realised >= predicted[0]) & (realised <= predicted[-1])
    np.testing.assert_allclose(cover, inside.mean(axis=(1, 2)))


# ----------------------------------------------------------------------------- isolation
def test_generators_see_only_training_returns(prices: pd.DataFrame,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[pd.DataFrame] = []
    fit = Generator.fit

    def spy(self: Generator, frame: pd.DataFrame) -> Generator:
        seen.append(frame.copy())
        return fit(self, frame)

    monkeypatch.setattr(Generator, "fit", spy)
    cfg = config(seeds=(0,), baselines=("bootstrap", "garch"), generators=("vae",))
    task = PathsLiftTask()
    result = run_lift(task, {"prices": prices}, cfg)
    assert len(seen) == 3
    split = task.split({"prices": prices}, cfg.resolve(task))
    for frame in seen:
        assert frame.index.max() <= pd.Timestamp(TRAIN_END)
        pd.testing.assert_frame_equal(frame, split.train)
    held_out = set(split.validation.returns.index) | set(split.test.returns.index)
    assert not held_out & set().union(*(set(f.index) for f in seen))
    assert set(result["quality"]) == {"bootstrap", "garch", "vae"}


# ----------------------------------------------------------------------------- units
def test_units_align_and_real_only_ignores_the_seed(prices: pd.DataFrame) -> None:
    task, split, cfg = split_of(prices)
    real = [task.evaluate(split, "historical", {}, None, None, None, s, cfg) for s in (0, 1)]
    arm = task.arms(cfg)[0]
    state = task.fit_arm(arm, split.train, cfg, seed=0)
    n_hist = split.info["historical_windows"]
    assert len(state.state.outcomes) == round(max(arm.ratios) * n_hist)
    assert state.quality is not None and np.isfinite(state.quality)
    augmented = task.evaluate(split, "historical", {}, arm, state, 0.5, 0, cfg)
    keys = {"qs", "qs_return", "qs_vol", "qs_drawdown", "cover90"}
    for out in (*real, augmented):
        for part, units in (("validation", split.units_validation), ("test", split.units_test)):
            assert set(out[part]) == keys
            assert all(len(v) == len(units) and np.isfinite(v).all()
                       for v in out[part].values())
            np.testing.assert_allclose(out[part]["qs"], np.mean(
                [out[part][k] for k in ("qs_return", "qs_vol", "qs_drawdown")], axis=0))
    for part in ("validation", "test"):
        for key in keys:
            np.testing.assert_array_equal(real[0][part][key], real[1][part][key])
    assert not np.array_equal(real[0]["test"]["qs"], augmented["test"]["qs"])
    with pytest.raises(RuntimeError, match="synthetic windows"):
        task.evaluate(split, "historical", {}, arm, state, 4.0, 0, cfg)


# ----------------------------------------------------------------------------- end to end
def test_run_lift_end_to_end_is_reproducible(prices: pd.DataFrame) -> None:
    cfg = config(baselines=("bootstrap", "garch"), generators=("vae",))
    first = run_lift(PathsLiftTask(), {"prices": prices}, cfg)
    second = run_lift(PathsLiftTask(), {"prices": prices}, cfg)
    assert json.dumps(first["rows"]) == json.dumps(second["rows"])  # NaN-safe
    assert first["quality"] == second["quality"]
    rows = first["rows"]
    metrics = {"qs", "qs_return", "qs_vol", "qs_drawdown", "cover90_error"}
    assert {r["metric"] for r in rows} == metrics
    assert {r["segment"] for r in rows} == {"all", "high_vol"}
    assert {r["arm"] for r in rows} == {"real", "bootstrap", "garch", "vae"}
    assert {r["verdict"] for r in rows if r["arm"] == "real"} == {"reference"}
    assert {r["verdict"] for r in rows if r["arm"] != "real"} <= {*VERDICTS,
                                                                  "too few units"}
    assert all(r["ratio"] in (0.5, 1.0) for r in rows if r["arm"] != "real")
    assert all(np.isfinite(r["value"]) and r["value"] >= 0 for r in rows)
    assert first["primary_metric"] == "qs" and first["unit"] == "window"
    assert first["segments"]["all"] == first["split"]["test_windows"]


# ----------------------------------------------------------------------------- bad input
def test_missing_table_and_column(prices: pd.DataFrame) -> None:
    task = PathsLiftTask()
    cfg = config().resolve(task)
    with pytest.raises(DataValidationError, match="needs the 'prices' table"):
        task.split({"sales": prices}, cfg)
    with pytest.raises(DataValidationError, match="missing required column.*close"):
        task.split({"prices": prices.drop(columns="close")}, cfg)
    bad = prices.copy()
    bad.loc[5, "close"] = -1.0
    with pytest.raises(DataValidationError, match="prices.close"):
        task.split({"prices": bad}, cfg)


def test_an_asset_with_missing_days_is_rejected(prices: pd.DataFrame) -> None:
    late = prices[~((prices["asset"] == "CCC") & (prices["date"] < "2000-03-01"))]
    task = PathsLiftTask()
    with pytest.raises(DataValidationError, match="asset CCC has no return on"):
        task.split({"prices": late}, config().resolve(task))


@pytest.mark.parametrize(("params", "match"), [
    ({"train_end": "2000-01-20"}, "train .* needs at least 20"),
    ({"valid_end": "2001-07-05"}, "validation has .* it needs at least 2"),
    ({"train_end": "2002-07-01", "valid_end": "2002-09-30"}, "test has .* it needs at least 2"),
])
def test_too_little_data(prices: pd.DataFrame, params: dict[str, Any], match: str) -> None:
    task = PathsLiftTask()
    with pytest.raises(DataValidationError, match=match):
        task.split({"prices": prices}, config(params=params).resolve(task))


@pytest.mark.parametrize(("params", "match"), [
    ({"horizon": 1}, "'horizon' parameter"),
    ({"horizon": 2.5}, "'horizon' parameter"),
    ({"path_days": 5}, "'path_days' parameter .* range \\[10"),
    ({"valid_end": "2001-01-01"}, "'valid_end' parameter .* after train_end"),
    ({"train_end": "not a date"}, "'train_end' parameter"),
    ({"epochs": 0}, "'epochs' parameter"),
    ({"quality_paths": -1}, "'quality_paths' parameter"),
    ({"tail_quantile": 1.0}, "'tail_quantile' parameter"),
])
def test_bad_params(prices: pd.DataFrame, params: dict[str, Any], match: str) -> None:
    task = PathsLiftTask()
    with pytest.raises(ValueError, match=match):
        task.split({"prices": prices}, config(params=params).resolve(task))


def test_unknown_param_and_arm_are_rejected(prices: pd.DataFrame) -> None:
    task = PathsLiftTask()
    with pytest.raises(DataValidationError, match="unknown parameter.*window"):
        config(params={"window": 5}).resolve(task)
    with pytest.raises(DataValidationError, match="unknown generator 'copula'"):
        config(generators=("copula",)).resolve(task)
