"""`genlift train | evaluate | score credit` on a small store the test builds."""

from __future__ import annotations

import json
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
    n = 400
    amount = rng.gamma(2.0, 1500.0, n).round()
    housing = rng.choice(["own", "rent", "free"], n)
    logit = -1.5 + amount / 3000 + (housing == "rent") * 0.8
    frame = pd.DataFrame({"applicant_id": [f"a{i:03d}" for i in range(n)],
                          "credit_amount": amount, "age_in_years": rng.integers(19, 70, n),
                          "housing": housing,
                          "default": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"applicants": frame}, source="test")
    return path


def test_train_score_with_row_errors(cli: Cli, db: str,
                                     tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "--json", "train", "credit", "--out",
                          str(tmp_path / "m"))
    assert code == 0, err
    assert json.loads(text)["applicants"] == 400
    assert json.loads((tmp_path / "m" / "train.json").read_text())["run_id"]
    new = pd.DataFrame({"applicant_id": ["n1", "n2", "n3", "n4"],
                        "credit_amount": [9000.0, 500.0, None, 1000.0],
                        "age_in_years": [30, 40, 50, 60],
                        "housing": ["rent", "own", "own", "castle"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    code, text, err = cli("--db", db, "--json", "score", "credit", "--model",
                          str(tmp_path / "m"), "--in", str(tmp_path / "new.csv"), "--out",
                          str(tmp_path / "s.parquet"))
    assert code == 0, err
    assert json.loads(text) == {"out": str(tmp_path / "s.parquet"), "rows": 4, "scored": 2,
                                "rows_with_errors": 2}
    scores = pd.read_parquet(tmp_path / "s.parquet").set_index("applicant_id")
    assert scores.loc["n1", "pd"] > scores.loc["n2", "pd"]  # larger amount, renting
    assert scores.loc["n1", "score"] < scores.loc["n2", "score"]
    assert np.isnan(scores.loc["n3", "pd"]) and "credit_amount is missing" in \
        scores.loc["n3", "error"]
    assert "unseen" in scores.loc["n4", "error"] and np.isnan(scores.loc["n4", "score"])


def test_evaluate_credit(cli: Cli, db: str) -> None:
    code, text, err = cli("--db", db, "--json", "evaluate", "credit", "--repeats", "1",
                          "--folds", "3")
    assert code == 0, err
    result = json.loads(text)
    assert set(result["summary"]) == {"lightgbm", "woe_logistic"}
    assert 0.5 < result["summary"]["woe_logistic"]["auc"]["mean"] <= 1.0
    assert result["paired"]["lightgbm - woe_logistic"]["auc"]["verdict"]


def test_bad_input(cli: Cli, db: str, tmp_path: Path) -> None:
    code, _, err = cli("--db", db, "train", "credit", "--with-synthetic", "--out",
                       str(tmp_path / "m"))
    assert code == 2 and "no synthetic_applicants" in err
    code, _, err = cli("--db", db, "score", "credit", "--model", str(tmp_path / "x"),
                       "--in", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o"))
    assert code == 2 and "Traceback" not in err
