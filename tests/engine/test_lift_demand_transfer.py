"""The ``demand`` lift task's data-efficiency subsample and transfer arms (``transfer``:
pretrained on the long series, fine-tuned on the short histories; ``short_only``: the
same generator on the short histories alone), on the tiny sales of test_lift_demand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment.sales import SalesWindowGenerator
from augment.warmstart import weights_sha256
from engine.lift import run_lift
from engine.lift.demand import DemandLiftTask, n_windows, short_rows
from engine.lift.demand_arms import transfer_windows
from features.errors import DataValidationError
from tests.engine.test_lift_demand import WEEKS, H, config, origins, tiny_tables

TRANSFER: dict[str, Any] = {"transfer_window": 2, "transfer_model": "ar"}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return tiny_tables()


# ------------------------------------------------------------------------- subsample
def test_subsample_keeps_the_last_dates_of_every_series(tables: dict[str, pd.DataFrame]
                                                        ) -> None:
    task = DemandLiftTask()
    cfg = config(fractions=(0.5, 1.0)).resolve(task)
    sp = task.split(tables, cfg)
    t1, _ = origins()
    assert sp.train["date"].nunique() == WEEKS - 2 * H == 36
    half = task.subsample(sp.train, 0.5, 0, cfg)
    assert half["date"].nunique() == 18 and half["date"].max() == t1
    assert half["date"].min() == t1 - pd.Timedelta(weeks=17)
    # every series keeps its rows in the kept dates (the short ones all of theirs)
    keys = set(zip(sp.train["store_id"], sp.train["item_id"], strict=True))
    assert set(zip(half["store_id"], half["item_id"], strict=True)) == keys
    kept = sp.train.loc[sp.train["date"] >= half["date"].min()].reset_index(drop=True)
    pd.testing.assert_frame_equal(half, kept)
    # nested across fractions, the same for every seed
    smaller = task.subsample(sp.train, 0.4, 3, cfg)
    assert smaller["date"].nunique() == 15
    assert len(smaller.merge(half, how="inner")) == len(smaller)
    pd.testing.assert_frame_equal(task.subsample(sp.train, 0.5, 7, cfg), half)
    # fewer dates than the split's own minimum (2 x window 6 = 12) is refused
    with pytest.raises(DataValidationError, match=r"fraction 0.3 keeps 11 of the 36 training "
                                                  r"dates; the task needs at least 12"):
        task.subsample(sp.train, 0.3, 0, cfg)


# ------------------------------------------------------------------------- transfer
def test_transfer_arm_starts_from_the_source_fit_and_sees_train_only(
        monkeypatch: pytest.MonkeyPatch, tables: dict[str, pd.DataFrame]) -> None:
    """Spy on every generator fit: the transfer arm pretrains on the long series only,
    fine-tunes on the short series only, starting from exactly the pretrained weights;
    no validation or test row reaches any generator, at both fractions."""
    fits: list[dict[str, Any]] = []
    real_fit = SalesWindowGenerator.fit

    def record(self: SalesWindowGenerator, frame: pd.DataFrame, **kw: Any
               ) -> SalesWindowGenerator:
        init = kw.get("init")
        fits.append({"frame": frame.copy(), "init": init,
                     "init_sha": None if init is None else weights_sha256(init)})
        out = real_fit(self, frame, **kw)
        fits[-1]["sha"] = weights_sha256(out)
        fits[-1]["start"] = None if init is None else {
            k: v.clone() for k, v in init.net_.state_dict().items()}
        return out

    monkeypatch.setattr(SalesWindowGenerator, "fit", record)
    task = DemandLiftTask()
    cfg = config(seeds=(0,), baselines=(), generators=("transfer", "short_only"),
                 params=TRANSFER, fractions=(0.5, 1.0), ratios=(1.0,))
    result = run_lift(task, tables, cfg)
    sp = task.split(tables, cfg.resolve(task))
    held = pd.concat([sp.validation.rows, sp.test.rows])
    held_keys = set(zip(held["store_id"], held["item_id"], held["date"], strict=True))
    short_ids = set(sp.units_test[sp.segments_test["short_history"]])
    # per fraction: transfer pretrains + fine-tunes, short_only fits once
    assert len(fits) == 6
    assert [f["frame"]["date"].nunique() for f in fits] == [18, 4, 4, 36, 4, 4]
    pretrain, tune, alone = fits[3:]
    t1, _ = origins()
    for f in fits:
        frame = f["frame"]
        assert frame["date"].max() <= t1
        keys = set(zip(frame["store_id"], frame["item_id"], frame["date"], strict=True))
        assert not keys & held_keys
    ids = [set(f["frame"]["store_id"] + "|" + f["frame"]["item_id"]) for f in fits]
    assert ids[1] == ids[2] and short_ids <= ids[1]
    assert not ids[0] & ids[1]  # the source never holds a target series
    assert pretrain["init"] is None and alone["init"] is None
    assert tune["init_sha"] == pretrain["sha"]  # fine-tuned from the pretrained fit
    assert tune["init"].init_ is None
    rows = pd.DataFrame(result["rows"])
    assert {"transfer", "short_only"} <= set(rows["arm"])
    assert {"transfer", "short_only", "transfer@0.5", "short_only@0.5"} <= set(
        result["quality"])
    assert result["efficiency"]


def test_transfer_windows_cover_the_targets_only(tables: dict[str, pd.DataFrame]) -> None:
    task = DemandLiftTask()
    cfg = config(params=TRANSFER).resolve(task)
    sp = task.split(tables, cfg)
    short = short_rows(sp.train, 4)
    target = sp.train.loc[short]
    assert set(target["store_id"] + "|" + target["item_id"]) == set(
        sp.units_test[sp.segments_test["short_history"]])
    p = dict(cfg.params)
    synthetic, ids = transfer_windows("transfer", sp.train, p, 0, 1.0)
    assert set(synthetic["store_id"] + "|" + synthetic["item_id"]) <= set(ids)
    assert synthetic.groupby("window_id").size().eq(4).all()
    assert synthetic["window_id"].nunique() == n_windows(1.0, len(target), 4)
    again, _ = transfer_windows("transfer", sp.train, p, 0, 1.0)
    pd.testing.assert_frame_equal(synthetic, again)  # same seed, same windows
    with pytest.raises(DataValidationError, match="needs series with at most short_periods"):
        transfer_windows("transfer", sp.train.loc[~short], p, 0, 1.0)


def test_pretraining_on_a_related_series_helps_a_short_one() -> None:
    """Known answer: every series shares one strong promo effect (+1.5 log units). A
    generator fitted on 8 weeks of a new store's two series (promo in 2 weeks each) has
    little to learn it from; fine-tuned from a generator pretrained on the other stores'
    long series, its windows carry the promo lift."""
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2020-01-02", periods=60, freq="7D")
    rows = []
    for s, item in [("s1", "a"), ("s2", "a"), ("s3", "a"), ("new", "a"), ("new", "b")]:
        n = 60 if s != "new" else 8
        promo = (rng.random(n) < 0.4).astype(float)
        if s == "new":  # two promo weeks each
            promo = np.roll(np.array([0, 0, 1, 0, 0, 0, 1, 0], dtype=float), item == "b")
        units = np.round(np.exp(3.0 + 1.5 * promo + rng.normal(0, 0.1, n)))
        rows.append(pd.DataFrame({"store_id": s, "item_id": item, "date": weeks[-n:],
                                  "units": units, "price": 2.0, "promo": promo}))
    train = pd.concat(rows, ignore_index=True)
    p = {"short_periods": 8, "transfer_model": "ar", "transfer_window": 4, "epochs": 40}

    def promo_lift(name: str) -> float:
        synthetic, _ = transfer_windows(name, train, p, 0, 20.0)
        y = np.log1p(synthetic["units"].to_numpy())
        on = synthetic["promo"].to_numpy() == 1
        return float(y[on].mean() - y[~on].mean())

    transfer, alone = promo_lift("transfer"), promo_lift("short_only")
    assert abs(transfer - 1.5) < 0.3  # measured 1.54 (1.38-1.59 over 12 data/fit seeds)
    assert alone < 0.75  # measured 0.35 (-0.11-0.35)


def test_transfer_params_are_checked_before_any_work() -> None:
    task = DemandLiftTask()
    arms = ("transfer", "short_only")
    with pytest.raises(DataValidationError, match="short_share = 0 makes none"):
        config(generators=arms, params={"short_share": 0.0}).resolve(task)
    with pytest.raises(ValueError, match=r"'transfer_window' parameter of lift demand must "
                                         r"be an int in the range \[2, short_periods // 2 = "
                                         r"2\]"):
        config(generators=arms, params={"transfer_window": 3}).resolve(task)
    with pytest.raises(ValueError, match="'short_by' parameter"):
        config(params={"short_by": "item"}).resolve(task)
    # without transfer arms the window is not checked; by default it is short_periods // 2
    cfg = config(params={"transfer_window": 3}).resolve(task)
    assert cfg.params["transfer_window"] == 3
    assert config().resolve(task).params["transfer_window"] is None


def test_short_by_store_makes_whole_stores_short(tables: dict[str, pd.DataFrame]) -> None:
    task = DemandLiftTask()
    sp = task.split(tables, config(params={"short_by": "store", "short_share": 0.34}
                                   ).resolve(task))
    short = sp.units_validation[sp.segments_validation["short_history"]]
    stores = {u.split("|")[0] for u in short}
    assert len(stores) == 1 and len(short) == 4  # one of the 3 stores, all its 4 series
    store = stores.pop()
    mask = short_rows(sp.train, 4)
    assert set(sp.train.loc[mask, "store_id"]) == {store}
    assert (sp.train.loc[sp.train["store_id"] == store, "date"].nunique()) == 4
    assert "of the stores" in sp.info["method"]
