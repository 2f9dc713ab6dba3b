"""`genlift clv` on a small purchase log the test simulates: outputs, the customer_value
table, --json, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from features.schemas import validate_frame
from features.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from test_clv import simulated_log  # noqa: E402  (the engine tests' simulated log)

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "s.duckdb")
    with Store(path) as store:
        store.load({"transactions": simulated_log(300)}, source="test")
    return path


def test_clv_writes_outputs_table_and_json(cli: Cli, db: str, tmp_path: Path) -> None:
    out = tmp_path / "clv"
    code, stdout, err = cli("--db", db, "--json", "--no-progress", "clv", "--calibration-end",
                            "2024-05-15", "--horizon-weeks", "26", "--out", str(out))
    assert code == 0, err
    result = json.loads(stdout)
    assert set(result["params"]) == {"bgnbd", "gamma_gamma", "bgnbd_calibration", "as_of"}
    hold = result["holdout"]
    assert hold["calibration_end"] == "2024-05-15"
    assert [r["calibration_repeat_purchases"] for r in hold["by_frequency"]][0] == "0"
    assert hold["mae_model"] > 0 and hold["actual_total"] > 0
    for name in ("customers.parquet", "holdout.parquet", "clv.json", "report.html"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*tmp"))
    customers = pd.read_parquet(out / "customers.parquet")
    assert len(customers) == 300 == result["customers"]
    assert {"frequency", "recency", "T", "monetary", "clv"} <= set(customers.columns)
    with Store(db, read_only=True) as store:
        table = store.read("customer_value")
        runs = store.runs()
    assert list(table.columns) == ["user_id", "expected_purchases", "p_alive",
                                   "expected_spend", "clv"]
    validate_frame("customer_value", table)
    assert table["clv"].sum() == pytest.approx(result["total_clv"])
    assert runs["kind"].tolist() == ["clv"] and runs["status"].tolist() == ["finished"]
    assert "Holdout check" in (out / "report.html").read_text()

    code, stdout, err = cli("--db", db, "--no-progress", "clv", "--out", str(tmp_path / "b"))
    assert code == 0, err
    assert "holdout" not in stdout and "Gamma-Gamma" in stdout
    assert not (tmp_path / "b" / "holdout.parquet").exists()


@pytest.mark.parametrize(("args", "pattern"), [
    (["--calibration-end", "2030-01-01"], "calibration end 2030-01-01 is outside the data"),
    (["--table", "interactions"], "has no column.s. .*quantity, amount"),
    (["--table", "nothere"], "the store has no table 'nothere'"),
])
def test_clv_bad_input_exits_2_and_writes_nothing(cli: Cli, db: str, tmp_path: Path,
                                                   args: list[str], pattern: str) -> None:
    with Store(db) as store:
        store.load({"interactions": pd.DataFrame({
            "user_id": ["1"], "item_id": ["9"], "ts": ["2024-01-01"], "qty": [1.0],
            "value": [2.0]})}, source="test")
    out = tmp_path / "clv"
    code, _, err = cli("--db", db, "--no-progress", "clv", *args, "--out", str(out))
    assert code == 2
    assert __import__("re").search(pattern, err), err
    assert not out.exists()
    with Store(db, read_only=True) as store:
        assert not store.has("customer_value")


@pytest.mark.parametrize(("args", "pattern"), [
    (["--horizon-weeks", "0"], "--horizon-weeks: must be a number in \\(0, 520\\]"),
    (["--discount-rate", "-0.1"], "--discount-rate: must be a number in \\[0, 1\\]"),
    (["--margin", "nan"], "--margin: must be a number in \\(0, 1\\]"),
])
def test_clv_bad_numbers_are_usage_errors(cli: Cli, db: str, tmp_path: Path,
                                          args: list[str], pattern: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli("--db", db, "clv", *args, "--out", str(tmp_path / "o"))
    assert exit_.value.code == 2
    assert __import__("re").search(pattern, capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


def test_clv_refuses_negative_amounts_in_the_store(cli: Cli, tmp_path: Path) -> None:
    # a store written by something else than genlift's loader: the table is read raw
    path = str(tmp_path / "raw.duckdb")
    with Store(path) as store:
        store.load({"transactions": simulated_log(50)}, source="test")
        with store.transaction() as con:
            con.execute("UPDATE transactions SET amount = -1 WHERE user_id = 'u0003'")
    code, _, err = cli("--db", path, "--no-progress", "clv", "--out", str(tmp_path / "o"))
    assert code == 2 and "transactions.amount has" in err and "negative values" in err
    assert not (tmp_path / "o").exists()
