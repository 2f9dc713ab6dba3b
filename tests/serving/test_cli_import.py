"""`genlift data import` and `genlift data show` through serving.cli.main.

Bad input exits 2 with one message on stderr (no traceback) and leaves the store as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from features.store import Store
from serving.cli.main import main

Cli = Callable[..., tuple[int, str, str]]  # the `cli` fixture of tests/conftest.py

Content = str | bytes | Callable[[Path], None]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with users u1..u3, items i1..i2 and three interactions."""
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        store.load({
            "users": pd.DataFrame({"user_id": ["u1", "u2", "u3"]}),
            "items": pd.DataFrame({"item_id": ["i1", "i2"], "price": [1.0, 2.5]}),
            "interactions": pd.DataFrame({
                "user_id": ["u1", "u2", "u2"], "item_id": ["i1", "i1", "i2"],
                "ts": ["2024-01-01", "2024-01-02", "2024-01-03"],
                "qty": [1, 2, 1], "value": [1.0, 5.0, 2.5]}),
        }, source="seed")
    return path


def put(path: Path, content: Content) -> Path:
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def snapshot(db: Path) -> dict[str, object]:
    """Tables, their metadata (rows, fingerprint, source, load time) and the runs."""
    with Store(db, read_only=True) as store:
        names = sorted(store.query(
            "SELECT table_name FROM information_schema.tables")["table_name"])
        return {"names": names, "meta": store.tables(), "runs": len(store.runs()),
                "counts": {n: store.row_count(n) for n in names}}


def column_types(db: Path, table: str) -> dict[str, str]:
    with Store(db, read_only=True) as store:
        frame = store.query(f'DESCRIBE "{table}"')
    return dict(zip(frame["column_name"], frame["column_type"], strict=True))


def read(db: Path, table: str) -> pd.DataFrame:
    with Store(db, read_only=True) as store:
        return store.read(table)


def assert_bad_input(code: int, out: str, err: str, pattern: str) -> None:
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("genlift: error: ")
    assert re.search(pattern, lines[0]), (pattern, lines[0])


# -- bad input: exit 2, one message, store unchanged -------------------------------------------
def users_parquet_with_blank_id(path: Path) -> None:
    pd.DataFrame({"user_id": ["u4", None, "u6"]}).to_parquet(path, index=False)


def stores_parquet_with_nan_id(path: Path) -> None:
    pd.DataFrame({"store_id": [1.0, float("nan")]}).to_parquet(path, index=False)


BAD_INPUTS = [
    # (id, table, file name, content (None: no file), extra args, message pattern)
    ("missing-column", "interactions", "i.csv", "user_id,item_id,ts,qty\nu1,i1,2024-02-01,1\n",
     [], r"interactions is missing required column\(s\) value \(found: user_id, item_id, ts, "
         r"qty\)\. Fix: add the column or map one of yours onto it, e\.g\. --map value="),
    ("wrong-type", "interactions", "i.csv",
     "user_id,item_id,ts,qty,value\nu1,i1,2024-02-01,1,1\nu2,i2,2024-02-01,lots,1\n",
     [], r"interactions\.qty has 1 values that are not numbers \(rows 2: 'lots'\)\. "
         r"Fix: make every qty a number"),
    ("wrong-type-ts", "interactions", "i.csv",
     "user_id,item_id,ts,qty,value\nu1,i1,yesterday,1,1\n",
     [], r"interactions\.ts has 1 values that are not dates/times \(rows 1: 'yesterday'\)"),
    ("empty-key-parquet", "users", "u.parquet", users_parquet_with_blank_id,
     [], r"users\.user_id has 1 empty keys \(rows 2\)\. Fix: every row needs a user_id"),
    ("nan-key-parquet", "stores", "s.parquet", stores_parquet_with_nan_id,
     [], r"stores\.store_id has 1 empty keys \(rows 2\)"),
    ("negative-qty", "interactions", "i.csv",
     "user_id,item_id,ts,qty,value\nu1,i1,2024-02-01,-2,1\nu3,i2,2024-02-01,1,1\n",
     [], r"interactions\.qty has 1 negative values \(rows 1: '-2'\)\. "
         r"Fix: quantities must be >= 0"),
    ("non-positive-price", "items", "p.csv", "item_id,price\ni1,1\ni2,0\n",
     [], r"items\.price has 1 values not > 0 \(rows 2: '0'\)\. Fix: prices must be > 0"),
    ("duplicate-key", "users", "u.csv", "user_id\nu1\nu2\nu1\n",
     [], r"users\.user_id has 2 duplicate keys \(rows 1, 3: 'u1', 'u1'\)\. "
         r"Fix: each \(user_id\) may appear once"),
    ("unknown-parent-ids", "interactions", "i.csv",
     "user_id,item_id,ts,qty,value\nu1,i1,2024-02-01,1,1\nu9,i2,2024-02-01,1,1\n",
     [], r"interactions\.user_id has 1 ids unknown to users \(rows 2: 'u9'\)\. "
         r"Fix: load those ids into users first"),
    ("empty-file", "users", "u.csv", "",
     [], r"users: .*u\.csv: the file is empty\. Fix: give a file with a header row"),
    ("blank-lines-only", "users", "u.csv", "\n\n",
     [], r"users: .*u\.csv: the file has no header and no rows"),
    ("header-only", "users", "u.csv", "user_id\n",
     [], r"users: the input has no rows\. Fix: give a file with a header row"),
    ("too-many-fields", "users", "u.csv", "user_id,note\nu4,a\nu5,b,c\n",
     [], r"users: .*u\.csv: malformed CSV: Expected 2 columns, got 3: u5,b,c \(line 3\)\. "
         r"Fix: every line needs as many fields as the header"),
    ("too-few-fields", "users", "u.csv", "user_id,note\nu4,a\nu5\n",
     [], r"users: .*u\.csv: malformed CSV: Expected 2 columns, got 1: u5 \(line 3\)\. "
         r"Fix: every line needs as many fields as the header"),
    ("unclosed-quote", "users", "u.csv", 'user_id,note\n"u4,a\nu5,b\n',
     [], r"users: .*u\.csv: malformed CSV: a quote is never closed \(line 2\)\. "
         r"Fix: every line needs"),
    ("file-not-found", "users", "nope.csv", None,
     [], r"users: .*nope\.csv: file not found\. Fix: check the path"),
    ("unknown-table", "nonsense", "u.csv", "user_id\nu4\n",
     [], r"unknown table 'nonsense'\. Fix: use one of applicants, claims_triangles, "
         r"customer_value, customers, interactions, items, loans, policies, prices, sales, "
         r"segment_features, segments, stores, transactions, users"),
    ("map-unknown-column", "users", "u.csv", "customer\nc1\n",
     ["--map", "user_id=cust"], r"users: --map names column\(s\) cust that the file does not "
                                r"have \(found: customer\)\. Fix: map target=SOURCE"),
    ("map-bad-syntax", "users", "u.csv", "customer\nc1\n",
     ["--map", "user_id"], r"--map 'user_id' is not of the form target=source\. "
                           r"Fix: write e\.g\. --map user_id=customer_id"),
    ("default-not-0-1", "applicants", "a.csv", "applicant_id,default\na1,0\na2,2\na3,1\n",
     [], r"applicants\.default has 1 values other than 0 and 1 \(rows 2: '2'\)\. "
         r"Fix: encode default as 1 \(yes\) or 0 \(no\)"),
    ("append-duplicate-keys", "users", "u.csv", "user_id\nu4\nu1\n",
     ["--append"], r"users\.user_id has 1 duplicate keys already in the store \(rows 2\)\. "
                   r"Fix: drop the rows that are already loaded"),
    ("append-new-column", "users", "u.csv", "user_id,age\nu4,30\n",
     ["--append"], r"users: appended rows have column\(s\) age that the stored table lacks\. "
                   r"Fix: drop those columns, or load the table again without --append"),
    ("not-parquet", "users", "u.parquet", "user_id\nu4\n",
     [], r"users: .*u\.parquet: not a readable parquet file \(.*\)\. Fix: write it again"),
    ("non-utf8", "users", "u.csv", "user_id,city\nu4,Köln\n".encode("latin-1"),
     [], r"users: .*u\.csv: not utf-8 text\. Fix: save the file as UTF-8, or pass "
         r"--encoding latin-1"),
]


BAD_INPUT_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(("table", "name", "content", "extra", "pattern"), [
    pytest.param(*case[1:], id=case[0],
                 marks=[pytest.mark.xfail(strict=True, reason=BAD_INPUT_BUGS[case[0]])]
                 if case[0] in BAD_INPUT_BUGS else [])
    for case in BAD_INPUTS])
def test_bad_input_exits_2_with_one_message_and_keeps_the_store(
    cli: Cli, tmp_path: Path, db: Path, table: str, name: str,
    content: Content | None, extra: list[str], pattern: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        put(path, content)
    before = snapshot(db)
    code, out, err = cli("data", "import", table, str(path), "--db", str(db), *extra)
    assert_bad_input(code, out, err, pattern)
    assert snapshot(db) == before


def test_bad_input_with_json_still_reports_on_stderr(cli: Cli,
                                                     tmp_path: Path, db: Path) -> None:
    path = put(tmp_path / "u.csv", "user_id\nu1\nu1\n")
    before = snapshot(db)
    code, out, err = cli("--json", "data", "import", "users", str(path), "--db", str(db))
    assert code == 2 and out == "" and "Traceback" not in err
    payload = json.loads(err)  # one JSON object (issue 21), the message and its fix apart
    assert payload["exit"] == 2 and payload["fix"]
    assert re.match(r"users\.user_id has 2 duplicate keys", payload["error"])
    assert snapshot(db) == before


def test_show_of_a_missing_store_or_table(cli: Cli, tmp_path: Path,
                                          db: Path) -> None:
    missing = tmp_path / "none.duckdb"
    code, out, err = cli("data", "show", "--db", str(missing))
    assert_bad_input(code, out, err, r"store .*none\.duckdb does not exist: run `genlift data "
                                     r"fetch all` or `genlift data import` first, or pass --db")
    assert not missing.exists()
    code, out, err = cli("data", "show", "sales", "--db", str(db))
    assert_bad_input(code, out, err, r"table 'sales' is not in the store .*\(tables: "
                                     r"interactions, items, users\)")


# -- good imports --------------------------------------------------------------------------------
def test_csv_import_replaces_the_table_with_typed_columns(cli: Cli,
                                                          tmp_path: Path, db: Path) -> None:
    path = put(tmp_path / "i.csv", "user_id,item_id,ts,qty,value,channel\n"
                                   "u3,i2,2024-02-01T10:00:00,1,2.5,web\n"
                                   "u1,i1,2024-02-02,3,0,app\n")
    code, out, err = cli("data", "import", "interactions", str(path), "--db", str(db))
    assert (code, err) == (0, "")
    with Store(db, read_only=True) as store:
        info = store.info("interactions")
    assert out.strip() == f"interactions: 2 rows in {db} (fingerprint {info.fingerprint})"
    assert info.source == f"import {path}"
    assert column_types(db, "interactions") == {
        "user_id": "VARCHAR", "item_id": "VARCHAR", "ts": "TIMESTAMP", "qty": "DOUBLE",
        "value": "DOUBLE", "channel": "VARCHAR"}
    frame = read(db, "interactions").sort_values("ts")
    assert frame["user_id"].tolist() == ["u3", "u1"]
    assert frame["ts"].tolist() == [pd.Timestamp("2024-02-01 10:00"), pd.Timestamp("2024-02-02")]
    assert frame["channel"].tolist() == ["web", "app"]


def test_parquet_import_with_numeric_ids_and_dates(cli: Cli,
                                                   tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    stores = tmp_path / "stores.parquet"
    pd.DataFrame({"store_id": [1, 2], "zip": ["01234", "10115"]}).to_parquet(stores, index=False)
    sales = tmp_path / "sales.parquet"
    pd.DataFrame({
        "store_id": [1, 2, 1], "item_id": [10, 10, 11],
        "date": pd.to_datetime(["2024-01-01 08:00", "2024-01-01 00:00", "2024-01-02 00:00"]),
        "units": [3, 0, 1], "price": [2.5, 2.5, 4.0], "promo": [0, 1, 0],
    }).to_parquet(sales, index=False)
    assert cli("data", "import", "stores", str(stores), "--db", str(db))[0] == 0
    code, out, err = cli("data", "import", "sales", str(sales), "--db", str(db))
    assert (code, err) == (0, "")
    assert out.startswith("sales: 3 rows in ")
    assert column_types(db, "sales") == {
        "store_id": "VARCHAR", "item_id": "VARCHAR", "date": "DATE", "units": "DOUBLE",
        "price": "DOUBLE", "promo": "DOUBLE"}
    assert column_types(db, "stores") == {"store_id": "VARCHAR", "zip": "VARCHAR"}
    frame = read(db, "sales").sort_values(["date", "store_id"])
    assert frame["store_id"].tolist() == ["1", "2", "1"]
    assert frame["item_id"].tolist() == ["10", "10", "11"]
    assert sorted(read(db, "stores")["zip"]) == ["01234", "10115"]
    with Store(db, read_only=True) as store:
        dates = store.query("SELECT DISTINCT CAST(date AS VARCHAR) AS d FROM sales ORDER BY d")
    assert dates["d"].tolist() == ["2024-01-01", "2024-01-02"]


def test_map_renames_columns(cli: Cli, tmp_path: Path,
                             db: Path) -> None:
    path = put(tmp_path / "i.csv", "customer,sku,when,n,amount\nu1,i2,2024-03-01,2,4\n")
    code, out, err = cli("data", "import", "interactions", str(path), "--db", str(db),
                         "--map", "user_id=customer", "--map", "item_id=sku", "--map", "ts=when",
                         "--map", "qty=n", "--map", "value=amount")
    assert (code, err) == (0, "")
    frame = read(db, "interactions")
    assert list(frame.columns) == ["user_id", "item_id", "ts", "qty", "value"]
    assert frame.iloc[0].to_dict() == {"user_id": "u1", "item_id": "i2",
                                       "ts": pd.Timestamp("2024-03-01"), "qty": 2.0,
                                       "value": 4.0}


def test_append_adds_rows(cli: Cli, tmp_path: Path, db: Path) -> None:
    before = snapshot(db)
    path = put(tmp_path / "u.csv", "user_id\nu4\nu5\n")
    code, out, err = cli("--json", "data", "import", "users", str(path), "--db", str(db),
                         "--append")
    assert (code, err) == (0, "")
    payload = json.loads(out)
    assert payload["table"] == "users" and payload["n_rows"] == 5
    assert payload["mode"] == "append" and payload["file"] == str(path)
    after = snapshot(db)
    assert after["counts"]["users"] == 5
    fp = {t.name: t.fingerprint for t in after["meta"]}
    fp_before = {t.name: t.fingerprint for t in before["meta"]}
    assert fp["users"] == payload["fingerprint"] != fp_before["users"]
    assert fp["interactions"] == fp_before["interactions"]
    assert sorted(read(db, "users")["user_id"]) == ["u1", "u2", "u3", "u4", "u5"]
    # appended interactions may refer to the appended users
    path = put(tmp_path / "i.csv", "user_id,item_id,ts,qty,value\nu5,i1,2024-04-01,1,1\n")
    code, _, err = cli("data", "import", "interactions", str(path), "--db", str(db),
                       "--append")
    assert (code, err) == (0, "")
    assert snapshot(db)["counts"]["interactions"] == 4


def test_epoch_seconds_and_iso_timestamps_import_the_same(cli: Cli,
                                                          tmp_path: Path) -> None:
    header = "user_id,item_id,ts,qty,value\n"
    iso = put(tmp_path / "iso.csv", header + "u1,i1,2024-01-01T00:00:00,1,1\n"
                                             "u2,i1,2024-01-02 06:30:00,1,1\n")
    epoch = put(tmp_path / "epoch.csv", header + "u2,i1,1704177000,1,1\nu1,i1,1704067200,1,1\n")
    fps = []
    for i, path in enumerate([iso, epoch]):
        db = tmp_path / f"s{i}.duckdb"
        assert cli("data", "import", "interactions", str(path), "--db", str(db))[0] == 0
        frame = read(db, "interactions").sort_values("ts")
        assert frame["ts"].tolist() == [pd.Timestamp("2024-01-01"),
                                        pd.Timestamp("2024-01-02 06:30")]
        with Store(db, read_only=True) as store:
            fps.append(store.info("interactions").fingerprint)
    assert fps[0] == fps[1]  # same content, other notation and row order


def test_extra_csv_columns_are_kept(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = put(tmp_path / "u.csv", "user_id,city,age\nu1,Berlin,31\nu2,Paris,45\n")
    assert cli("data", "import", "users", str(path), "--db", str(db))[0] == 0
    types = column_types(db, "users")
    assert types["user_id"] == "VARCHAR" and types["city"] == "VARCHAR"
    assert types["age"] in ("BIGINT", "DOUBLE")
    frame = read(db, "users").sort_values("user_id")
    assert frame["city"].tolist() == ["Berlin", "Paris"]
    assert frame["age"].tolist() == [31, 45]


def test_reimport_changes_fingerprint_only_when_content_changes(
    cli: Cli, tmp_path: Path,
) -> None:
    db = tmp_path / "s.duckdb"
    a = put(tmp_path / "a.csv", "user_id\nu1\nu2\nu3\n")
    b = put(tmp_path / "b.csv", "user_id\nu3\nu1\nu2\n")
    c = put(tmp_path / "c.csv", "user_id\nu3\nu1\nu4\n")

    def fingerprint(path: Path) -> str:
        code, out, _ = cli("--json", "data", "import", "users", str(path), "--db",
                           str(db))
        assert code == 0
        return json.loads(out)["fingerprint"]

    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


# -- data show -------------------------------------------------------------------------------------
def test_data_show_lists_tables(cli: Cli, db: Path) -> None:
    code, out, err = cli("data", "show", "--db", str(db))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"store {db}"
    assert lines[1].split() == ["table", "rows", "fingerprint", "source"]
    body = {line.split()[0]: line.split() for line in lines[3:]}
    assert set(body) == {"interactions", "items", "users"}
    with Store(db, read_only=True) as store:
        for t in store.tables():
            assert body[t.name][1:] == [str(t.n_rows), t.fingerprint, "seed"]


@pytest.mark.parametrize("argv", [
    ["--json", "data", "show"],
    ["data", "show", "--json"],
    ["data", "--json", "show"],
])
def test_json_data_show_lists_tables(cli: Cli, db: Path,
                                     argv: list[str]) -> None:
    code, out, err = cli(*argv, "--db", str(db))
    assert (code, err) == (0, "")
    payload = json.loads(out)
    assert [t["name"] for t in payload] == ["interactions", "items", "users"]
    assert {t["name"]: t["n_rows"] for t in payload} == {"interactions": 3, "items": 2,
                                                         "users": 3}
    assert all(len(t["fingerprint"]) == 16 and t["source"] == "seed" for t in payload)


def test_data_show_of_an_empty_store(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    Store(db).close()
    code, out, _ = cli("data", "show", "--db", str(db))
    assert code == 0 and "(empty: run `genlift data fetch all` or `genlift data import`)" in out
    code, out, _ = cli("--json", "data", "show", "--db", str(db))
    assert code == 0 and json.loads(out) == []


def test_data_show_one_table(cli: Cli, db: Path) -> None:
    code, out, err = cli("data", "show", "interactions", "--limit", "2", "--db", str(db))
    assert (code, err) == (0, "")
    assert out.startswith("interactions: 3 rows, fingerprint ")
    assert "from seed" in out
    code, out, _ = cli("--json", "data", "show", "interactions", "--limit", "2",
                       "--db", str(db))
    payload = json.loads(out)
    assert payload["table"] == "interactions" and payload["n_rows"] == 3
    assert len(payload["rows"]) == 2
    assert payload["rows"][0]["user_id"] == "u1"
    assert payload["rows"][0]["ts"].startswith("2024-01-01")


# -- help ------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    [], ["data"], ["data", "fetch"], ["data", "import"], ["data", "show"], ["data", "datasets"],
    ["features"], ["demo"],
])
def test_help_for_every_command(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: genlift")
    assert "--db" in out and "--json" in out


def test_import_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["data", "import", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("TABLE", "FILE", "--map", "TARGET=SOURCE", "--append", "--sep", "--encoding"):
        assert word.lower() in out.lower()


def test_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("genlift ")
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["data", "import", "users"])  # FILE missing
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# -- regressions for fixed library bugs (see tests/features for the library-level tests) --------
def test_replacing_users_that_would_orphan_interactions(cli: Cli,
                                                        tmp_path: Path, db: Path) -> None:
    path = put(tmp_path / "u.csv", "user_id\nu1\nu3\n")
    before = snapshot(db)
    code, out, err = cli("data", "import", "users", str(path), "--db", str(db))
    assert_bad_input(code, out, err,
                     r"replacing users would leave 2 rows of interactions whose user_id is no "
                     r"longer in users \(e\.g\. 'u2'\)\. Fix: include those ids in the new users")
    assert snapshot(db) == before


def test_csv_with_an_empty_key(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    Store(db).close()  # a store without interactions, so no orphan check runs
    path = put(tmp_path / "u.csv", "user_id,age\nu4,1\n,2\n")
    before = snapshot(db)
    code, out, err = cli("data", "import", "users", str(path), "--db", str(db))
    assert_bad_input(code, out, err, r"users\.user_id has 1 empty keys \(rows 2\)")
    assert snapshot(db) == before


def test_csv_zip_codes_keep_leading_zeros(cli: Cli,
                                          tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = put(tmp_path / "u.csv", "user_id,zip\nu1,01234\nu2,10115\n")
    assert cli("data", "import", "users", str(path), "--db", str(db))[0] == 0
    assert sorted(read(db, "users")["zip"]) == ["01234", "10115"]


def test_iso_timestamps_with_offset(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    path = put(tmp_path / "i.csv", "user_id,item_id,ts,qty,value\n"
                                   "u1,i1,2024-01-01T02:00:00+02:00,1,1\n")
    assert cli("data", "import", "interactions", str(path), "--db", str(db))[0] == 0
    assert read(db, "interactions")["ts"].tolist() == [pd.Timestamp("2024-01-01 00:00")]


def test_unknown_encoding(cli: Cli, tmp_path: Path, db: Path) -> None:
    path = put(tmp_path / "u.csv", "user_id\nu4\n")
    code, out, err = cli("data", "import", "users", str(path), "--db", str(db),
                         "--encoding", "no-such-codec")
    assert_bad_input(code, out, err, r"users: .*u\.csv: unknown text encoding 'no-such-codec'\. "
                                     r"Fix: pass --encoding utf-8")


def test_append_with_an_incompatible_attribute_type(cli: Cli,
                                                    tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert cli("data", "import", "users", str(put(tmp_path / "a.csv",
                                                          "user_id,age\nu1,31\n")),
               "--db", str(db))[0] == 0
    before = snapshot(db)
    path = put(tmp_path / "b.csv", "user_id,age\nu2,old\n")
    code, out, err = cli("data", "import", "users", str(path), "--db", str(db),
                         "--append")
    assert_bad_input(code, out, err, r"users\.age is stored as \w+ but the appended rows hold "
                                     r"text\. Fix: make age the same type")
    assert snapshot(db) == before


def test_failed_import_creates_no_store(cli: Cli,
                                        tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    path = put(tmp_path / "u.csv", "user_id\nu1\nu1\n")
    code, _, _ = cli("data", "import", "users", str(path), "--db", str(db))
    assert code == 2
    assert not db.exists()
