"""The DuckDB store: validated all-or-nothing loads, typed columns, fingerprints, runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from features.errors import DataValidationError
from features.store import Store, fingerprint_frame


def users(*ids: str, **extra: list) -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(ids), **extra})


def items(*ids: str) -> pd.DataFrame:
    return pd.DataFrame({"item_id": list(ids), "price": ["1.5"] * len(ids)})


def interactions(rows: list[tuple[str, str, str]], qty: str = "1") -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
        "ts": [r[2] for r in rows], "qty": [qty] * len(rows), "value": ["2"] * len(rows),
    })


BASE_INTERACTIONS = [("u1", "i1", "2024-01-01"), ("u2", "i1", "2024-01-02"),
                     ("u2", "i2", "2024-01-03T00:00:00")]


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as s:
        yield s


@pytest.fixture
def loaded(store: Store) -> Store:
    """users u1..u3, items i1..i2 and three interactions, loaded in one call."""
    store.load({"users": users("u1", "u2", "u3"), "items": items("i1", "i2"),
                "interactions": interactions(BASE_INTERACTIONS)}, source="test")
    return store


def snapshot(store: Store) -> dict[str, object]:
    """Everything a failed load must leave alone: tables, metadata and every row."""
    names = sorted(store.query(
        "SELECT table_name FROM information_schema.tables")["table_name"])
    data = {}
    for name in names:
        frame = store.read(name)
        data[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True).to_dict(
            "list")
    return {"names": names, "meta": store.tables(), "data": data}


def column_types(store: Store, table: str) -> dict[str, str]:
    frame = store.query(f'DESCRIBE "{table}"')
    return dict(zip(frame["column_name"], frame["column_type"], strict=True))


# -- good loads ------------------------------------------------------------------------------
def test_load_writes_typed_columns(loaded: Store) -> None:
    assert column_types(loaded, "interactions") == {
        "user_id": "VARCHAR", "item_id": "VARCHAR", "ts": "TIMESTAMP", "qty": "DOUBLE",
        "value": "DOUBLE"}
    assert column_types(loaded, "users") == {"user_id": "VARCHAR"}
    assert column_types(loaded, "items") == {"item_id": "VARCHAR", "price": "DOUBLE"}
    frame = loaded.read("interactions").sort_values("ts")
    assert frame["ts"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02"),
                                    pd.Timestamp("2024-01-03")]
    assert frame["user_id"].tolist() == ["u1", "u2", "u2"]


def test_sales_date_is_a_date_and_default_a_quoted_integer(store: Store) -> None:
    store.load({
        "stores": pd.DataFrame({"store_id": [1, 2]}),
        "sales": pd.DataFrame({"store_id": [1, 2], "item_id": [10, 10],
                               "date": ["2024-01-31T18:00:00", "2024-02-01"],
                               "units": [3, 0], "price": [2.5, 2.5], "promo": [0, 1]}),
        "applicants": pd.DataFrame({"applicant_id": ["a1", "a2"], "default": [0, 1]}),
    }, source="test")
    assert column_types(store, "sales") == {
        "store_id": "VARCHAR", "item_id": "VARCHAR", "date": "DATE", "units": "DOUBLE",
        "price": "DOUBLE", "promo": "DOUBLE"}
    assert column_types(store, "stores") == {"store_id": "VARCHAR"}
    assert column_types(store, "applicants") == {"applicant_id": "VARCHAR", "default": "BIGINT"}
    dates = store.query("SELECT CAST(date AS VARCHAR) AS d FROM sales ORDER BY d")["d"]
    assert dates.tolist() == ["2024-01-31", "2024-02-01"]
    assert sorted(store.read("sales")["store_id"]) == ["1", "2"]
    assert store.read("applicants", ["default"])["default"].sum() == 1


def test_extra_columns_are_kept_and_zip_codes_stay_text(store: Store) -> None:
    store.load({"users": users("u1", "u2", zip=["01234", "10115"], age=["31", "45"])},
               source="test")
    types = column_types(store, "users")
    assert (types["user_id"], types["zip"]) == ("VARCHAR", "VARCHAR")
    assert types["age"] in ("BIGINT", "DOUBLE")
    assert store.read("users").sort_values("user_id")["zip"].tolist() == ["01234", "10115"]


def test_tables_info_row_count_and_has(loaded: Store) -> None:
    assert [t.name for t in loaded.tables()] == ["interactions", "items", "users"]
    info = loaded.info("users")
    assert (info.n_rows, info.source) == (3, "test")
    assert len(info.fingerprint) == 16
    assert loaded.row_count("interactions") == 3
    assert loaded.has("users") and not loaded.has("sales")
    assert set(loaded.fingerprints()) == {"interactions", "items", "users"}
    assert set(loaded.fingerprints(["users"])) == {"users"}


def test_absent_table_names_what_is_there(loaded: Store) -> None:
    with pytest.raises(DataValidationError,
                       match=r"table 'sales' is not in the store :memory: \(tables: "
                             r"interactions, items, users\)\. Fix: load it with"):
        loaded.read("sales")
    with pytest.raises(DataValidationError, match=r"table 'sales' is not in the store"):
        loaded.info("sales")
    with pytest.raises(DataValidationError, match=r"table 'sales' is not in the store"):
        loaded.row_count("sales")


def test_replace_reloads_a_table(loaded: Store) -> None:
    loaded.load({"interactions": interactions([("u3", "i2", "2024-02-01")])}, source="again")
    assert loaded.row_count("interactions") == 1
    assert loaded.info("interactions").source == "again"


def test_append_adds_rows(loaded: Store) -> None:
    before = loaded.info("interactions").fingerprint
    loaded.load({"interactions": interactions([("u3", "i2", "2024-02-01"),
                                               ("u1", "i1", "2024-01-01T00:00:01")])},
                source="more", mode="append")
    assert loaded.row_count("interactions") == 5
    assert loaded.info("interactions").n_rows == 5
    assert loaded.info("interactions").fingerprint != before


def test_append_to_a_table_not_yet_stored_creates_it(store: Store) -> None:
    store.load({"users": users("u1")}, source="test", mode="append")
    assert store.row_count("users") == 1


def test_append_may_omit_an_optional_column(loaded: Store) -> None:
    loaded.load({"items": pd.DataFrame({"item_id": ["i3"]})}, source="t", mode="append")
    frame = loaded.read("items").set_index("item_id")
    assert pd.isna(frame.loc["i3", "price"]) and frame.loc["i1", "price"] == 1.5


def test_parents_in_the_same_call_are_checked_against_the_new_rows(store: Store) -> None:
    store.load({"interactions": interactions([("n1", "x", "2024-01-01")]),
                "users": users("n1")}, source="t")
    assert store.row_count("interactions") == 1
    # appending a user and an interaction of that user together is fine
    store.load({"users": users("n2"), "interactions": interactions([("n2", "x", "2024-01-01")])},
               source="t", mode="append")
    assert store.row_count("interactions") == 2


def test_interactions_before_any_users_are_allowed(store: Store) -> None:
    store.load({"interactions": interactions([("u9", "i9", "2024-01-01")])}, source="t")
    assert store.row_count("interactions") == 1


def test_persisted_store_reopens_read_only_with_the_same_fingerprints(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as s:
        s.load({"users": users("u1", "u2")}, source="t")
        fp = s.fingerprints()
    with Store(path, read_only=True) as s:
        assert s.fingerprints() == fp
        assert s.read("users")["user_id"].tolist() == ["u1", "u2"]


def test_read_only_store_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"does not exist: run `genlift data fetch all`"):
        Store(tmp_path / "missing.duckdb", read_only=True)
    assert not (tmp_path / "missing.duckdb").exists()


# -- fingerprints ----------------------------------------------------------------------------
def test_fingerprint_is_row_order_independent_and_content_sensitive() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    fp = fingerprint_frame(frame)
    assert fingerprint_frame(frame.iloc[::-1]) == fp
    assert fingerprint_frame(frame.sample(frac=1, random_state=0).reset_index(drop=True)) == fp
    assert fingerprint_frame(frame.assign(a=[1, 2, 4])) != fp
    assert fingerprint_frame(frame.assign(b=["x", "y", "Z"])) != fp
    assert fingerprint_frame(frame.rename(columns={"b": "c"})) != fp
    assert fingerprint_frame(frame.iloc[:2]) != fp
    assert fingerprint_frame(frame.iloc[:0]) != fingerprint_frame(pd.DataFrame({"a": []}))


def test_stored_fingerprint_ignores_input_row_order(tmp_path: Path) -> None:
    rows = [("u1", "i1", "2024-01-01"), ("u2", "i2", "2024-01-02"), ("u3", "i1", "2024-01-03")]
    with Store(":memory:") as a, Store(":memory:") as b:
        a.load({"interactions": interactions(rows)}, source="a")
        b.load({"interactions": interactions(rows[::-1])}, source="b")
        assert a.info("interactions").fingerprint == b.info("interactions").fingerprint
        b.load({"interactions": interactions(rows, qty="2")}, source="b")
        assert a.info("interactions").fingerprint != b.info("interactions").fingerprint


# -- failed loads leave the store exactly as it was ------------------------------------------
def test_unknown_ids_against_the_store(loaded: Store) -> None:
    before = snapshot(loaded)
    bad = interactions([("u1", "i1", "2024-03-01"), ("u7", "i1", "2024-03-01"),
                        ("u1", "i9", "2024-03-02")])
    with pytest.raises(DataValidationError,
                       match=r"interactions\.user_id has 1 ids unknown to users \(rows 2: 'u7'\)"):
        loaded.load({"interactions": bad}, source="bad")
    with pytest.raises(DataValidationError,
                       match=r"interactions\.user_id has 1 ids unknown to users"):
        loaded.load({"interactions": bad}, source="bad", mode="append")
    with pytest.raises(DataValidationError,
                       match=r"interactions\.item_id has 1 ids unknown to items \(rows 2: 'i9'\)"):
        loaded.load({"interactions": bad.iloc[[0, 2]]}, source="bad")
    assert snapshot(loaded) == before


def test_append_duplicate_keys_with_stored_rows(loaded: Store) -> None:
    before = snapshot(loaded)
    with pytest.raises(DataValidationError,
                       match=r"users\.user_id has 2 duplicate keys already in the store "
                             r"\(rows 1, 3\)\. Fix: drop the rows that are already loaded"):
        loaded.load({"users": users("u1", "u8", "u3")}, source="bad", mode="append")
    # same time written another way is the same key
    with pytest.raises(DataValidationError,
                       match=r"interactions\.user_id\+item_id\+ts has 1 duplicate keys already in "
                             r"the store \(rows 2\)"):
        loaded.load({"interactions": interactions([("u3", "i1", "2024-01-05"),
                                                   ("u2", "i2", "2024-01-03T00:00:00")])},
                    source="bad", mode="append")
    assert snapshot(loaded) == before


def test_append_duplicate_date_keys_in_sales(store: Store) -> None:
    sales = pd.DataFrame({"store_id": ["s1"], "item_id": ["i1"], "date": ["2024-01-01"],
                          "units": [1], "price": [2.0], "promo": [0]})
    store.load({"sales": sales}, source="t")
    before = snapshot(store)
    with pytest.raises(DataValidationError,
                       match=r"sales\.store_id\+item_id\+date has 1 duplicate keys already"):
        store.load({"sales": sales.assign(date=["2024-01-01T10:00"])}, source="t",
                   mode="append")
    assert snapshot(store) == before


def test_append_with_a_column_the_stored_table_lacks(loaded: Store) -> None:
    before = snapshot(loaded)
    with pytest.raises(DataValidationError,
                       match=r"users: appended rows have column\(s\) age that the stored table "
                             r"lacks\. Fix: drop those columns, or load the table again") as exc:
        loaded.load({"users": users("u9", age=["3"])}, source="bad", mode="append")
    assert exc.value.column == "age"
    assert snapshot(loaded) == before


def test_one_bad_table_writes_nothing(loaded: Store) -> None:
    before = snapshot(loaded)
    with pytest.raises(DataValidationError, match=r"interactions\.qty has 1 negative values"):
        loaded.load({"users": users("u1", "u2", "u3", "u4"),
                     "interactions": interactions([("u4", "i1", "2024-05-01")], qty="-1")},
                    source="bad")
    assert snapshot(loaded) == before


def test_unknown_table_and_bad_mode(loaded: Store) -> None:
    before = snapshot(loaded)
    with pytest.raises(DataValidationError, match=r"unknown table 'nonsense'"):
        loaded.load({"nonsense": users("u1")}, source="bad")
    with pytest.raises(ValueError,
                       match=r"The 'mode' parameter of Store\.load must be 'replace' or "
                             r"'append'\. Got 'upsert' instead\."):
        loaded.load({"users": users("u1")}, source="bad", mode="upsert")  # type: ignore[arg-type]
    assert snapshot(loaded) == before


def test_failure_inside_the_load_transaction_rolls_back(loaded: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(loaded)
    original = Store._record
    calls: list[str] = []

    def record_then_fail(self: Store, con: object, table: str, source: str) -> object:
        calls.append(table)
        if len(calls) == 2:  # the first table is already written and recorded
            raise RuntimeError("disk full")
        return original(self, con, table, source)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "_record", record_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        loaded.load({"users": users("u1", "u2", "u3", "u4"), "items": items("i1", "i2", "i3"),
                     "interactions": interactions([("u4", "i3", "2024-06-01")])},
                    source="doomed")
    assert len(calls) == 2
    monkeypatch.undo()
    assert snapshot(loaded) == before
    # the store still works after the rollback
    loaded.load({"users": users("u5")}, source="after", mode="append")
    assert loaded.row_count("users") == 4


def test_transaction_rolls_back_on_error_and_commits_otherwise(loaded: Store) -> None:
    before = snapshot(loaded)
    with pytest.raises(KeyError), loaded.transaction() as con:
        con.execute("DELETE FROM users")
        con.execute("DROP TABLE interactions")
        raise KeyError("boom")
    assert snapshot(loaded) == before
    with loaded.transaction() as con:
        con.execute("DELETE FROM users WHERE user_id = 'u3'")
    assert loaded.row_count("users") == 2


# -- runs --------------------------------------------------------------------------------------
def test_runs_record_start_and_finish(loaded: Store) -> None:
    run_id = loaded.start_run("train", {"factors": 8, "path": Path("x")}, seed=7,
                              tables=["users", "items"])
    assert run_id.startswith("train-")
    runs = loaded.runs()
    assert runs["run_id"].tolist() == [run_id]
    row = runs.iloc[0]
    assert row["status"] == "running" and pd.isna(row["finished_at"])
    assert row["seed"] == 7 and row["kind"] == "train"
    assert json.loads(row["config"]) == {"factors": 8, "path": "x"}
    assert json.loads(row["data_fingerprint"]) == loaded.fingerprints(["users", "items"])

    loaded.finish_run(run_id, metrics={"ndcg@10": 0.5})
    row = loaded.runs().iloc[0]
    assert row["status"] == "finished" and not pd.isna(row["finished_at"])
    assert row["finished_at"] >= row["started_at"]
    assert json.loads(row["metrics"]) == {"ndcg@10": 0.5}

    other = loaded.start_run("eval", {})
    loaded.finish_run(other, status="failed")
    runs = loaded.runs().set_index("run_id")
    assert runs.loc[other, "status"] == "failed"
    assert json.loads(runs.loc[other, "metrics"]) == {}
    assert len(runs) == 2


# -- regressions for fixed library bugs -------------------------------------------------------
def test_replacing_users_that_would_orphan_interactions(loaded: Store) -> None:
    before = snapshot(loaded)
    with pytest.raises(DataValidationError,
                       match=r"replacing users would leave 2 rows of interactions whose user_id "
                             r"is no longer in users \(e\.g\. 'u2'\)\. Fix: include those ids"):
        loaded.load({"users": users("u1", "u3")}, source="bad")
    assert snapshot(loaded) == before


def test_replacing_a_parent_with_a_superset_is_fine(loaded: Store) -> None:
    loaded.load({"users": users("u1", "u2", "u3", "u4")}, source="more")
    loaded.load({"items": pd.DataFrame({"item_id": ["i1", "i2", "i3"]})}, source="more")
    assert loaded.row_count("users") == 4 and loaded.row_count("items") == 3


def test_append_with_an_incompatible_attribute_type(store: Store) -> None:
    store.load({"users": users("u1", age=["31"])}, source="t")
    before = snapshot(store)
    try:
        with pytest.raises(DataValidationError,
                           match=r"users\.age is stored as \w+ but the appended rows hold "
                                 r"text\. Fix: make age the same type"):
            store.load({"users": users("u2", age=["old"])}, source="bad", mode="append")
    finally:
        assert snapshot(store) == before


@pytest.mark.parametrize("value", ["2", "yes", "0"])
def test_append_other_than_true_false_onto_a_boolean_column(store: Store, value: str) -> None:
    store.load({"users": users("u1", vip=["true"])}, source="t")
    assert store.read("users")["vip"].dtype == bool
    before = snapshot(store)
    with pytest.raises(DataValidationError,
                       match=r"users\.vip is stored as BOOLEAN but the appended rows hold "
                             r"(text|numbers) other than true/false\. Fix: write vip as true"):
        store.load({"users": users("u2", vip=[value])}, source="bad", mode="append")
    assert snapshot(store) == before
    store.load({"users": users("u3", vip=["FALSE"])}, source="ok", mode="append")
    assert store.read("users")["vip"].tolist() == [True, False]


def test_append_text_with_leading_zeros_onto_a_numeric_column(store: Store) -> None:
    store.load({"users": users("u1", zip=["12345"])}, source="t")
    try:
        store.load({"users": users("u2", zip=["01234"])}, source="t", mode="append")
    except DataValidationError:
        return  # refusing the append is fine too
    assert "01234" in store.read("users")["zip"].astype(str).tolist()
