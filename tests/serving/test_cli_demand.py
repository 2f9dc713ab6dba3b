"""`genlift train demand`, `forecast` and `plan inventory` on a small store."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


@pytest.fixture
def db(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2020-01-02", periods=40, freq="7D")
    rows = []
    for st in ("s1", "s2"):
        for it in ("a", "b", "c"):
            base = {"a": 100, "b": 40, "c": 10}[it]
            for d in weeks:
                promo = float(rng.random() < 0.2)
                price = float(rng.uniform(1.0, 2.0))
                units = rng.poisson(base * (2.0 if promo else 1.0) / price)
                rows.append({"store_id": st, "item_id": it, "date": d, "units": float(units),
                             "price": price, "promo": promo, "feat": 0.0})
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"stores": pd.DataFrame({"store_id": ["s1", "s2"], "income": [1.0, 2.0]}),
                    "sales": pd.DataFrame(rows)}, source="test")
    return path


def test_train_forecast_and_plan(cli: Cli, db: str,
                                 tmp_path: Path) -> None:
    model = tmp_path / "m"
    code, text, err = cli("--db", db, "--json", "train", "demand", "--n-estimators",
                          "20", "--out", str(model))
    assert code == 0, err
    assert json.loads(text)["series"] == 6
    code, _, err = cli("--db", db, "forecast", "--model", str(model), "--horizon", "2",
                       "--out", str(tmp_path / "f.parquet"))
    assert code == 0, err
    fc = pd.read_parquet(tmp_path / "f.parquet")
    assert len(fc) == 12 and set(fc["horizon"]) == {1, 2}
    assert (fc["q0.05"] <= fc["q0.95"]).all() and (fc["point"] >= 0).all()
    big = fc[fc["item_id"] == "a"]["point"].mean()
    small = fc[fc["item_id"] == "c"]["point"].mean()
    assert big > 3 * small  # the series' levels are kept

    pd.DataFrame({"store_id": ["s1", "s2"], "item_id": ["a", "a"], "on_hand": [0.0, 10_000.0]}
                 ).to_csv(tmp_path / "stock.csv", index=False)
    code, text, err = cli("--db", db, "--json", "plan", "inventory", "--model",
                          str(model), "--lead-time", "2", "--on-hand", str(tmp_path / "stock.csv"),
                          "--paths", "200", "--out", str(tmp_path / "plan.html"))
    assert code == 0, err
    plan = pd.read_parquet(tmp_path / "plan.parquet").set_index(["store_id", "item_id"])
    assert plan.loc[("s1", "a"), "status"] == "reorder now"
    assert plan.loc[("s2", "a"), "status"] == "overstock"
    assert (plan["reorder_point"] >= plan["mean_lead_time_demand"]).all()
    assert "<img" in (tmp_path / "plan.html").read_text()


def test_bad_horizon(cli: Cli, db: str, tmp_path: Path) -> None:
    model = tmp_path / "m"
    assert cli("--db", db, "train", "demand", "--n-estimators", "5", "--horizon", "2",
               "--out", str(model))[0] == 0
    code, _, err = cli("--db", db, "forecast", "--model", str(model), "--horizon", "3",
                       "--out", str(tmp_path / "f.parquet"))
    assert code == 2 and "forecast --horizon 3 is outside 1..2" in err
    code, _, err = cli("--db", db, "plan", "inventory", "--model", str(model),
                       "--lead-time", "5", "--out", str(tmp_path / "p.html"))
    assert code == 2 and "plan inventory --lead-time 5 is outside 1..2" in err


@pytest.fixture
def numeric_db(tmp_path: Path) -> str:
    """Sales of stores "10" and "2", items "3" and "20": ids that are numbers."""
    rng = np.random.default_rng(1)
    weeks = pd.date_range("2020-01-02", periods=30, freq="7D")
    rows = [{"store_id": st, "item_id": it, "date": d, "units": float(rng.poisson(20)),
             "price": 1.5, "promo": 0.0, "feat": 0.0}
            for st in ("10", "2") for it in ("3", "20") for d in weeks]
    path = str(tmp_path / "n.duckdb")
    with Store(path) as store:
        store.load({"sales": pd.DataFrame(rows)}, source="test")
    return path


def test_defaults_from_the_model_ids_in_order_and_plan_without_stock(
        cli: Cli, numeric_db: str, tmp_path: Path) -> None:
    """forecast --horizon defaults to the horizon the model was trained for; numeric ids
    come out in number order (2 before 10); a plan without --on-hand says in its header
    that stock positions are unknown and how to give them."""
    db, model = numeric_db, tmp_path / "m"
    assert cli("--db", db, "train", "demand", "--n-estimators", "5", "--horizon", "3",
               "--out", str(model))[0] == 0
    code, text, err = cli("--db", db, "forecast", "--model", str(model), "--out",
                          str(tmp_path / "f.parquet"))
    assert code == 0, err
    assert "horizon: 3" in text
    fc = pd.read_parquet(tmp_path / "f.parquet")
    assert sorted(set(fc["horizon"])) == [1, 2, 3]  # not the old fixed 4
    keys = fc.drop_duplicates(["store_id", "item_id"])[["store_id", "item_id"]]
    assert list(keys.itertuples(index=False, name=None)) == [
        ("2", "3"), ("2", "20"), ("10", "3"), ("10", "20")]
    code, text, err = cli("--db", db, "plan", "inventory", "--model", str(model),
                          "--paths", "50", "--out", str(tmp_path / "plan.html"))
    assert code == 0, err
    assert "Stock positions are unknown" in text and "--on-hand FILE" in text
    assert "store_id, item_id, on_hand" in text and "unknown" not in text.split("\n")[0]
    assert not re.search(r"\[|\]|np\.|\bNone\b|\d\.?\d*e[+-]\d", text)
    plan = pd.read_parquet(tmp_path / "plan.parquet")
    assert list(plan["store_id"]) == ["2", "2", "10", "10"]
    assert list(plan["item_id"]) == ["3", "20", "3", "20"]
    big = plan["mean_lead_time_demand"].to_numpy()
    assert np.all((big > 10) & (big < 80))  # the paths moved with their rows (~40 units)


@pytest.mark.parametrize(("tty", "flags", "shown"), [
    (True, [], True), (False, [], False), (True, ["--no-progress"], False)])
def test_train_demand_shows_progress_on_a_terminal(
        numeric_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tty: bool, flags: list[str], shown: bool) -> None:
    from serving.cli.main import main

    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    code = main([*flags, "--db", numeric_db, "train", "demand", "--n-estimators", "2",
                 "--horizon", "2", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("demand model" in err) == shown
    if shown:
        assert "2/2" in err  # one step per horizon, to the end
