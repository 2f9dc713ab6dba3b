"""`genlift backtest inventory` on a tiny store with a tiny demand model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.demand import DemandModel
from features.store import Store
from serving.jobs.inventory_backtest import (
    InventoryBacktestConfig,
    model_forecaster,
    prepare_sales,
    replay_data,
)

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py

WEEKS = pd.date_range("2020-01-02", periods=30, freq="7D")
START = "2020-06-01"  # replays from 2020-06-04 = WEEKS[22]
PARAMS: dict[str, Any] = {"horizon": 3, "quantiles": (0.1, 0.5, 0.9), "lags": (1, 2, 4),
                          "windows": (4,), "n_estimators": 10, "min_child_samples": 5,
                          "calibration_periods": 0, "n_jobs": 1}


def make_sales() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for st in ("s1", "s2"):
        for it, base in (("a", 60), ("b", 20), ("c", 8)):
            for d in WEEKS:
                if (st, it) == ("s2", "c") and d == WEEKS[25]:
                    continue  # a week with no record inside the replay: skipped
                promo = float(rng.random() < 0.2)
                rows.append({"store_id": st, "item_id": it, "date": d,
                             "units": float(rng.poisson(base * (1.5 if promo else 1.0))),
                             "price": 1.0, "promo": promo, "feat": 0.0})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("invbt")
    sales = make_sales()
    db = root / "s.duckdb"
    with Store(str(db)) as store:
        store.load({"sales": sales}, source="test")
    before = DemandModel(**PARAMS).fit(sales[sales["date"] < START])
    before.save(root / "before" / "model")
    DemandModel(**PARAMS).fit(sales).save(root / "all" / "model")
    return {"db": db, "before": root / "before", "all": root / "all", "root": root}


def run(cli: Cli, setup: dict[str, Path], *extra: str, model: str = "before",
        as_json: bool = False) -> tuple[int, str, str]:
    return cli("--db", str(setup["db"]), *(["--json"] if as_json else []), "backtest",
               "inventory", "--model", str(setup[model]), *extra)


def test_end_to_end_json(cli: Cli, setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r" / "inv.html"
    code, text, err = run(cli, setup, "--lead-time", "1", "--service-level", "0.9",
                          "--from", START, "--to", "2020-07-02", "--paths", "50", "--targets",
                          "0.8,0.95", "--out", str(out), as_json=True)
    assert code == 0, err
    doc = json.loads(text)
    assert doc["refit"] is None  # trained before --from: already out of sample
    assert (doc["from"], doc["to"], doc["periods"]) == ("2020-06-04", "2020-07-02", 5)
    assert doc["series"] == 5 and doc["series_skipped"] == 1
    per = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(per) == (2 * 3 + 1) * 5  # model + MA at 0.8, 0.9, 0.95; point
    assert ("s2", "c") not in set(zip(per["store_id"], per["item_id"], strict=True))
    assert per["fill_rate"].between(0, 1).all()
    totals = {(r["policy"], r["target"]): r for r in doc["totals"] if r["policy"] != "point"}
    assert totals[("model", 0.8)]["avg_on_hand"] < totals[("model", 0.95)]["avg_on_hand"]
    page = out.read_text()
    assert page.count("data:image/png;base64") == 2 and "Inventory at equal service" in page
    assert json.loads(out.with_suffix(".json").read_text())["config"]["lead_time"] == 1
    assert not list(out.parent.glob(".*.tmp"))


def test_refit_when_the_model_saw_the_replay(cli: Cli, setup: dict[str, Path],
                                             tmp_path: Path) -> None:
    code, text, err = run(cli, setup, "--lead-time", "0", "--service-level", "0.95",
                          "--from", START, "--to", "2020-07-02", "--paths", "30",
                          "--unmet", "backorder", "--out", str(tmp_path / "x.html"),
                          model="all")
    assert code == 0, err
    assert "refit on data to 2020-05-28 so the replay is out of sample" in text
    assert "achieved CSL" in text and "moving_average" in text and "report " in text


def test_forecasts_never_see_later_sales(setup: dict[str, Path]) -> None:
    model = DemandModel.load(setup["before"] / "model")
    cfg = InventoryBacktestConfig(lead_time=1, service_level=0.9, start=START)
    sales = prepare_sales(make_sales())
    changed = sales.copy()
    changed.loc[changed["date"] >= WEEKS[23], "units"] *= 5  # replayed week 1 onwards
    forecasts = {}
    for name, frame in (("same", sales), ("changed", changed)):
        data = replay_data(frame, cfg, model)
        fc = model_forecaster(model, frame, None, data, n_paths=20, seed=1)
        forecasts[name] = [fc(t, data.history) for t in range(3)]
    for t in range(2):  # the orders of weeks 0 and 1 are placed before week 1's demand
        np.testing.assert_array_equal(forecasts["same"][t].point,
                                      forecasts["changed"][t].point)
        np.testing.assert_array_equal(forecasts["same"][t].paths,
                                      forecasts["changed"][t].paths)
    assert not np.array_equal(forecasts["same"][2].point, forecasts["changed"][2].point)


@pytest.mark.parametrize(("extra", "message"), [
    (["--service-level", "0.9", "--from", "2019-01-01"],
     "--from 2019-01-01 lies outside the data: the sales run from 2020-01-02 to 2020-07-23"),
    (["--service-level", "0.9", "--from", "2020-07-10"],
     "leave 2 weeks (2020-07-16..2020-07-23) but lead time 1 + review period 1 needs at "
     "least 3"),
    (["--service-level", "0.9", "--from", START, "--to", "2020-05-01"],
     "--to 2020-05-01 lies outside the replay window"),
    (["--service-level", "0.9", "--from", "June"], "--from 'June' is not a date"),
    (["--service-level", "0.9", "--from", START, "--review-period", "3"],
     "at most the model's horizon 3; got lead time 1 + review period 3 = 4"),
])
def test_bad_input_exits_2_and_writes_nothing(cli: Cli, setup: dict[str, Path],
                                              tmp_path: Path, extra: list[str],
                                              message: str) -> None:
    out = tmp_path / "r.html"
    code, _, err = run(cli, setup, "--lead-time", "1", *extra, "--out", str(out))
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


def test_not_a_demand_model(cli: Cli, setup: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "m" / "model").mkdir(parents=True)
    code, _, err = cli("--db", str(setup["db"]), "backtest", "inventory", "--model",
                       str(tmp_path / "m"), "--lead-time", "1", "--service-level", "0.9",
                       "--from", START, "--out", str(tmp_path / "r.html"))
    assert code == 2 and "is not a `genlift train demand` folder (no train.json)" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["inventory", "--lead-time", "-1"], "must be a whole number of weeks >= 0"),
    (["--lead-time", "2", "--paths", "5"],
     "--lead-time belong(s) to `genlift backtest inventory ...`"),
    (["inventory", "--model", "m", "--lead-time", "1", "--service-level", "0.9", "--from",
      START, "--horizon", "5"], "--horizon belong(s) to the strategy backtest"),
    (["inventory", "--model", "m"], "backtest inventory needs --lead-time, --service-level, "
                                    "--from"),
    (["inventory", "--unmet", "backlog"], "invalid choice: 'backlog'"),
    (["inventory", "--service-level", "1.5"],
     "argument --service-level: must be a number in (0, 1), got '1.5'"),
    (["inventory", "--paths", "0"], "argument --paths: must be a whole number >= 1, got '0'"),
])
def test_usage_errors(cli: Cli, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                      argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("--db", str(tmp_path / "none.duckdb"), "backtest", *argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
