"""`genlift train | evaluate pricing`, `genlift price portfolio` and `genlift lift pricing`
on a small store of constructed policies (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


def policies(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 65, n)
    smoker = rng.choice(["no", "yes"], n, p=[0.75, 0.25])
    region = rng.choice(["north", "south"], n)
    mu = 3000 * np.exp(0.03 * (age - 40)) * np.where(smoker == "yes", 3.0, 1.0) \
        * np.where(region == "south", 1.3, 1.0)
    return pd.DataFrame({"policy_id": [f"{i:04d}" for i in range(n)], "age": age,
                         "smoker": smoker, "region": region,
                         "charges": rng.gamma(10.0, mu / 10.0)})


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("pricing") / "s.duckdb")
    with Store(path) as store:
        store.load({"policies": policies()}, source="test")
    return path


@pytest.fixture(scope="module")
def model(db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from serving.cli.main import main
    out = tmp_path_factory.mktemp("model") / "m"
    assert main(["--no-progress", "--db", db, "train", "pricing", "--out", str(out),
                 "--cv-repeats", "1", "--cv-folds", "2"]) == 0
    return out


def test_train_pricing_writes_models_relativities_and_report(model: Path) -> None:
    meta = json.loads((model / "train.json").read_text())
    assert meta["champion"] in ("gbm", "glm") and meta["loading"] == 1.25
    assert meta["gbm_monotone"] == {"age": 1, "smoker": 1}
    for name in ("gbm/params.json", "glm/glm.json", "relativities.csv",
                 "glm_coefficients.csv", "premiums.parquet", "pricing.html"):
        assert (model / name).is_file(), name
    coef = pd.read_csv(model / "glm_coefficients.csv").set_index("term")
    assert coef.loc["smoker[yes]", "relativity"] == pytest.approx(3.0, rel=0.15)
    premiums = pd.read_parquet(model / "premiums.parquet")
    champion = premiums[f"expected_cost_{meta['champion']}"]
    assert np.allclose(premiums["premium"], 1.25 * champion)


def test_evaluate_pricing_json(cli: Cli, db: str, tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "--json", "evaluate", "pricing", "--repeats", "1",
                          "--folds", "2", "--out", str(tmp_path / "e"))
    assert code == 0, err
    result = json.loads(text)
    assert set(result["test"]) == {"gbm", "glm"}
    assert result["champion"] == max(("gbm", "glm"), key=lambda m: result["cv"]["summary"][m]
                                     ["gini"]["mean"])
    assert result["target"]["met"] is True  # the champion's CV Gini >= the GLM's, by choice
    assert 0.1 < result["test"]["glm"]["gini"] < 0.6
    assert len(result["double_lift"]) == 10
    assert (tmp_path / "e" / "evaluation.html").is_file()
    code, text, err = cli("--db", db, "evaluate", "pricing", "--repeats", "1", "--folds", "2")
    assert code == 0 and "champion (higher CV Gini)" in text and "Gini gbm - glm" in text


def test_price_portfolio_smoker_and_older_book(cli: Cli, db: str, model: Path,
                                               tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "--json", "price", "portfolio", "--model", str(model),
                          "--condition", "smoker=yes", "--condition", "age>=50", "--n", "150",
                          "--books", "100", "--out", str(tmp_path / "p"))
    assert code == 0, err
    result = json.loads(text)
    book = pd.read_parquet(tmp_path / "p" / "simulated_book.parquet")
    assert len(book) == 150 and (book["smoker"] == "yes").all() and (book["age"] >= 50).all()
    sim, real = result["books"]["simulated"], result["books"]["real"]
    assert sim["mean_premium"] > 2 * real["mean_premium"]  # old smokers cost more
    assert 0.5 < real["loss_ratio"] < 1.1
    assert (tmp_path / "p" / "portfolio.html").is_file()
    code, _, err = cli("--db", db, "--json", "price", "portfolio", "--model", str(model),
                       "--mix", "region=south:0.8,north:0.2", "--n", "100", "--books", "100",
                       "--out", str(tmp_path / "q"))
    assert code == 0, err
    mixed = pd.read_parquet(tmp_path / "q" / "simulated_book.parquet")
    assert (mixed["region"] == "south").sum() == 80
    # a generator from `genlift augment fit tabular --table policies`
    code, _, err = cli("--db", db, "augment", "fit", "tabular", "--table", "policies",
                       "--generator", "copula", "--out", str(tmp_path / "g"))
    assert code == 0, err
    code, text, err = cli("--db", db, "--json", "price", "portfolio", "--model", str(model),
                          "--generator-dir", str(tmp_path / "g"), "--condition", "smoker=no",
                          "--n", "100", "--books", "100", "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert json.loads(text)["config"]["generator_dir"] == str(tmp_path / "g")


def test_bad_input_exits_2(cli: Cli, db: str, model: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # a usage error, before anything starts
        cli("--db", db, "train", "pricing", "--loading", "0.5", "--out", str(tmp_path / "m"))
    assert exc.value.code == 2 and not (tmp_path / "m").exists()
    assert "argument --loading: must be a number in [1, 1e+06], got '0.5'" \
        in capsys.readouterr().err
    for cond, what in (("colour=red", "unknown column 'colour'"),
                       ("smoker=maybe", "level unseen"), ("age>=old", "not a number"),
                       ("age", "not COLUMN OP VALUE")):
        code, _, err = cli("--db", db, "price", "portfolio", "--model", str(model),
                           "--condition", cond, "--out", str(tmp_path / "p"))
        assert code == 2 and what in err and "Traceback" not in err, err
    code, _, err = cli("--db", db, "price", "portfolio", "--model", str(model),
                       "--condition", "age>=200", "--out", str(tmp_path / "p"))
    assert code == 2 and "keep 0 of the" in err
    empty = str(tmp_path / "empty.duckdb")
    Store(empty).close()
    code, _, err = cli("--db", empty, "train", "pricing", "--out", str(tmp_path / "m2"))
    assert code == 2 and "data fetch medical-insurance" in err
    code, _, err = cli("--db", db, "lift", "pricing", "--param", "objective=normal")
    assert code == 2 and "'objective' parameter of PricingLiftTask" in err
