"""Reading users' CSV and parquet files: features.io, with the errors that say what to fix."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from features.errors import DataValidationError
from features.io import apply_mapping, parse_mapping, read_table_file, write_parquet_atomic
from features.schemas import validate_frame


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# -- good files ----------------------------------------------------------------------------
def test_csv_cells_are_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,city,age\n1,Berlin,31\n2,Paris,45\n")
    frame = read_table_file(path, "users")
    assert list(frame.columns) == ["user_id", "city", "age"]
    assert frame["user_id"].tolist() == ["1", "2"]
    assert frame["city"].tolist() == ["Berlin", "Paris"]
    assert frame["age"].tolist() == ["31", "45"]


def test_empty_last_cell_is_not_a_short_line(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,note\nu1,a\nu2,\n")
    frame = read_table_file(path, "users")
    assert frame["user_id"].tolist() == ["u1", "u2"]
    assert frame["note"].iloc[0] == "a"


def test_quoted_separator_and_newline_in_a_field(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", 'user_id,note\nu1,"a, b"\nu2,"two\nlines"\n')
    frame = read_table_file(path, "users")
    assert frame["note"].tolist() == ["a, b", "two\nlines"]


def test_tsv_uses_tab_and_sep_can_be_given(tmp_path: Path) -> None:
    tsv = write(tmp_path / "u.tsv", "user_id\tnote\nu1\ta,b\n")
    assert read_table_file(tsv, "users")["note"].tolist() == ["a,b"]
    semi = write(tmp_path / "u.csv", "user_id;note\nu1;x\n")
    assert read_table_file(semi, "users", sep=";")["note"].tolist() == ["x"]


def test_bom_and_crlf_are_handled(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", b"\xef\xbb\xbfuser_id,city\r\nu1,Berlin\r\n")
    frame = read_table_file(path, "users")
    assert list(frame.columns) == ["user_id", "city"]
    assert frame["city"].tolist() == ["Berlin"]


def test_latin1_file_reads_with_its_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,city\nu1,Köln\n".encode("latin-1"))
    assert read_table_file(path, "users", encoding="latin-1")["city"].tolist() == ["Köln"]


def test_parquet_file_keeps_its_types(tmp_path: Path) -> None:
    path = tmp_path / "i.parquet"
    pd.DataFrame({"user_id": [1, 2], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "qty": [1.0, 2.0]}).to_parquet(path, index=False)
    frame = read_table_file(path, "interactions")
    assert frame["user_id"].tolist() == [1, 2]
    assert pd.api.types.is_datetime64_any_dtype(frame["ts"].dtype)


def test_parquet_folder(tmp_path: Path) -> None:
    folder = tmp_path / "users"
    folder.mkdir()
    pd.DataFrame({"user_id": ["u1"]}).to_parquet(folder / "part-0.parquet", index=False)
    pd.DataFrame({"user_id": ["u2"]}).to_parquet(folder / "part-1.parquet", index=False)
    frame = read_table_file(folder, "users")
    assert sorted(frame["user_id"]) == ["u1", "u2"]


def test_mapping_renames_target_from_source(tmp_path: Path) -> None:
    path = write(tmp_path / "i.csv", "customer,sku,when,n,amount\nc1,s1,2024-01-01,1,2\n")
    mapping = parse_mapping(["user_id=customer", "item_id = sku", "ts=when", "qty=n",
                             "value=amount"])
    assert mapping == {"user_id": "customer", "item_id": "sku", "ts": "when", "qty": "n",
                       "value": "amount"}
    frame = read_table_file(path, "interactions", mapping=mapping)
    assert list(frame.columns) == ["user_id", "item_id", "ts", "qty", "value"]
    out = validate_frame("interactions", frame)
    assert out["user_id"].tolist() == ["c1"]


def test_parse_mapping_of_nothing_is_empty() -> None:
    assert parse_mapping(None) == {}
    assert parse_mapping([]) == {}
    assert parse_mapping(["a=b=c"]) == {"a": "b=c"}


def test_write_parquet_atomic_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = write_parquet_atomic(frame, tmp_path / "deep" / "out.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame, check_dtype=False)
    assert [p.name for p in path.parent.iterdir()] == ["out.parquet"]


# -- bad files -----------------------------------------------------------------------------
def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError,
                       match=r"users: .*nope\.csv: file not found\. Fix: check the path") as exc:
        read_table_file(tmp_path / "nope.csv", "users")
    assert exc.value.table == "users"


@pytest.mark.parametrize(("content", "pattern"), [
    pytest.param("", r"users: .*u\.csv: the file is empty\. Fix: give a file with a header row "
                 r"and at least one data row", id="empty"),
    pytest.param("\n\n\n", r"the file has no header and no rows", id="blank-lines-only"),
    pytest.param("user_id,note\nu1,a\nu2,b,extra\n",
                 r"users: .*u\.csv: malformed CSV: Expected 2 columns, got 3: u2,b,extra "
                 r"\(line 3\)\. Fix: every line needs as many fields as the header",
                 id="too-many-fields"),
    pytest.param("user_id,note,age\nu1,a,1\nu2\nu3,c,3\nu4,d\n",
                 r"users: .*u\.csv: malformed CSV: Expected 3 columns, got 1: u2 \(line 3\)\. "
                 r"Fix: every line needs as many fields as the header", id="too-few-fields"),
    pytest.param('user_id,note\n"u1,never closed\nu2,b\n',
                 r"users: .*u\.csv: malformed CSV: a quote is never closed \(line 2\)\. "
                 r"Fix: every line needs", id="unclosed-quote"),
    pytest.param("user_id,city\nu1,Köln\n".encode("latin-1"),
                 r"users: .*u\.csv: not utf-8 text\. Fix: save the file as UTF-8, or pass "
                 r"--encoding latin-1", id="not-utf8"),
])
def test_bad_csv(tmp_path: Path, content: str | bytes, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        read_table_file(write(tmp_path / "u.csv", content), "users")


def test_header_only_is_read_and_then_refused_by_validation(tmp_path: Path) -> None:
    frame = read_table_file(write(tmp_path / "u.csv", "user_id\n"), "users")
    assert len(frame) == 0
    with pytest.raises(DataValidationError, match=r"users: the input has no rows"):
        validate_frame("users", frame)


@pytest.mark.parametrize("content", [b"user_id\nu1\n", b"", b"PAR1garbagePAR1"])
def test_parquet_that_is_not_parquet(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "u.parquet", content)
    with pytest.raises(DataValidationError,
                       match=r"users: .*u\.parquet: not a readable parquet file \(.*\)\. "
                             r"Fix: write it again with pandas\.DataFrame\.to_parquet"):
        read_table_file(path, "users")


def test_map_source_not_in_file(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "customer,age\nc1,3\n")
    with pytest.raises(DataValidationError,
                       match=r"users: --map names column\(s\) cust that the file does not have "
                             r"\(found: customer, age\)\. Fix: map target=SOURCE") as exc:
        read_table_file(path, "users", mapping={"user_id": "cust"})
    assert exc.value.column == "cust"
    with pytest.raises(DataValidationError, match=r"--map names column\(s\) x, y"):
        apply_mapping(pd.DataFrame({"a": [1]}), "users", {"user_id": "x", "age": "y"})


@pytest.mark.parametrize("item", ["user_id", "=customer", "user_id=", " = ", "user_id:customer"])
def test_bad_map_syntax(item: str) -> None:
    with pytest.raises(DataValidationError,
                       match=r"--map '.*' is not of the form target=source\. "
                             r"Fix: write e\.g\. --map user_id=customer_id"):
        parse_mapping(["item_id=sku", item])


def test_map_onto_an_existing_column_is_refused_by_validation(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "user_id,customer\nu1,c1\n")
    frame = read_table_file(path, "users", mapping={"user_id": "customer"})
    with pytest.raises(DataValidationError, match=r"column name\(s\) user_id appear more than"):
        validate_frame("users", frame)


# -- regressions for fixed library bugs, and the bugs still open (xfail) ---------------------
@pytest.mark.parametrize(("name", "content", "table", "options", "pattern"), [
    # pandas used to take the first column as the index here, shifting every column left
    pytest.param("i.csv", "user_id,item_id\nu1,i1,5\nu2,i2,6\n", "interactions", {},
                 r"interactions: .*i\.csv: malformed CSV: Expected 2 columns, got 3: u1,i1,5 "
                 r"\(line 2\)", id="extra-field-on-every-line"),
    # no line number for compressed files, the line's text says which
    pytest.param("u.csv.gz", gzip.compress(b"user_id,note\nu1,a\nu2\n"), "users", {},
                 r"users: .*u\.csv\.gz: malformed CSV: Expected 2 columns, got 1: u2\.",
                 id="short-line-gzip"),
    pytest.param("u.csv", "user_id,note\n   \nu1,a\nu2\n", "users", {},
                 r"users: .*u\.csv: malformed CSV: Expected 2 columns, got 1, a line of only "
                 r"spaces \(line 2\)", id="short-line-whitespace-line"),
    pytest.param("u.csv", "user_id::note\nu1::a\nu2\n", "users", {"sep": "::"},
                 r"users: .*u\.csv: --sep '::' is not a single character\. "
                 r"Fix: pass one separator character", id="multi-character-sep"),
    pytest.param("u.csv", "user_id\nu1\n", "users", {"encoding": "no-such-codec"},
                 r"users: .*u\.csv: unknown text encoding 'no-such-codec'\. Fix: "
                 r"pass --encoding utf-8", id="unknown-encoding"),
    # a quote left open in the last column must not silently swallow rows u2 and u3
    pytest.param("u.csv", 'user_id,note\nu1,"never closed\nu2,b\nu3,c\n', "users", {},
                 r"users: .*u\.csv: malformed CSV: a quote opened in column 'note' of row 1 "
                 r"is never closed", id="unclosed-quote-in-the-last-column"),
])
def test_malformed_file_regressions(tmp_path: Path, name: str, content: str | bytes, table: str,
                                     options: dict[str, str], pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        read_table_file(write(tmp_path / name, content), table, **options)


def cells(column: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in column]


@pytest.mark.parametrize(("content", "column", "expected"), [
    ("user_id,zip\nu1,01234\nu2,10115\n", "zip", ["01234", "10115"]),
    ("user_id,code\n007,x\n008,y\n", "user_id", ["007", "008"]),
    ("user_id,age\nu1,31\nu2,\n", "age", ["31", None]),
    ("user_id,note\nu1,\nu2,b\n", "note", [None, "b"]),
    ("user_id,note\nNaN,a\nu2,b\n", "user_id", [None, "u2"]),
])
def test_csv_cells_stay_exactly_as_written(tmp_path: Path, content: str, column: str,
                                           expected: list[object]) -> None:
    frame = read_table_file(write(tmp_path / "u.csv", content), "users")
    assert cells(frame[column]) == expected


@pytest.mark.parametrize("content", [
    "user_id,age\nu1,1\n,2\n",
    "user_id,age\n1,1\n,2\n",
    "user_id,age\nNaN,1\nu2,2\n",
])
def test_blank_or_nan_ids_in_a_csv_are_empty_keys(tmp_path: Path, content: str) -> None:
    frame = read_table_file(write(tmp_path / "u.csv", content), "users")
    with pytest.raises(DataValidationError, match=r"users\.user_id has 1 empty keys"):
        validate_frame("users", frame)
