"""Fuzzing `genlift data import` with broken CSV and parquet files (hypothesis).

Each case starts from a small valid table of one contract and breaks it: columns dropped,
renamed or repeated, cells replaced by text, NaN, inf, huge numbers or bad dates, rows
repeated or ragged, odd separators, quoting, line ends, BOMs and encodings, bytes cut or
flipped, parquet columns of odd arrow types. The file goes through ``serving.cli.main``
into a new store, or over (replace and --append) a store holding a valid copy. Whatever
the file:

- the exit status is 0 or 2, never a traceback;
- exit 2 prints one ``genlift: error: ... Fix: ...`` line naming the table and leaves the
  store exactly as it was (tables, rows, column types, fingerprints, metadata), and a
  store that did not exist is not left behind;
- exit 0 stores a table that passes its contract, with the fingerprint of its rows.

The examples are derandomized, so every run sees the same cases; set
``GENLIFT_FUZZ_EXAMPLES=2000`` to search further with fresh random cases.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from features.schemas import schema_for, validate_frame
from features.store import META, Store, fingerprint_frame
from serving.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("GENLIFT_FUZZ_EXAMPLES", "0"))


def fuzz_settings(default_examples: int) -> settings:
    return settings(max_examples=EXAMPLES or default_examples, deadline=None, database=None,
                    derandomize=not EXAMPLES,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


# -- valid tables, one per contract ----------------------------------------------------------
VALID = {
    "users": "user_id,age,city\nu1,31,Berlin\nu2,45,Köln\nu3,,Paris\n",
    "items": "item_id,price,category\ni1,2.5,food\ni2,10,toys\ni3,0.99,food\n",
    "interactions": "user_id,item_id,ts,qty,value\nu1,i1,2024-01-01T10:00:00,1,2.5\n"
                    "u2,i2,2024-01-02,2,20\nu3,i1,2024-01-03 08:30:00,0,0\n",
    "sales": "store_id,item_id,date,units,price,promo\ns1,i1,2024-01-01,3,2.5,0\n"
             "s1,i2,2024-01-01,0,1,1\ns2,i1,2024-01-02,1,2.5,0.5\n",
    "stores": "store_id,zip\ns1,01234\ns2,10115\n",
    "applicants": "applicant_id,default,income\na1,0,5000\na2,1,1200.5\na3,0,\n",
    "prices": "date,asset,close\n2024-01-01,AAA,10.5\n2024-01-01,BBB,20\n2024-01-02,AAA,11\n",
    "synthetic_users": "user_id,run_id,generator\nx1,r1,ctgan\nx2,r1,ctgan\n",
}
TABLES = sorted(VALID)
PARENTS = {"interactions": ("users", "items"), "sales": ("stores",)}
MODES = ("fresh", "replace", "append")
STORE = "store.duckdb"

CONTRACT_NAMES = sorted({c for t in VALID for c in schema_for(t).column_names})
NASTY_NAMES = ["", " ", "USER_ID", "User_Id", " user_id ", "user_id\u200b", "\ufeffuser_id",
               "user id", "a\nb", 'a"b', "a'b", "default", "select", "rowid",
               "_genlift_frame", "x" * 200, "日本", "\x00", "\x1b[31m", "1", "NaN"]
NASTY_CELLS = [
    "", " ", " \t ", "NA", "null", "None", "nan", "NaN", "inf", "-inf", "Infinity", "1e400",
    "-1e400", "1e308", "-0", "0", "-1", "-0.0001", "9" * 40, "-" + "9" * 40, "0x1F", "1,5",
    "1.5.5", "٣", "１２", "1_000", "+1", ".5", "5.", "1e5", "true", "FALSE", "2024-02-30",
    "2024-13-01", "0000-01-01", "0001-01-01", "9999-12-31", "99999-01-01",
    "2024-01-01T25:00:00", "2024-01-01T00:00:00+99:00", "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00+05:30", "20240132", "20240131", "1e20", "-1e20", "1704067200",
    "1704067200.5", "2024-01-01 00:00:00 UTC", "Jan 1 2024", "u1", "U1", " u1 ", "u1\u200b",
    "\u00a0u1", "ü", "日本", "🙂", "\x00", "a\x00b", "\x01\x7f", "\u202e", '"', '""', "a,b",
    "a;b", "a\tb", "a\nb", "a\rb", "\\", "'", "=1+1", "x" * 300,
]
names = st.one_of(st.sampled_from(CONTRACT_NAMES), st.sampled_from(NASTY_NAMES),
                  st.text(max_size=6))
cells = st.one_of(st.sampled_from(NASTY_CELLS), st.text(max_size=8),
                  st.floats().map(repr), st.integers().map(str))


def parse_valid(table: str) -> tuple[list[str], list[list[str]]]:
    header, *rows = list(csv.reader(io.StringIO(VALID[table])))
    return header, rows


@dataclass(frozen=True)
class Case:
    """One file to import: what hypothesis shows when a case fails."""

    table: str
    name: str  # file (or folder) name, its suffix picks the reader
    content: bytes | dict[str, bytes]  # a folder: file name -> bytes
    extra: tuple[str, ...] = ()

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        if isinstance(self.content, dict):
            path.mkdir()
            for name, data in self.content.items():
                (path / name).write_bytes(data)
        else:
            path.write_bytes(self.content)
        return path


# -- CSV cases -----------------------------------------------------------------------------
Grid = tuple[list[str], list[list[str]]]


def _grid_op(draw: Callable[..., Any], header: list[str], rows: list[list[str]]) -> Grid:
    """One structural or cell-level break of a table of text cells."""
    op = draw(st.sampled_from(["drop", "rename", "repeat", "add", "cell", "column", "dup-row",
                               "no-rows", "short-row", "long-row"]))
    width = max(len(header), 1)
    i = draw(st.integers(0, width - 1))
    r = draw(st.integers(0, max(len(rows) - 1, 0)))
    if op == "drop" and header:
        return header[:i] + header[i + 1:], [row[:i] + row[i + 1:] for row in rows]
    if op == "rename" and header:
        return header[:i] + [draw(names)] + header[i + 1:], rows
    if op == "repeat" and header:
        twin = draw(st.sampled_from([header[i], header[i].upper(), f" {header[i]}"]))
        return header + [twin], [row + row[i:i + 1] for row in rows]
    if op == "add":
        return header + [draw(names)], [row + [draw(cells)] for row in rows]
    if op == "cell" and rows and rows[r]:
        row = list(rows[r])
        row[min(i, len(row) - 1)] = draw(cells)
        return header, rows[:r] + [row] + rows[r + 1:]
    if op == "column" and header:
        value = draw(cells)
        return header, [row[:i] + [value] + row[i + 1:] for row in rows]
    if op == "dup-row" and rows:
        return header, rows + [list(rows[r])]
    if op == "no-rows":
        return header, []
    if op == "short-row" and rows and rows[r]:
        return header, rows[:r] + [rows[r][:-1]] + rows[r + 1:]
    if op == "long-row" and rows:
        return header, rows[:r] + [rows[r] + [draw(cells)]] + rows[r + 1:]
    return header, rows


def _quote(cell: str, delim: str, how: str) -> str:
    if how == "all" or (how == "minimal" and any(c in cell for c in (delim, '"', "\n", "\r"))):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _byte_op(draw: Callable[..., Any], data: bytes, delim: str) -> bytes:
    """One break of the file's bytes: cut, insert, delete, flip, mix separators, ..."""
    op = draw(st.sampled_from(["cut", "insert", "delete", "flip", "mix-delim", "ragged",
                               "replace-all", "header-only"]))
    k = draw(st.integers(0, len(data)))
    if op == "cut":
        return data[:k]
    if op == "insert":
        junk = draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(
            [b"\x00", b'"', b"\r", b"\n", b"\xef\xbb\xbf", b"\xff\xfe", b"\x80", b"\\"])))
        return data[:k] + junk + data[k:]
    if op == "delete":
        return data[:k] + data[k + draw(st.integers(1, 8)):]
    if op == "flip" and data:
        k = min(k, len(data) - 1)
        return data[:k] + bytes([data[k] ^ draw(st.integers(1, 255))]) + data[k + 1:]
    if op == "mix-delim":
        other = draw(st.sampled_from([b",", b";", b"\t", b"|"]))
        at = data.find(delim.encode(), k)
        return data if at < 0 else data[:at] + other + data[at + 1:]
    if op == "ragged":
        return data + (delim * draw(st.integers(0, 6))).encode() + b"x\n"
    if op == "replace-all":
        return draw(st.binary(max_size=64))
    if op == "header-only":
        return data.split(b"\n", 1)[0] + b"\n"
    return data


@st.composite
def csv_cases(draw: Callable[..., Any]) -> Case:
    table = draw(st.sampled_from(TABLES))
    header, rows = parse_valid(table)
    for _ in range(draw(st.integers(0, 3))):
        header, rows = _grid_op(draw, header, rows)
    delim = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from(["minimal", "all", "none"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(delim.join(_quote(c, delim, quoting) for c in row)
                        for row in [header, *rows])
    text += newline if draw(st.booleans()) else ""
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "cp1252",
                                     "utf-16", "utf-32"]))
    data = text.encode(encoding, errors="replace")
    for _ in range(draw(st.integers(0, 2))):
        data = _byte_op(draw, data, delim)
    suffix = draw(st.sampled_from([".csv", ".csv", ".tsv", ".txt", ".csv.gz", ".dat", ""]))
    if suffix.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
        if draw(st.booleans()):
            data = data[:draw(st.integers(0, len(data)))]
    extra: list[str] = []
    sep = draw(st.one_of(st.none(), st.just(delim), st.sampled_from(
        [",", "\t", '"', "é", "::", "", "\n", " ", "\x00"])))
    if sep is not None:
        extra.append(f"--sep={sep}")
    enc = draw(st.one_of(st.none(), st.just(encoding), st.sampled_from(
        ["latin-1", "utf-16", "ascii", "utf-8-sig", "rot13", "hex", "no-such-codec",
         "punycode", "undefined"])))
    if enc is not None:
        extra.append(f"--encoding={enc}")
    return Case(table, f"file{suffix}", data, tuple(extra))


# -- parquet cases -------------------------------------------------------------------------
@functools.cache
def typed_valid(table: str) -> pa.Table:
    """The valid table as the store types it (ids text, numbers float, times timestamps)."""
    frame = validate_frame(table, pd.read_csv(io.StringIO(VALID[table]), dtype=str))
    return pa.Table.from_pandas(frame, preserve_index=False)


def odd_arrays(n: int) -> st.SearchStrategy[pa.Array]:
    """Columns of ``n`` values of every arrow type a parquet file may hold."""
    def of(values: st.SearchStrategy[Any], make: Callable[[list[Any]], pa.Array],
           nulls: bool = True) -> st.SearchStrategy[pa.Array]:
        cell = st.one_of(st.none(), values) if nulls else values
        return st.lists(cell, min_size=n, max_size=n).map(make)

    def half(v: list[Any]) -> pa.Array:
        return pa.array(np.array([np.nan if x is None else x for x in v], dtype=np.float16))

    timestamp = st.tuples(st.sampled_from(["s", "ms", "us", "ns"]),
                          st.sampled_from([None, "UTC", "Europe/Berlin", "+05:30"]),
                          st.lists(st.one_of(st.none(), st.integers(-2**62, 2**62),
                                             st.integers(10**9, 2 * 10**9)),
                                   min_size=n, max_size=n))
    return st.one_of(
        of(st.text(max_size=6), lambda v: pa.array(v, pa.string()).dictionary_encode()),
        of(st.integers(0, 3), lambda v: pa.array(v, pa.int64()).dictionary_encode()),
        of(st.text(max_size=6), lambda v: pa.array(v, pa.large_string())),
        of(st.sampled_from(NASTY_CELLS), lambda v: pa.array(v, pa.string())),
        of(st.integers(-2**63, 2**63 - 1), lambda v: pa.array(v, pa.int64())),
        of(st.integers(0, 2**64 - 1), lambda v: pa.array(v, pa.uint64())),
        of(st.integers(-128, 127), lambda v: pa.array(v, pa.int8())),
        of(st.floats(), lambda v: pa.array(v, pa.float64())),
        of(st.floats(width=32), lambda v: pa.array(v, pa.float32())),
        of(st.floats(width=16), half),
        of(st.booleans(), lambda v: pa.array(v, pa.bool_())),
        of(st.decimals(min_value=-10**9, max_value=10**9, places=3, allow_nan=False),
           lambda v: pa.array(v, pa.decimal128(15, 3))),
        of(st.integers(-1_000_000, 3_000_000), lambda v: pa.array(v, pa.date32())),
        timestamp.map(lambda t: pa.array(t[2], pa.timestamp(t[0], tz=t[1]))),
        of(st.integers(0, 86_399_999_999), lambda v: pa.array(v, pa.time64("us"))),
        of(st.integers(-2**40, 2**40), lambda v: pa.array(v, pa.duration("ms"))),
        of(st.binary(max_size=6), lambda v: pa.array(v, pa.binary())),
        of(st.binary(min_size=3, max_size=3), lambda v: pa.array(v, pa.binary(3))),
        of(st.lists(st.integers(-5, 5), max_size=3), lambda v: pa.array(v, pa.list_(pa.int64()))),
        of(st.lists(st.text(max_size=3), max_size=3),
           lambda v: pa.array(v, pa.large_list(pa.string()))),
        of(st.fixed_dictionaries({"a": st.integers(-5, 5), "b": st.text(max_size=3)}),
           lambda v: pa.array(v, pa.struct([("a", pa.int64()), ("b", pa.string())]))),
        of(st.lists(st.tuples(st.text(max_size=3), st.integers(0, 9)), max_size=2),
           lambda v: pa.array(v, pa.map_(pa.string(), pa.int64()))),
        st.just(pa.nulls(n)),
    )


def _arrow_op(draw: Callable[..., Any], tbl: pa.Table) -> pa.Table:
    op = draw(st.sampled_from(["replace", "replace", "add", "drop", "rename", "repeat",
                               "no-rows", "dup-row"]))
    cols, labels = list(tbl.columns), list(tbl.column_names)
    i = draw(st.integers(0, max(len(cols) - 1, 0)))
    if op == "replace" and cols:
        cols[i] = draw(odd_arrays(tbl.num_rows))
    elif op == "add":
        cols.append(draw(odd_arrays(tbl.num_rows)))
        labels.append(draw(names))
    elif op == "drop" and cols:
        del cols[i], labels[i]
    elif op == "rename" and cols:
        labels[i] = draw(names)
    elif op == "repeat" and cols:
        cols.append(cols[i])
        labels.append(draw(st.sampled_from([labels[i], labels[i].upper()])))
    elif op == "no-rows":
        return tbl.slice(0, 0)
    elif op == "dup-row" and tbl.num_rows:
        return pa.concat_tables([tbl, tbl.slice(0, 1)])
    return pa.Table.from_arrays(cols, names=labels) if cols else pa.table({})


NULLABLE = ["Int64", "Float64", "boolean", "string", "category", "float32", "object"]


def _pandas_bytes(draw: Callable[..., Any], table: str) -> bytes:
    """Parquet written by pandas, whose metadata brings back nullable/extension dtypes."""
    frame = typed_valid(table).to_pandas()
    column = draw(st.sampled_from(list(frame.columns)))
    try:
        frame[column] = frame[column].astype(draw(st.sampled_from(NULLABLE)))
        if draw(st.booleans()):
            frame.loc[draw(st.integers(0, len(frame) - 1)), column] = pd.NA
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
    except (TypeError, ValueError):
        assume(False)
    return buf.getvalue()


def _arrow_bytes(draw: Callable[..., Any], tbl: pa.Table) -> bytes:
    buf = io.BytesIO()
    try:
        pq.write_table(tbl, buf, compression=draw(st.sampled_from(["snappy", "zstd", "none"])),
                       row_group_size=draw(st.sampled_from([None, 1])),
                       use_dictionary=draw(st.booleans()))
    except (pa.ArrowException, TypeError, ValueError):
        assume(False)  # a table pyarrow itself cannot write is no case for genlift
    return buf.getvalue()


def _damaged_pandas_metadata(draw: Callable[..., Any], tbl: pa.Table) -> pa.Table:
    """The JSON block pandas reads its dtypes from, with a key dropped or a value swapped."""
    meta = json.loads(tbl.schema.metadata[b"pandas"])
    target = meta if draw(st.booleans()) or not meta["columns"] else draw(
        st.sampled_from(meta["columns"]))
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(st.sampled_from([None, 5, "x", [], {}, [None], ["nope"]]))
    raw = json.dumps(meta).encode()
    raw = draw(st.one_of(st.just(raw), st.binary(max_size=16)))
    return tbl.replace_schema_metadata({**tbl.schema.metadata, b"pandas": raw})


@st.composite
def parquet_cases(draw: Callable[..., Any]) -> Case:
    table = draw(st.sampled_from(TABLES))
    tbl = typed_valid(table)
    for _ in range(draw(st.integers(1, 3))):
        tbl = _arrow_op(draw, tbl)
    how = draw(st.sampled_from(["arrow", "arrow", "pandas", "folder", "metadata"]))
    if how == "metadata":
        tbl = _damaged_pandas_metadata(draw, typed_valid(table))
    if how == "folder":
        other = _arrow_op(draw, typed_valid(table))
        content: bytes | dict[str, bytes] = {"part-0.parquet": _arrow_bytes(draw, tbl),
                                             "part-1.parquet": _arrow_bytes(draw, other)}
        return Case(table, "folder", content)
    data = _pandas_bytes(draw, table) if how == "pandas" else _arrow_bytes(draw, tbl)
    damage = draw(st.sampled_from([None, None, "cut", "flip"]))
    k = draw(st.integers(0, max(len(data) - 1, 0)))
    if damage == "cut":
        data = data[:k]
    elif damage == "flip":
        data = data[:k] + bytes([data[k] ^ draw(st.integers(1, 255))]) + data[k + 1:]
    return Case(table, draw(st.sampled_from(["file.parquet", "file.pq"])), data)


# -- running an import and checking its outcome ---------------------------------------------
@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Outcome(code, out.getvalue(), err.getvalue())


def snapshot(db: Path) -> dict[str, Any]:
    """Everything a failed import must leave alone."""
    with Store(db, read_only=True) as store:
        tables = sorted(store.query(
            "SELECT table_name FROM information_schema.tables")["table_name"])
        types = store.query("SELECT table_name, column_name, data_type FROM "
                            "information_schema.columns ORDER BY ALL")
        return {"meta": store.tables(), "runs": len(store.runs()),
                "types": types.to_dict("records"),
                "content": {t: fingerprint_frame(store.read(t)) for t in tables}}


SEEDS: dict[str, Path] = {}


def seed_store(table: str) -> Path:
    """A store holding the valid ``table`` (and its parents), built once per module."""
    if table not in SEEDS:
        folder = Path(tempfile.mkdtemp(prefix=f"genlift-fuzz-{table}-"))
        db = folder / STORE
        for t in (*PARENTS.get(table, ()), table):
            src = folder / f"{t}.csv"
            src.write_text(VALID[t], encoding="utf-8")
            result = run_cli("--db", str(db), "data", "import", t, str(src))
            assert result.code == 0, result
        SEEDS[table] = db
    return SEEDS[table]


@pytest.fixture(scope="module", autouse=True)
def _remove_seed_stores() -> Iterator[None]:
    yield
    while SEEDS:
        shutil.rmtree(SEEDS.popitem()[1].parent, ignore_errors=True)


def assert_import_is_all_or_nothing(case: Case, mode: str) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="genlift-fuzz-case-") as tmp:
        folder = Path(tmp)
        path = case.write(folder)
        db = folder / STORE
        before = None
        if mode != "fresh":
            shutil.copy(seed_store(case.table), db)
            before = snapshot(db)
        argv = ["--db", str(db), "data", "import", case.table, str(path), *case.extra]
        result = run_cli(*argv, *(["--append"] if mode == "append" else []))
        assert result.code in (0, 2), result
        assert "Traceback" not in result.err
        if result.code == 2:
            assert result.out == ""
            lines = result.err.strip().splitlines()
            assert len(lines) == 1, result.err
            assert lines[0].startswith("genlift: error: "), lines[0]
            assert ". Fix: " in lines[0], lines[0]
            assert case.table in lines[0], lines[0]
            if before is None:
                assert sorted(p.name for p in folder.iterdir()) == [path.name]
            else:
                assert snapshot(db) == before
        else:
            assert_stored_table_keeps_the_contract(db, case.table, before)
        return result


def assert_stored_table_keeps_the_contract(db: Path, table: str,
                                           before: dict[str, Any] | None) -> None:
    with Store(db, read_only=True) as store:
        frame = store.read(table)
        info = store.info(table)
        parents = {p: store.read(p)[schema_for(p).key[0]]
                   for p in PARENTS.get(table, ()) if store.has(p)}
    assert info.n_rows == len(frame) > 0
    assert info.fingerprint == fingerprint_frame(frame)
    validate_frame(table, frame, parent_keys=parents)  # raises when the contract is broken
    if before is not None:
        others = {t: fp for t, fp in before["content"].items() if t not in (table, META)}
        after = snapshot(db)["content"]
        assert {t: after[t] for t in others} == others


# -- the fuzz tests ----------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["csv", "parquet"])
@pytest.mark.parametrize("table", TABLES)
def test_the_valid_tables_import(table: str, form: str) -> None:
    """The starting points of the fuzzing are good input."""
    if form == "csv":
        case = Case(table, "file.csv", VALID[table].encode())
    else:
        buf = io.BytesIO()
        pq.write_table(typed_valid(table), buf)
        case = Case(table, "file.parquet", buf.getvalue())
    for mode in MODES:
        assert assert_import_is_all_or_nothing(case, mode).code == (
            2 if mode == "append" else 0)  # appending the same keys again is refused


@fuzz_settings(100)
@given(case=csv_cases(), mode=st.sampled_from(MODES))
def test_broken_csv_imports_all_or_nothing(case: Case, mode: str) -> None:
    event(f"exit {assert_import_is_all_or_nothing(case, mode).code}")


@fuzz_settings(100)
@given(case=parquet_cases(), mode=st.sampled_from(MODES))
def test_broken_parquet_imports_all_or_nothing(case: Case, mode: str) -> None:
    event(f"exit {assert_import_is_all_or_nothing(case, mode).code}")


# -- regressions: the minimal cases of the crashes the fuzzing found --------------------------
def parquet_bytes(columns: dict[str, pa.Array], compression: str = "snappy") -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression=compression)
    return buf.getvalue()


def parquet_with_pandas_metadata(meta: bytes) -> bytes:
    buf = io.BytesIO()
    tbl = pa.table({"user_id": ["u1"]}).replace_schema_metadata({b"pandas": meta})
    pq.write_table(tbl, buf)
    return buf.getvalue()


def broken_page_header() -> bytes:
    """A parquet file whose first page header is garbage: Arrow's message spans lines."""
    data = parquet_bytes({"applicant_id": ["a1", "a2"], "default": [0, 1]}, "none")
    return data[:4] + b"\xff" * 4 + data[8:]


ZONED_MS = pa.timestamp("ms", tz="Europe/Berlin")
INTERACTIONS_HEADER = b"user_id,item_id,ts,qty,value\n"
REGRESSIONS = [
    # (id, table, file name, content, extra args, mode, message pattern); before the fix
    ("unnamed-column", "users", "u.csv", b"user_id,\nu1,a\n", (), "replace",  # DuckDB error
     r"users: column\(s\) 2 have no name or a NUL character in it \(found: 'user_id', ''\)\. "
     r"Fix: give every column a name"),
    ("nul-in-column-name", "users", "u.csv", b"user_id,a\x00b\nu1,x\n", (), "fresh",  # -> 'a'
     r"users: column\(s\) 2 have no name or a NUL character in it"),
    ("names-differ-in-case", "users", "u.csv", b"user_id,User_ID\nu1,a\n", (), "fresh",
     # silently stored User_ID as a copy of user_id: DuckDB names ignore case
     r"users: column names User_ID, user_id differ only in upper/lower case\. Fix: rename"),
    ("line-break-in-missing-name", "users", "u.csv", b'"a\nb"\nx\n', (), "fresh",
     r"users is missing required column\(s\) user_id \(found: 'a\\nb'\)"),
    ("vertical-tab-in-a-row", "applicants", "a.csv",  # a two-line message
     b"applicant_id,default,income\na1,0,5000\x0ba2,1,1200.5\n", (), "fresh",
     r"applicants: .*a\.csv: malformed CSV: Expected 3 columns, got 5: a1,0,5000 a2,1,1200\.5"),
    ("sep-non-ascii", "users", "u.csv", b"user_id\nu1\n", ("--sep=\u00e9",), "fresh",
     r"users: .*u\.csv: --sep '\u00e9' cannot be a separator\. Fix: pass one separator "
     r"character \(ASCII, not a line break\)"),
    ("sep-nul", "users", "u.csv", b"user_id\nu1\n", ("--sep=\x00",), "fresh",
     r"--sep '\\x00' cannot be a separator"),
    ("sep-line-break", "users", "u.csv", b"user_id\nu1\n", ("--sep=\n",), "fresh",
     r"--sep '\\n' cannot be a separator"),
    *[(f"encoding-{enc}", "users", "u.csv", b"user_id\nu1\n", (f"--encoding={enc}",), "fresh",
       rf"users: .*u\.csv: '{enc}' is not a text encoding genlift can read\. Fix: pass "
       r"--encoding utf-8")
      for enc in ("rot13", "base64", "zlib", "hex", "punycode", "undefined")],
    ("utf-16-without-bom", "users", "u.csv", b"user_id\nu1\n", ("--encoding=utf-16",),
     "replace", r"users: .*u\.csv: not utf-16 text\. Fix: save the file as UTF-8"),
    ("gz-not-gzip", "users", "u.csv.gz", b"user_id\nu1\n", (), "replace",
     r"users: .*u\.csv\.gz: cannot read the file \(zlib inflate failed: incorrect header "
     r"check\)\. Fix: check that the file is complete"),
    ("gz-truncated", "users", "u.csv.gz", gzip.compress(b"user_id\nu1\n", mtime=0)[:15], (),
     "fresh", r"users: .*u\.csv\.gz: cannot read the file \(Truncated compressed stream\)"),
    ("inf-float-id", "stores", "s.parquet", parquet_bytes({"store_id": [1.0, float("inf")]}),
     (), "replace", r"stores\.store_id has 1 infinite values \(rows 2: .*inf.*\)\. "
                    r"Fix: make every store_id text or a whole number"),
    ("timestamp-past-2262", "interactions", "i.parquet", parquet_bytes({
        "user_id": ["u1"], "item_id": ["i1"],
        "ts": pa.array([253402300799000000], pa.timestamp("us")), "qty": [1.0],
        "value": [1.0]}), (), "append",
     r"interactions\.ts has 1 dates/times not between the years 1678 and 2261 \(rows 1: "
     r".*9999-12-31.*\)\. Fix: give ts between the years 1678 and 2261"),
    ("epoch-seconds-1e20", "interactions", "i.csv", INTERACTIONS_HEADER + b"u1,i1,1e20,1,1\n",
     (), "replace", r"interactions\.ts has 1 values that are not dates/times \(rows 1: '1e20'\)"
                    r"\. Fix: .* as Unix epoch seconds, between the years 1678 and 2261"),
    ("list-id", "users", "u.parquet", parquet_bytes({"user_id": pa.array([[1], [2]])}), (),
     "fresh", r"users\.user_id has 2 nested values \(lists, structs or maps\) \(rows 1, 2: "
              r"array\(\[1\]\), array\(\[2\]\)\)\. Fix: flatten user_id"),
    ("struct-attribute", "users", "u.parquet", parquet_bytes({
        "user_id": ["u1"], "n": pa.array([{"x": 1}])}), (), "replace",
     r"users\.n has 1 nested values"),
    ("non-utf8-bytes", "users", "u.parquet", parquet_bytes({
        "user_id": ["u1"], "n": pa.array([b"\x00\xff"])}), (), "fresh",
     r"users\.n has 1 byte strings that are not UTF-8 text \(rows 1: b'\\x00\\xff'\)\. Fix: "
     r"store n as text"),
    ("invalid-utf8-string", "users", "u.parquet", parquet_bytes({
        "user_id": pa.array([b"\xff"]).view(pa.string())}), (), "fresh",
     r"users: .*u\.parquet: not a readable parquet file \(.*\)\. Fix: write it again"),
    ("damaged-pandas-metadata", "users", "u.parquet", parquet_with_pandas_metadata(
        b'{"index_columns": [], "columns": [{"name": "user_id", "field_name": "user_id"}]}'),
     (), "fresh", r"users: .*u\.parquet: not a readable parquet file \(its pandas metadata is "
                  r"damaged: KeyError 'pandas_type'\)\. Fix: write it again"),
    ("pandas-metadata-not-a-list", "users", "u.parquet", parquet_with_pandas_metadata(
        b'{"index_columns": 5, "columns": []}'), (), "replace",
     r"users: .*u\.parquet: not a readable parquet file \(its pandas metadata is damaged: "
     r"TypeError 'int' object is not iterable\)"),
    # pandas segfaulted printing far zoned times in the message (Europe/Berlin, ~year -1e8)
    ("zoned-time-far-past", "interactions", "i.parquet", parquet_bytes({
        "user_id": ["u1"], "item_id": ["i1"], "ts": pa.array([-2**62], ZONED_MS),
        "qty": [1.0], "value": [1.0]}), (), "replace",
     r"interactions\.ts has 1 dates/times not between the years 1678 and 2261 \(rows 1: "
     r"np\.datetime64\('-146136543-09-08T08:23:32\.096'\)\)"),
    ("zoned-time-as-a-number", "interactions", "i.parquet", parquet_bytes({
        "user_id": ["u1"], "item_id": ["i1"], "ts": ["2024-01-01"],
        "qty": pa.array([-2**62], ZONED_MS), "value": [1.0]}), (), "fresh",
     # also: qty took the times' nanosecond counts as numbers
     r"interactions\.qty has 1 dates/times, not numbers \(rows 1: np\.datetime64\("),
    ("far-zoned-attribute", "users", "u.parquet", parquet_bytes({
        "user_id": ["u1"], "t": pa.array([-2**62], ZONED_MS)}), (), "fresh",
     r"users: the store cannot hold these values \(Conversion Error: .*\)\. Fix: keep "
     r"dates/times between the years 1678 and 2261"),
    ("metadata-columns-not-objects", "users", "u.parquet", parquet_with_pandas_metadata(
        b'{"index_columns": [], "column_indexes": [], "columns": ["nope"]}'), (), "fresh",
     r"not a readable parquet file \(its pandas metadata is damaged: AttributeError 'str' "
     r"object has no attribute 'get'\)"),
    ("dict-column-label", "users", "u.parquet", parquet_with_pandas_metadata(json.dumps({
        "index_columns": [], "column_indexes": [], "columns": [{
            "name": {}, "field_name": "user_id", "pandas_type": "unicode",
            "numpy_type": "object", "metadata": None}]}).encode()), (), "fresh",
     # the metadata named the column with a dict: the rename in apply_mapping crashed
     r"users is missing required column\(s\) user_id \(found: \{\}\)"),
    ("broken-page-header", "applicants", "a.parquet", broken_page_header(), (), "replace",
     r"applicants: .*a\.parquet: not a readable parquet file \(Couldn't deserialize thrift"),
]


@pytest.mark.parametrize(("table", "name", "content", "extra", "mode", "pattern"),
                         [pytest.param(*case[1:], id=case[0]) for case in REGRESSIONS])
def test_regression(table: str, name: str, content: bytes, extra: tuple[str, ...], mode: str,
                    pattern: str) -> None:
    result = assert_import_is_all_or_nothing(Case(table, name, content, extra), mode)
    assert result.code == 2
    assert re.search(pattern, result.err), (pattern, result.err)


def test_float_ids_past_int64_import_as_text() -> None:
    """They crashed the import: 1e300 has no int64 form to print as '1'."""
    case = Case("stores", "s.parquet", parquet_bytes({"store_id": [1.0, 1e300]}))
    assert assert_import_is_all_or_nothing(case, "fresh").code == 0


def test_nullable_boolean_prices_with_a_missing_value_import() -> None:
    """The optional items.price as pandas' nullable boolean: its NA had no int64 form."""
    buf = io.BytesIO()
    pd.DataFrame({"item_id": ["i1", "i2"],
                  "price": pd.array([True, None], dtype="boolean")}).to_parquet(buf)
    case = Case("items", "i.parquet", buf.getvalue())
    assert assert_import_is_all_or_nothing(case, "fresh").code == 0


@pytest.mark.parametrize(("stored", "appended", "pattern"), [
    (pd.Categorical(["x"]), "zz", r"users: the appended rows do not fit the stored table "
                                  r"\(Conversion Error: .*'zz'.*\)\. Fix: make every column "
                                  r"the same type"),
    (pd.to_datetime(["2024-01-01"]), "soon",
     r"users: the appended rows do not fit the stored table"),
    ([3], "1.5", r"users\.age is stored as BIGINT but 1 appended rows hold values that are "
                 r"not whole numbers in its range \(rows 1\)\. Fix: make age whole numbers"),
    ([3], "1e300", r"users\.age is stored as BIGINT but 1 appended rows hold values"),
], ids=["enum", "timestamp", "fraction-into-bigint", "huge-into-bigint"])
def test_append_of_values_the_stored_column_cannot_hold(tmp_path: Path, stored: Any,
                                                        appended: str, pattern: str) -> None:
    """An enum, timestamp or integer attribute column and appended text or fractions: DuckDB
    failed mid-insert (and the unregister after it hid the error), or rounded 1.5 to 2."""
    db = tmp_path / STORE
    seed = tmp_path / "u.parquet"
    pd.DataFrame({"user_id": ["u1"], "age": stored}).to_parquet(seed, index=False)
    assert run_cli("--db", str(db), "data", "import", "users", str(seed)).code == 0
    before = snapshot(db)
    path = tmp_path / "more.csv"
    path.write_text(f"user_id,age\nu2,{appended}\n", encoding="utf-8")
    result = run_cli("--db", str(db), "data", "import", "users", str(path), "--append")
    assert (result.code, result.out) == (2, "")
    assert re.search(pattern, result.err), result.err
    assert snapshot(db) == before


# -- the real command line: no traceback reaches stderr -------------------------------------------
NASTY_FILES = [  # (table, file name, content, extra args)
    ("users", "random.parquet", bytes(range(256)) * 3, ()),
    ("users", "cut.csv.gz", gzip.compress(b"user_id\nu1\n" * 50, mtime=0)[:40], ()),
    ("users", "nested.parquet", parquet_bytes({"user_id": pa.array([{"a": 1}])}), ()),
    ("users", "u.csv", b"user_id\nu1\n", ("--encoding=rot13",)),
]


def test_the_command_line_prints_no_traceback(tmp_path: Path) -> None:
    runs = []
    for i, (table, name, content, extra) in enumerate(NASTY_FILES):
        path = tmp_path / name
        path.write_bytes(content)
        db = tmp_path / f"s{i}.duckdb"
        argv = [sys.executable, "-m", "serving.cli", "--db", str(db), "data", "import", table,
                str(path), *extra]
        runs.append((db, subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)))
    for db, proc in runs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, err
        assert out == ""
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("genlift: error: "), err
        assert not db.exists()
