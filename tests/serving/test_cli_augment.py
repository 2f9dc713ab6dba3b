"""`genlift augment fit | sample | report` end to end on tiny stores the tests build."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.store import Store

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("aug") / "s.duckdb")
    rng = np.random.default_rng(0)
    n = 300
    applicants = pd.DataFrame({
        "applicant_id": [f"a{i}" for i in range(n)],
        "age": rng.integers(20, 70, n),
        "amount": rng.gamma(2.0, 1000.0, n).round(2),
        "housing": rng.choice(["own", "rent", "free"], n),
        "default": rng.integers(0, 2, n),
    })
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(60)],
                          "gender": rng.choice(["F", "M"], 60)})
    inter = pd.DataFrame({"user_id": rng.choice(users["user_id"], 900),
                          "item_id": [f"i{k}" for k in rng.integers(0, 40, 900)],
                          "ts": 1_600_000_000 + np.arange(900), "qty": 1.0, "value": 1.0})
    inter = inter.drop_duplicates(["user_id", "item_id"])
    dates = pd.bdate_range("2020-01-01", periods=260)
    closes = np.exp(np.cumsum(rng.standard_t(4, (260, 3)) * 0.01, axis=0)) * 100
    prices = pd.DataFrame({"date": np.repeat(dates, 3), "asset": np.tile(["A", "B", "C"], 260),
                           "close": closes.ravel()})
    weeks = pd.date_range("2020-01-02", periods=40, freq="7D")
    series = [(st, it) for st in ("s1", "s2") for it in ("a", "b", "c")]
    sales = pd.DataFrame([
        {"store_id": st, "item_id": it, "date": d, "price": float(p),
         "promo": float(pr), "units": float(round(np.exp(5 - 2 * np.log(p) + 0.5 * pr +
                                                          rng.normal(0, 0.2))))}
        for st, it in series for d in weeks
        for p, pr in [(rng.uniform(1.0, 2.0), rng.integers(0, 2))]])
    stores = pd.DataFrame({"store_id": ["s1", "s2"], "income": [10.0, 11.0]})
    with Store(path) as store:
        store.load({"applicants": applicants, "users": users, "interactions": inter,
                    "prices": prices, "stores": stores, "sales": sales}, source="test")
    return path


@pytest.mark.parametrize("generator", ["copula", "vae", "gan"])
def test_tabular_fit_sample_report(cli: Cli, db: str,
                                   tmp_path: Path, generator: str) -> None:
    out = tmp_path / generator
    code, text, err = cli("--db", db, "--json", "augment", "fit", "tabular",
                          "--generator", generator, "--epochs", "2", "--out", str(out))
    assert code == 0, err
    summary = json.loads(text)
    assert summary["train_rows"] == 240 and summary["table"] == "applicants"
    fit = json.loads((out / "fit.json").read_text())
    assert len(fit["holdout_keys"]) == 60 and fit["run_id"] == summary["run_id"]

    parquet = tmp_path / "s.parquet"
    code, _, err = cli("--db", db, "augment", "sample", str(out), "-n", "50",
                       "--condition", "default=1", "--condition", "housing=own",
                       "--seed", "3", "--out", str(parquet))
    assert code == 0, err
    sample = pd.read_parquet(parquet)
    assert len(sample) == 50 and (sample["default"] == 1).all()
    assert (sample["housing"] == "own").all()

    code, text, err = cli("--db", db, "--json", "augment", "report", str(out),
                          "--out", str(tmp_path / "r.html"), "-n", "200")
    assert code == 0, err
    card = json.loads(text)["scorecard"]
    assert 0 <= card["quality"] <= 1 and 0 <= card["detection_auc"] <= 1
    top, worst = card["detection_top_features"], card["worst_pairs"]
    assert 1 <= len(top) <= 4 and {t["column"] for t in top} <= {"age", "amount", "housing",
                                                                  "default"}
    assert len(worst) == 5 and set(worst[0]) == {"pair", "score"}
    assert [w["score"] for w in worst] == sorted(w["score"] for w in worst)
    page = (tmp_path / "r.html").read_text()
    assert page.count("<img src=\"data:image/png;base64,") >= 4 and "Scorecard" in page
    for heading in ("What gives synthetic rows away", "Worst column pairs",
                    "Worst pair with a number: "):
        assert heading in page
    assert "Detection AUC <b>" in page
    code, text, err = cli("--db", db, "augment", "report", str(out),
                          "--out", str(tmp_path / "r2.html"), "-n", "200")
    assert code == 0, err
    lines = dict(line.strip().split(": ", 1) for line in text.splitlines()[1:])
    assert "[" not in text and "{" not in text and "'" not in text  # no Python reprs
    first = lines["detection_top_features"].split(", ")[0].split(" ")
    assert first[0] == top[0]["column"] and float(first[1]) == pytest.approx(top[0]["share"])


def test_sample_to_store_appends_synthetic_rows(cli: Cli, db: str,
                                                tmp_path: Path) -> None:
    out = tmp_path / "cop"
    assert cli("--db", db, "augment", "fit", "tabular", "--generator", "copula",
               "--out", str(out))[0] == 0
    for _ in range(2):  # two runs append side by side: keys carry the run id
        code, text, err = cli("--db", db, "augment", "sample", str(out), "-n", "25",
                              "--to-store")
        assert code == 0, err and "synthetic_applicants: +25 rows" in text
    with Store(db, read_only=True) as store:
        syn = store.read("synthetic_applicants")
        assert len(syn) == 50 and syn["run_id"].nunique() == 2
        assert (syn["generator"] == "tabular-copula").all()
        assert syn["applicant_id"].str.startswith("syn-").all()


def test_baskets_and_paths(cli: Cli, db: str, tmp_path: Path) -> None:
    code, _, err = cli("--db", db, "augment", "fit", "baskets", "--generator", "vae",
                       "--epochs", "2", "--out", str(tmp_path / "b"))
    assert code == 0, err
    code, _, err = cli("--db", db, "augment", "sample", str(tmp_path / "b"), "-n",
                       "10", "--to-store")
    assert code == 0, err
    with Store(db, read_only=True) as store:
        assert store.read("synthetic_users")["user_id"].nunique() == 10
        assert store.row_count("synthetic_interactions") > 0
    code, _, err = cli("--db", db, "augment", "report", str(tmp_path / "b"), "--out",
                       str(tmp_path / "b.html"))
    assert code == 0, err

    code, _, err = cli("--db", db, "augment", "fit", "paths", "--generator",
                       "bootstrap", "--train-end", "2020-09-30", "--out", str(tmp_path / "p"))
    assert code == 0, err
    code, _, err = cli("--db", db, "augment", "sample", str(tmp_path / "p"), "-n", "4",
                       "--length", "30", "--out", str(tmp_path / "p.parquet"))
    assert code == 0, err
    paths = pd.read_parquet(tmp_path / "p.parquet")
    assert len(paths) == 120 and list(paths.columns[:2]) == ["path", "step"]
    code, _, err = cli("--db", db, "augment", "sample", str(tmp_path / "p"), "-n", "4",
                       "--to-store")
    assert code == 2 and "paths samples have no store table" in err
    code, _, err = cli("--db", db, "augment", "report", str(tmp_path / "p"), "--out",
                       str(tmp_path / "p.html"), "-n", "20")
    assert code == 0, err


def test_sales_windows(cli: Cli, db: str, tmp_path: Path) -> None:
    code, text, err = cli("--db", db, "--json", "augment", "fit", "sales",
                          "--generator", "ar", "--epochs", "2", "--out", str(tmp_path / "s"))
    assert code == 0, err
    assert json.loads((tmp_path / "s" / "fit.json").read_text())["train_end"] == "2020-08-06"
    code, _, err = cli("--db", db, "augment", "sample", str(tmp_path / "s"), "-n", "5",
                       "--length", "6", "--out", str(tmp_path / "w.parquet"))
    assert code == 0, err
    windows = pd.read_parquet(tmp_path / "w.parquet")
    assert len(windows) == 30 and windows["window_id"].nunique() == 5
    assert (windows["units"] >= 0).all()
    code, _, err = cli("--db", db, "augment", "sample", str(tmp_path / "s"), "-n", "5",
                       "--to-store")
    assert code == 2 and "sales samples have no store table" in err
    code, text, err = cli("--db", db, "--json", "augment", "report",
                          str(tmp_path / "s"), "--out", str(tmp_path / "s.html"), "-n", "50")
    assert code == 0, err
    assert 0.0 <= json.loads(text)["scorecard"]["log_units_ks"] <= 1.0


@pytest.mark.parametrize(("args", "message"), [
    (["augment", "fit", "tabular", "--generator", "flow", "--out", "x"],
     "unknown tabular generator 'flow'. Fix: use one of copula, vae, gan, diffusion, auto"),
    (["augment", "sample", "nowhere", "-n", "3", "--to-store"],
     "nowhere is not a `genlift augment fit` folder"),
    (["augment", "fit", "paths", "--generator", "garch", "--train-end", "2031-01-01",
      "--out", "x"], "--train-end 2031-01-01 leaves"),
    (["augment", "fit", "tabular", "--table", "items", "--generator", "copula", "--out", "x"],
     "table 'items' is not in the store"),
])
def test_bad_input(cli: Cli, db: str, tmp_path: Path, args: list[str],
                   message: str) -> None:
    args = [a if a != "x" else str(tmp_path / "x") for a in args]
    code, out, err = cli("--db", db, *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_bad_sample_flags(cli: Cli, db: str, tmp_path: Path) -> None:
    out = tmp_path / "cop"
    assert cli("--db", db, "augment", "fit", "tabular", "--generator", "copula",
               "--out", str(out))[0] == 0
    code, _, err = cli("--db", db, "augment", "sample", str(out), "-n", "3")
    assert code == 2 and "exactly one of --out FILE and --to-store" in err
    code, _, err = cli("--db", db, "augment", "sample", str(out), "-n", "3",
                       "--condition", "default", "--to-store")
    assert code == 2 and "--condition 'default' is not of the form column=value" in err
    code, _, err = cli("--db", db, "augment", "sample", str(out), "-n", "3",
                       "--condition", "housing=castle", "--to-store")
    assert code == 2 and "value unseen in training" in err


def test_types_survive_import_fit_and_sample(cli: Cli, tmp_path: Path) -> None:
    """A CSV's whole numbers are imported as BIGINT and its true/false as BOOLEAN, and the
    synthetic rows come back as integers and flags, inside the observed ranges."""
    rng = np.random.default_rng(1)
    n = 200
    csv = tmp_path / "loans.csv"
    pd.DataFrame({
        "applicant_id": [f"l{i}" for i in range(n)],
        "balance": rng.integers(0, 20_000, n),
        "delinquencies": np.where(rng.random(n) < 0.7, 0, rng.integers(1, 5, n)),
        "rate": np.round(rng.uniform(5, 20, n), 2),
        "owner": np.where(rng.random(n) < 0.4, "true", "false"),
        "state": rng.choice(["CA", "NY"], n),
        "default": rng.integers(0, 2, n),
    }).to_csv(csv, index=False)
    db = str(tmp_path / "t.duckdb")
    assert cli("--db", db, "data", "import", "applicants", str(csv))[0] == 0
    with Store(db, read_only=True) as store:
        types = store.query("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_name = 'applicants'")
    assert dict(zip(types["column_name"], types["data_type"], strict=True)) == {
        "applicant_id": "VARCHAR", "balance": "BIGINT", "delinquencies": "BIGINT",
        "rate": "DOUBLE", "owner": "BOOLEAN", "state": "VARCHAR", "default": "BIGINT"}
    model = tmp_path / "m"
    assert cli("--db", db, "augment", "fit", "tabular", "--generator", "copula",
               "--out", str(model))[0] == 0
    out = tmp_path / "s.parquet"
    assert cli("--db", db, "augment", "sample", str(model), "-n", "500", "--seed", "1",
               "--out", str(out))[0] == 0
    synth = pd.read_parquet(out)
    assert synth["balance"].dtype == np.int64 and synth["delinquencies"].dtype == np.int64
    assert synth["owner"].dtype == bool and set(synth["state"]) <= {"CA", "NY"}
    assert synth["balance"].between(0, 20_000).all()
    assert 0.5 < (synth["delinquencies"] == 0).mean() < 0.9
    assert np.allclose(synth["rate"] * 100, np.round(synth["rate"] * 100))
