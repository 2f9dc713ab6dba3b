"""Table contracts: features.schemas.validate_frame on tiny frames with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import DataValidationError
from features.schemas import children_of, parent_columns, schema_for, validate_frame


def interactions(**overrides: list) -> pd.DataFrame:
    """Three valid interaction rows as text (the way a CSV arrives); overrides replace columns."""
    cols = {
        "user_id": ["u1", "u2", "u3"],
        "item_id": ["i1", "i2", "i1"],
        "ts": ["2024-01-01T00:00:00", "2024-01-02T12:30:00", "2024-01-03"],
        "qty": ["1", "2", "0"],
        "value": ["1.5", "0", "3"],
    }
    cols.update(overrides)
    return pd.DataFrame(cols)


def sales(**overrides: list) -> pd.DataFrame:
    cols = {
        "store_id": ["s1", "s1", "s2"],
        "item_id": ["i1", "i2", "i1"],
        "date": ["2024-01-01", "2024-01-01", "2024-01-02"],
        "units": ["3", "0", "1"],
        "price": ["2.5", "1", "2.5"],
        "promo": ["0", "1", "0.5"],
    }
    cols.update(overrides)
    return pd.DataFrame(cols)


# -- good input comes back typed ----------------------------------------------------------
def test_good_interactions_come_back_typed_with_contract_columns_first() -> None:
    frame = interactions(device=["ios", "web", "ios"])[
        ["device", "value", "qty", "ts", "item_id", "user_id"]
    ]
    out = validate_frame("interactions", frame)
    assert list(out.columns) == ["user_id", "item_id", "ts", "qty", "value", "device"]
    assert pd.api.types.is_string_dtype(out["user_id"].dtype)
    assert pd.api.types.is_string_dtype(out["item_id"].dtype)
    assert pd.api.types.is_datetime64_dtype(out["ts"].dtype)
    assert out["qty"].dtype == np.float64 and out["value"].dtype == np.float64
    assert out["qty"].tolist() == [1.0, 2.0, 0.0]
    assert out["ts"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02 12:30"),
                                  pd.Timestamp("2024-01-03")]
    assert out["device"].tolist() == ["ios", "web", "ios"]


def test_integer_and_integral_float_ids_become_strings() -> None:
    out = validate_frame("stores", pd.DataFrame({"store_id": [1.0, 2.0, 30.0]}))
    assert out["store_id"].tolist() == ["1", "2", "30"]
    out = validate_frame("users", pd.DataFrame({"user_id": [7, 8]}))
    assert out["user_id"].tolist() == ["7", "8"]
    out = validate_frame("users", pd.DataFrame({"user_id": [" a ", "b"]}))
    assert out["user_id"].tolist() == ["a", "b"]


def test_epoch_seconds_and_iso_timestamps_give_the_same_times() -> None:
    iso = validate_frame("interactions", interactions(
        ts=["2024-01-01T00:00:00", "2024-01-02", "2024-01-01 06:00:00"]))
    epoch = validate_frame("interactions", interactions(
        ts=["1704067200", "1704153600", "1704088800"]))
    assert iso["ts"].tolist() == epoch["ts"].tolist()
    assert epoch["ts"].tolist()[0] == pd.Timestamp("2024-01-01 00:00:00")
    numeric = validate_frame("interactions", interactions(ts=[1704067200, 1704153600,
                                                             1704088800]))
    assert numeric["ts"].tolist() == iso["ts"].tolist()


def test_datetime_input_is_kept_and_timezone_aware_is_converted_to_utc() -> None:
    ts = pd.to_datetime(["2024-01-01 02:00", "2024-01-02 00:00", "2024-01-03 00:00"]).tz_localize(
        "Europe/Berlin")
    out = validate_frame("interactions", interactions(ts=ts))
    assert out["ts"].dt.tz is None
    assert out["ts"].iloc[0] == pd.Timestamp("2024-01-01 01:00")


def test_date_columns_become_midnight_datetimes() -> None:
    out = validate_frame("sales", sales(date=["2024-01-31T15:45:00", "2024-01-31", "2024-02-01"]))
    assert pd.api.types.is_datetime64_dtype(out["date"].dtype)
    assert out["date"].tolist() == [pd.Timestamp("2024-01-31")] * 2 + [pd.Timestamp("2024-02-01")]


def test_items_price_is_optional_but_checked_when_present() -> None:
    out = validate_frame("items", pd.DataFrame({"item_id": ["i1", "i2"]}))
    assert list(out.columns) == ["item_id"]
    out = validate_frame("items", pd.DataFrame({"item_id": ["i1", "i2"], "price": ["2", None]}))
    assert out["price"].iloc[0] == 2.0 and np.isnan(out["price"].iloc[1])


def test_extra_attribute_columns_are_kept_with_leading_zeros_as_text() -> None:
    frame = pd.DataFrame({
        "user_id": ["u1", "u2", "u3"],
        "zip": ["01234", "10115", "00501"],
        "age": ["31", "45", ""],
        "city": ["Berlin", "Paris", "42"],
        "account": ["-0012", "7", "8"],
    })
    out = validate_frame("users", frame)
    assert list(out.columns) == ["user_id", "zip", "age", "city", "account"]
    assert out["zip"].tolist() == ["01234", "10115", "00501"]
    assert pd.api.types.is_string_dtype(out["zip"].dtype)
    assert out["age"].dtype == "Int64"  # whole numbers stay integers, blanks missing
    assert out["age"].iloc[0] == 31 and out["age"].isna().tolist() == [False, False, True]
    assert out["city"].tolist() == ["Berlin", "Paris", "42"]
    assert out["account"].tolist() == ["-0012", "7", "8"]


# -- attribute types inferred from text (a CSV import), and kept by the store ------------
def _attrs(**cols: list) -> pd.DataFrame:
    """Typed attribute columns of a users frame with one row per value given."""
    n = len(next(iter(cols.values())))
    out = validate_frame("users", pd.DataFrame({"user_id": [f"u{i}" for i in range(n)],
                                                **cols}))
    return out.drop(columns="user_id")


def test_whole_numbers_become_nullable_int64() -> None:
    out = _attrs(a=["1", "-2", "+3"], b=["10", "", None], c=[" 7 ", "8", "9"],
                 big=["9223372036854775807", "0", "-9223372036854775808"])
    assert all(out[c].dtype == "Int64" for c in out.columns)
    assert out["a"].tolist() == [1, -2, 3] and out["c"].tolist() == [7, 8, 9]
    assert out["b"].iloc[0] == 10 and out["b"].isna().tolist() == [False, True, True]
    assert out["big"].tolist() == [2**63 - 1, 0, -(2**63)]


def test_true_false_text_becomes_nullable_boolean() -> None:
    out = _attrs(flag=["true", "FALSE", "True"], gaps=["false", "", None],
                 yes_no=["yes", "no", "yes"], mixed=["true", "1", "false"])
    assert out["flag"].dtype == "boolean" and out["flag"].tolist() == [True, False, True]
    assert out["gaps"].dtype == "boolean"
    assert out["gaps"].tolist()[0] is False
    assert out["gaps"].isna().tolist() == [False, True, True]
    # only true/false: yes/no stays text, and so does a mix of flags and numbers
    assert pd.api.types.is_string_dtype(out["yes_no"].dtype)
    assert out["mixed"].tolist() == ["true", "1", "false"]


def test_other_numbers_stay_float_and_leading_zeros_stay_text() -> None:
    out = _attrs(frac=["1.5", "2", "-3"], dotted=["1.0", "2.0", "3.0"], exp=["1e3", "2", "3"],
                 past_int64=["9223372036854775808", "1", "2"],
                 zip=["01234", "10115", "7"], signed_zero=["-012", "3", "4"],
                 zero=["0", "-0", "10"])
    for col in ("frac", "dotted", "exp", "past_int64"):
        assert out[col].dtype == np.float64, col
    assert out["frac"].tolist() == [1.5, 2.0, -3.0] and out["exp"].iloc[0] == 1000.0
    assert out["zip"].tolist() == ["01234", "10115", "7"]
    assert out["signed_zero"].tolist() == ["-012", "3", "4"]
    assert pd.api.types.is_string_dtype(out["zip"].dtype)
    assert out["zero"].dtype == "Int64" and out["zero"].tolist() == [0, 0, 10]


def test_typed_columns_are_not_reinferred() -> None:
    out = _attrs(f=[1.0, 2.0, 3.0], i=np.array([1, 2, 3], dtype=np.int32), b=[True, False, True])
    assert out["f"].dtype == np.float64 and out["i"].dtype == np.int32
    assert out["b"].dtype == bool


def test_inferred_types_survive_a_store_round_trip(tmp_path: Path) -> None:
    from features.store import Store

    frame = pd.DataFrame({
        "user_id": ["u1", "u2", "u3"], "age": ["31", "45", "27"], "visits": ["3", "", "5"],
        "active": ["true", "false", "TRUE"], "maybe": ["true", "", "false"],
        "score": ["0.5", "1", "2.25"], "zip": ["01234", "10115", "00501"],
    })
    with Store(tmp_path / "t.duckdb") as store:
        store.load({"users": frame}, source="test")
        types = dict(store.query("SELECT column_name, data_type FROM "
                                 "information_schema.columns WHERE table_name = 'users'")
                     .itertuples(index=False, name=None))
    with Store(tmp_path / "t.duckdb", read_only=True) as store:
        back = store.read("users").sort_values("user_id", ignore_index=True)
    assert types == {"user_id": "VARCHAR", "age": "BIGINT", "visits": "BIGINT",
                     "active": "BOOLEAN", "maybe": "BOOLEAN", "score": "DOUBLE",
                     "zip": "VARCHAR"}
    assert back["age"].dtype == np.int64 and back["age"].tolist() == [31, 45, 27]
    assert back["visits"].dtype == "Int64"
    assert back["visits"].isna().tolist() == [False, True, False]
    assert back["active"].dtype == bool and back["active"].tolist() == [True, False, True]
    assert back["maybe"].dtype == "boolean" and back["maybe"].isna().tolist() == [False, True,
                                                                                  False]
    assert back["score"].dtype == np.float64 and back["zip"].tolist() == ["01234", "10115",
                                                                          "00501"]


def test_binary_default_accepts_0_1_and_booleans() -> None:
    out = validate_frame("applicants", pd.DataFrame({"applicant_id": ["a", "b", "c"],
                                                     "default": ["0", "1", "1.0"]}))
    assert out["default"].dtype == np.int64
    assert out["default"].tolist() == [0, 1, 1]
    out = validate_frame("applicants", pd.DataFrame({"applicant_id": ["a", "b"],
                                                     "default": [True, False]}))
    assert out["default"].tolist() == [1, 0]


def test_column_names_are_stripped() -> None:
    frame = pd.DataFrame({" user_id ": ["u1"]})
    assert list(validate_frame("users", frame).columns) == ["user_id"]


def test_input_index_does_not_matter() -> None:
    frame = interactions().set_axis([10, 20, 30])
    out = validate_frame("interactions", frame)
    assert list(out.index) == [0, 1, 2]


# -- each broken rule: one DataValidationError naming table, column, rows, fix -----------
def test_missing_required_column_names_it_and_suggests_map() -> None:
    with pytest.raises(DataValidationError,
                       match=r"interactions is missing required column\(s\) qty, value "
                             r"\(found: user_id, item_id, ts\)\. Fix: .*--map qty=") as exc:
        validate_frame("interactions", interactions().drop(columns=["qty", "value"]))
    assert exc.value.table == "interactions" and exc.value.column == "qty"


@pytest.mark.parametrize(("table", "frame", "pattern"), [
    # not of the column's type
    ("interactions", interactions(qty=["1", "abc", "2"]),
     r"interactions\.qty has 1 values that are not numbers \(rows 2: 'abc'\)\. "
     r"Fix: make every qty a number"),
    ("interactions", interactions(value=["1", "2", "inf"]),
     r"interactions\.value has 1 values that are not numbers \(rows 3: 'inf'\)"),
    ("interactions", interactions(ts=["2024-01-01", "yesterday", "2024-13-45"]),
     r"interactions\.ts has 2 values that are not dates/times \(rows 2, 3: 'yesterday', "
     r"'2024-13-45'\)\. Fix: write ts as ISO 8601 .* or as Unix epoch seconds"),
    ("interactions", interactions(ts=["2024-01-01", "1704067200", "2024-01-03"]),
     r"interactions\.ts has 1 values that are not dates/times \(rows 2: '1704067200'\)"),
    ("sales", sales(units=["1", "2", "three"]),
     r"sales\.units has 1 values that are not numbers \(rows 3: 'three'\)"),
    ("applicants", pd.DataFrame({"applicant_id": ["a", "b"], "default": ["yes", "0"]}),
     r"applicants\.default has 1 values that are not numbers \(rows 1: 'yes'\)"),
    ("applicants", pd.DataFrame({"applicant_id": ["a", "b"], "default": ["0.5", "1"]}),
     r"applicants\.default has 1 values that are not whole numbers \(rows 1: '0\.5'\)\. "
     r"Fix: make default an integer"),
    # negative quantities
    ("interactions", interactions(qty=["1", "-1", "-3"]),
     r"interactions\.qty has 2 negative values \(rows 2, 3: '-1', '-3'\)\. "
     r"Fix: quantities must be >= 0"),
    ("interactions", interactions(value=["-0.5", "1", "2"]),
     r"interactions\.value has 1 negative values \(rows 1: '-0\.5'\)\. Fix: values must be >= 0"),
    ("sales", sales(units=["1", "-2", "0"]),
     r"sales\.units has 1 negative values \(rows 2: '-2'\)\. Fix: units must be >= 0"),
    ("sales", sales(promo=["0", "1", "-1"]),
     r"sales\.promo has 1 negative values \(rows 3: '-1'\)\. "
     r"Fix: promo flags/intensities must be >= 0"),
    # non-positive prices
    ("items", pd.DataFrame({"item_id": ["i1", "i2", "i3"], "price": ["1", "0", "-2"]}),
     r"items\.price has 2 values not > 0 \(rows 2, 3: '0', '-2'\)\. Fix: prices must be > 0"),
    ("sales", sales(price=["2", "0", "1"]),
     r"sales\.price has 1 values not > 0 \(rows 2: '0'\)\. Fix: prices must be > 0"),
    ("prices", pd.DataFrame({"date": ["2024-01-01"], "asset": ["A"], "close": ["0"]}),
     r"prices\.close has 1 values not > 0 \(rows 1: '0'\)\. Fix: close prices must be > 0"),
])
def test_bad_values(table: str, frame: pd.DataFrame, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        validate_frame(table, frame)


@pytest.mark.parametrize("blank", [np.nan, None, "", "   "])
def test_empty_key(blank: object) -> None:
    frame = pd.DataFrame({"user_id": ["u1", blank, "u3"]}, dtype=object)
    with pytest.raises(DataValidationError,
                       match=r"users\.user_id has 1 empty keys \(rows 2\)\. "
                             r"Fix: every row needs a user_id; drop or fill those rows") as exc:
        validate_frame("users", frame)
    assert (exc.value.table, exc.value.column, exc.value.n_rows, exc.value.rows) == (
        "users", "user_id", 1, [2])


def test_nan_float_id_is_an_empty_key() -> None:
    with pytest.raises(DataValidationError, match=r"stores\.store_id has 1 empty keys \(rows 1\)"):
        validate_frame("stores", pd.DataFrame({"store_id": [np.nan, 2.0]}))


def test_empty_timestamp_key_and_missing_required_value() -> None:
    with pytest.raises(DataValidationError, match=r"interactions\.ts has 1 empty keys \(rows 3\)"):
        validate_frame("interactions", interactions(ts=["2024-01-01", "2024-01-02", None]))
    with pytest.raises(DataValidationError,
                       match=r"interactions\.qty has 2 missing values \(rows 1, 3\)"):
        validate_frame("interactions", interactions(qty=[None, "1", ""]))


@pytest.mark.parametrize("bad", ["2", "-1", 3])
def test_default_must_be_0_or_1(bad: object) -> None:
    frame = pd.DataFrame({"applicant_id": ["a", "b", "c"], "default": ["0", bad, "1"]})
    with pytest.raises(DataValidationError,
                       match=r"applicants\.default has 1 values other than 0 and 1 \(rows 2: .*\)"
                             r"\. Fix: encode default as 1 \(yes\) or 0 \(no\)"):
        validate_frame("applicants", frame)


def test_duplicate_single_key() -> None:
    with pytest.raises(DataValidationError,
                       match=r"users\.user_id has 2 duplicate keys \(rows 1, 3: 'a', 'a'\)\. "
                             r"Fix: each \(user_id\) may appear once") as exc:
        validate_frame("users", pd.DataFrame({"user_id": ["a", "b", "a"]}))
    assert exc.value.n_rows == 2 and exc.value.rows == [1, 3]


def test_duplicate_composite_key_is_found_after_typing() -> None:
    # "2024-01-01" and "2024-01-01T00:00:00" are the same time, " u1" the same id as "u1".
    frame = interactions(user_id=["u1", " u1", "u2"], item_id=["i1", "i1", "i1"],
                         ts=["2024-01-01", "2024-01-01T00:00:00", "2024-01-01"])
    with pytest.raises(DataValidationError,
                       match=r"interactions\.user_id\+item_id\+ts has 2 duplicate keys "
                             r"\(rows 1, 2\)\. Fix: each \(user_id, item_id, ts\) may appear"):
        validate_frame("interactions", frame)


def test_ids_unknown_to_a_parent() -> None:
    parents = {"users": pd.Series(["u1", "u2"]), "items": pd.Series(["i1", "i2"])}
    with pytest.raises(DataValidationError,
                       match=r"interactions\.user_id has 1 ids unknown to users \(rows 3: 'u3'\)"
                             r"\. Fix: load those ids into users first") as exc:
        validate_frame("interactions", interactions(), parent_keys=parents)
    assert exc.value.column == "user_id"
    ok = validate_frame("interactions", interactions(user_id=["u1", "u2", "u1"]),
                        parent_keys=parents)
    assert len(ok) == 3


def test_absent_parent_is_not_checked() -> None:
    out = validate_frame("interactions", interactions(), parent_keys={"items": pd.Series(["i1",
                                                                                         "i2"])})
    assert len(out) == 3
    with pytest.raises(DataValidationError, match=r"sales\.store_id has 1 ids unknown to stores"):
        validate_frame("sales", sales(), parent_keys={"stores": pd.Series(["s1"])})


@pytest.mark.parametrize("frame", [
    pd.DataFrame(),
    pd.DataFrame({"user_id": pd.Series([], dtype=str)}),
])
def test_empty_input(frame: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError,
                       match=r"users: the input has no rows\. Fix: give a file with a header row "
                             r"and at least one data row \(columns: user_id\)"):
        validate_frame("users", frame)


def test_unknown_table() -> None:
    with pytest.raises(DataValidationError,
                       match=r"unknown table 'user'\. Fix: use one of applicants, "
                             r"claims_triangles, customer_value, customers, interactions, "
                             r"items, loans, policies, prices, sales, (.+, )?stores, "
                             r"transactions, users "
                             r"\(or synthetic_<table>\)"):
        validate_frame("user", pd.DataFrame({"user_id": ["u1"]}))


def test_repeated_column_names() -> None:
    frame = pd.DataFrame([["u1", "x"]], columns=["user_id", " user_id"])
    with pytest.raises(DataValidationError,
                       match=r"users: column name\(s\) user_id appear more than once"):
        validate_frame("users", frame)


def test_error_shows_five_example_rows_and_the_count() -> None:
    qty = ["-1"] * 7 + ["1"]
    frame = pd.DataFrame({"user_id": [f"u{i}" for i in range(8)], "item_id": ["i"] * 8,
                          "ts": ["2024-01-01"] * 8, "qty": qty, "value": ["1"] * 8})
    with pytest.raises(DataValidationError,
                       match=r"interactions\.qty has 7 negative values "
                             r"\(rows 1, 2, 3, 4, 5, \.\.\.: ") as exc:
        validate_frame("interactions", frame)
    err = exc.value
    assert isinstance(err, ValueError)
    assert (err.n_rows, err.rows) == (7, [1, 2, 3, 4, 5])
    assert err.fix == "quantities must be >= 0"


def test_synthetic_tables_need_run_id_and_skip_parent_checks() -> None:
    schema = schema_for("synthetic_interactions")
    assert schema.key == ("run_id", "user_id", "item_id", "ts")
    assert parent_columns("synthetic_interactions") == {}
    with pytest.raises(DataValidationError, match=r"missing required column\(s\) run_id, "
                                                  r"generator"):
        validate_frame("synthetic_interactions", interactions())
    out = validate_frame("synthetic_interactions",
                         interactions(run_id=["r"] * 3, generator=["ctgan"] * 3),
                         parent_keys={"users": pd.Series(["nobody"])})
    assert out["run_id"].tolist() == ["r"] * 3


def test_parent_and_child_relations() -> None:
    assert parent_columns("interactions") == {"user_id": "users", "item_id": "items"}
    assert children_of("users") == [("interactions", "user_id")]
    assert children_of("stores") == [("sales", "store_id")]
    assert children_of("applicants") == []


# -- regressions for fixed library bugs ---------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*mixed time zones:FutureWarning")
@pytest.mark.parametrize("ts", [
    ["2024-01-01T02:00:00+02:00", "2024-01-01T03:00:00+02:00", "2024-01-01T04:00:00+02:00"],
    ["2024-01-01T02:00:00+02:00", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00+02:00"],
])
def test_iso_timestamps_with_utc_offset_are_converted_to_utc(ts: list[str]) -> None:
    frame = interactions(ts=ts, user_id=["u1", "u2", "u3"])
    out = validate_frame("interactions", frame)
    assert out["ts"].dt.tz is None
    assert out["ts"].iloc[0] == pd.Timestamp("2024-01-01 00:00")


def test_compact_iso_date_is_not_read_as_epoch_seconds() -> None:
    frame = pd.DataFrame({"date": ["20240131"], "asset": ["A"], "close": ["1"]})
    try:
        out = validate_frame("prices", frame)
    except DataValidationError:
        return  # refusing the ambiguous value is fine too
    assert out["date"].iloc[0] == pd.Timestamp("2024-01-31")
