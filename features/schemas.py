"""Table contracts (docs/architecture.md, "The store") and the validation every load goes through.

Validation is vectorised pandas: each check builds one boolean mask over the frame and,
when any row fails, raises a :class:`DataValidationError` that names the table, the
column, the number of bad rows, up to five example rows (1-based, in input order) and
the fix. A frame that passes comes back typed: ids as strings, numbers as int64/float64,
timestamps as datetime64, dates as midnight datetimes, contract columns first.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.errors import DataValidationError

Kind = Literal["id", "int", "float", "timestamp", "date", "str", "binary"]
N_EXAMPLES = 5
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True)
class Column:
    """One contract column: its kind, a lower bound and whether it may be missing."""

    name: str
    kind: Kind
    min: float | None = None
    min_exclusive: bool = False
    required: bool = True
    rule: str = ""  # the sentence that follows the ":" in an error about a bound


@dataclass(frozen=True)
class TableSchema:
    """A table contract: required columns, the primary key and the parent tables.

    ``unique=False`` marks a log (``transactions``): ``key`` still says what identifies a
    row's customer and time, but repeated keys are separate events, not duplicates.
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    parents: Mapping[str, str] = field(default_factory=dict)  # column -> parent table
    unique: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _ids(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, "id") for n in names)


NONNEG = "must be >= 0"
POSITIVE = "must be > 0"

SCHEMAS: dict[str, TableSchema] = {
    s.name: s
    for s in [
        TableSchema(
            "interactions",
            (
                *_ids("user_id", "item_id"),
                Column("ts", "timestamp"),
                Column("qty", "float", min=0, rule=f"quantities {NONNEG}"),
                Column("value", "float", min=0, rule=f"values {NONNEG}"),
            ),
            key=("user_id", "item_id", "ts"),
            parents={"user_id": "users", "item_id": "items"},
        ),
        TableSchema("users", _ids("user_id"), key=("user_id",)),
        TableSchema(
            "items",
            (*_ids("item_id"),
             Column("price", "float", min=0, min_exclusive=True, required=False,
                    rule=f"prices {POSITIVE}")),
            key=("item_id",),
        ),
        TableSchema(
            "sales",
            (
                *_ids("store_id", "item_id"),
                Column("date", "date"),
                Column("units", "float", min=0, rule=f"units {NONNEG}"),
                Column("price", "float", min=0, min_exclusive=True, rule=f"prices {POSITIVE}"),
                Column("promo", "float", min=0, rule=f"promo flags/intensities {NONNEG}"),
            ),
            key=("store_id", "item_id", "date"),
            parents={"store_id": "stores"},
        ),
        TableSchema("stores", _ids("store_id"), key=("store_id",)),
        TableSchema(
            "applicants",
            (*_ids("applicant_id"), Column("default", "binary")),
            key=("applicant_id",),
        ),
        # the three tables of `genlift data fetch credit-data telco-churn medical-insurance`;
        # every other column is an attribute, typed by _infer_extra
        TableSchema(
            "loans",
            (*_ids("loan_id"), Column("default", "binary")),
            key=("loan_id",),
        ),
        TableSchema(
            "customers",
            (*_ids("customer_id"), Column("churn", "binary")),
            key=("customer_id",),
        ),
        # `genlift segment`: each run's assignments (appended: the monthly history) and
        # the latest run's customer feature table with its segment, which `genlift augment
        # fit tabular --table segment_features` learns from (the key is left out there)
        TableSchema(
            "segments",
            (*_ids("user_id"), Column("segment", "str"), Column("method", "str"),
             Column("run_id", "str")),
            key=("run_id", "user_id"),
        ),
        TableSchema("segment_features", (*_ids("user_id"), Column("segment", "str")),
                    key=("user_id",)),
        TableSchema(
            "policies",
            (*_ids("policy_id"),
             Column("charges", "float", min=0, rule=f"charges {NONNEG}")),
            key=("policy_id",),
        ),
        # `genlift data fetch clrd`; premium and paid may be negative in the real data
        # (ceded premium, salvage): the reserving entry point checks the one triangle used
        TableSchema(
            "claims_triangles",
            (
                *_ids("company", "line"),
                Column("accident_year", "int"),
                Column("development_lag", "int", min=1,
                       rule="development lags count from 1 (the accident year itself)"),
                Column("paid", "float"),
                Column("incurred", "float", required=False),
                Column("premium", "float"),
            ),
            key=("company", "line", "accident_year", "development_lag"),
        ),
        # `genlift data fetch cdnow`: purchases without item ids, so not interactions; a
        # customer may buy twice on one day (CDNOW has 255 identical rows), so a log
        TableSchema(
            "transactions",
            (
                *_ids("user_id"),
                Column("ts", "timestamp"),
                Column("quantity", "int", min=1,
                       rule="quantities must be >= 1 (units bought; drop returns and "
                       "empty orders, or net them out of the purchase they undo)"),
                Column("amount", "float", min=0,
                       rule=f"amounts {NONNEG} (money spent; drop refunds, or net them "
                       "out of the purchase they undo)"),
            ),
            key=("user_id", "ts"),
            unique=False,
        ),
        # `genlift clv`: BG/NBD + Gamma-Gamma per customer of transactions
        TableSchema(
            "customer_value",
            (
                *_ids("user_id"),
                Column("expected_purchases", "float", min=0,
                       rule=f"expected purchases {NONNEG}"),
                Column("p_alive", "float", min=0, rule=f"probabilities {NONNEG}"),
                Column("expected_spend", "float", min=0, rule=f"spends {NONNEG}"),
                Column("clv", "float", min=0, rule=f"lifetime values {NONNEG}"),
            ),
            key=("user_id",),
        ),
        TableSchema(
            "prices",
            (
                Column("date", "date"),
                *_ids("asset"),
                Column("close", "float", min=0, min_exclusive=True,
                       rule=f"close prices {POSITIVE}"),
            ),
            key=("date", "asset"),
        ),
    ]
}

SYNTHETIC_COLUMNS = (Column("run_id", "str"), Column("generator", "str"))


def schema_for(table: str) -> TableSchema:
    """The contract of ``table``; ``synthetic_<t>`` is ``t`` plus ``run_id`` and ``generator``.

    Synthetic tables have no parent checks: synthetic users are new ids by design.
    """
    if table in SCHEMAS:
        return SCHEMAS[table]
    if table.startswith("synthetic_") and table[len("synthetic_"):] in SCHEMAS:
        base = SCHEMAS[table[len("synthetic_"):]]
        return TableSchema(
            table,
            base.columns + SYNTHETIC_COLUMNS,
            key=("run_id", *base.key),
            unique=base.unique,
        )
    known = ", ".join(sorted(SCHEMAS))
    raise DataValidationError(
        f"unknown table {table!r}",
        table=table,
        fix=f"use one of {known} (or synthetic_<table>)",
    )


def show_names(*names: str) -> str:
    """Column names for a one-line message: odd ones (line breaks, escapes) as repr."""
    return ", ".join(n if n.isprintable() else repr(n) for n in names)


def _check_cells(table: str, name: str, s: pd.Series) -> None:
    """Parquet can hold bytes and nested values (lists, structs, maps): bytes must be UTF-8
    text, and nested values are refused, not flattened into their Python repr."""
    if s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) not in ("bytes", "mixed"):
        return
    values = s.to_numpy()
    nested = np.array([isinstance(v, list | tuple | dict | set | np.ndarray) for v in values])
    if nested.any():
        raise _fail(table, name, nested, "nested values (lists, structs or maps)",
                    f"flatten {show_names(name)} into plain text or number columns before "
                    "loading", s)
    undecodable = np.array([isinstance(v, bytes | bytearray) and not _is_utf8(v)
                            for v in values])
    if undecodable.any():
        raise _fail(table, name, undecodable, "byte strings that are not UTF-8 text",
                    f"store {show_names(name)} as text (a string column), or decode it "
                    "first", s)


def _is_utf8(value: bytes | bytearray) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _example_rows(mask: np.ndarray) -> tuple[int, list[int]]:
    idx = np.flatnonzero(mask)
    return int(idx.size), [int(i) + 1 for i in idx[:N_EXAMPLES]]


def _fail(
    table: str,
    column: str,
    mask: np.ndarray,
    what: str,
    fix: str,
    values: pd.Series | None = None,
) -> DataValidationError:
    n, rows = _example_rows(mask)
    where = ", ".join(map(str, rows)) + (", ..." if n > len(rows) else "")
    shown = ""
    if values is not None:
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            # as UTC numpy values: pandas crashes turning far zoned times into Timestamps
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        vals = [repr(v) for v in values.to_numpy()[np.flatnonzero(mask)[:N_EXAMPLES]]]
        shown = ": " + ", ".join(vals)
    return DataValidationError(
        f"{table}.{show_names(column)} has {n} {what} (rows {where}{shown})",
        table=table,
        column=column,
        n_rows=n,
        rows=rows,
        fix=fix,
    )


def _blank(s: pd.Series) -> np.ndarray:
    """Missing values, counting empty or whitespace-only strings as missing."""
    miss = s.isna().to_numpy()
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        txt = s.astype("string").str.strip()
        miss = miss | (txt == "").fillna(False).to_numpy(dtype=bool)
    return miss


def _as_id(table: str, col: Column, s: pd.Series) -> pd.Series:
    """Ids are strings in the store; integral floats (1.0, from CSV or parquet) become '1'."""
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.to_numpy(dtype=float)
        if np.isinf(vals).any():
            raise _fail(table, col.name, np.isinf(vals), "infinite values",
                        f"make every {col.name} text or a whole number", s)
        finite = vals[np.isfinite(vals)]
        # past 2**63 a float has no int64 form; such a column keeps the float's text
        if np.all((finite == np.round(finite)) & (np.abs(finite) < 2.0**63)):
            s = s.astype("Int64")
    out = s.astype("string").str.strip()
    return out.astype(object).where(out.notna(), None).astype("string")


def _text_to_float(s: pd.Series) -> pd.Series:
    """Text -> float64 with unparseable cells as NaN. Arrow's cast is an order of magnitude
    faster than ``pd.to_numeric``; it refuses a column with any bad cell, and only then
    does the slow cell-by-cell path run (to find and report those cells)."""
    try:
        arr = pc.cast(pa.array(s, from_pandas=True, type=pa.string()), pa.float64())
        return pd.Series(arr.to_numpy(zero_copy_only=False), index=s.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pd.to_numeric(s, errors="coerce").astype("float64")


def _as_number(table: str, col: Column, s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(
            s.dtype):  # pd.to_numeric would turn them into nanosecond counts
        raise _fail(table, col.name, s.notna().to_numpy(), "dates/times, not numbers",
                    f"make every {col.name} a number", s)
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("float64")  # a nullable boolean's NA has no int64 form
    num = s.astype("float64") if pd.api.types.is_numeric_dtype(s.dtype) else _text_to_float(s)
    bad = (num.isna().to_numpy() & ~_blank(s)) | np.isinf(num.to_numpy())
    if bad.any():
        raise _fail(table, col.name, bad, "values that are not numbers",
                    f"make every {col.name} a number (no text, no inf)", s)
    return num


# pandas' nanosecond timestamps span 1677-09-21 to 2262-04-11
TIME_RANGE = "between the years 1678 and 2261"
EPOCH_LIMIT = 9.2e9  # seconds, just inside that span


def _as_time(table: str, col: Column, s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = pd.to_datetime(s)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        # parquet keeps micro/millisecond units, whose range is wider than nanoseconds'
        far = (out.notna() & ((out < pd.Timestamp.min) | (out > pd.Timestamp.max))).to_numpy()
        if far.any():
            raise _fail(table, col.name, far, f"dates/times not {TIME_RANGE}",
                        f"give {col.name} {TIME_RANGE}, or drop those rows", out)
    else:
        num = s if pd.api.types.is_numeric_dtype(s.dtype) else _text_to_float(s)
        given = ~_blank(s)
        compact = _compact_dates(s, given)
        if compact is not None:  # 20240131: ISO 8601 basic format, not a 1970 epoch time
            out = compact
        elif given.any() and num[given].notna().all():
            # epoch seconds; values past the range become NaT (pandas overflows on them)
            out = pd.to_datetime(num.where(num.abs() < EPOCH_LIMIT), unit="s", errors="coerce")
        else:
            try:
                out = pd.to_datetime(s.astype("string"), format="ISO8601", errors="coerce",
                                     utc=True).dt.tz_localize(None)
            except (ValueError, TypeError):
                out = pd.Series(pd.NaT, index=s.index)
        bad = out.isna().to_numpy() & given
        if bad.any():
            raise _fail(table, col.name, bad, "values that are not dates/times",
                        f"write {col.name} as ISO 8601 (2024-01-31 or 2024-01-31T12:00:00) "
                        f"or as Unix epoch seconds, {TIME_RANGE}", s)
    out = out.astype("datetime64[ns]")
    return out.dt.normalize() if col.kind == "date" else out


def _compact_dates(s: pd.Series, given: np.ndarray) -> pd.Series | None:
    """Parse a column written wholly as YYYYMMDD text; None when it is not one."""
    if pd.api.types.is_numeric_dtype(s.dtype) or not given.any():
        return None
    txt = s.astype("string").str.strip()
    if not txt[given].str.fullmatch(r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])").all():
        return None
    out = pd.to_datetime(txt, format="%Y%m%d", errors="coerce")
    return out if out[given].notna().all() else None


def _cast(table: str, col: Column, s: pd.Series) -> pd.Series:
    if col.kind == "id":
        return _as_id(table, col, s)
    if col.kind == "str":
        return s.astype("string")
    if col.kind in ("timestamp", "date"):
        return _as_time(table, col, s)
    num = _as_number(table, col, s)
    if col.kind in ("int", "binary"):
        frac = num.notna().to_numpy() & (num.fillna(0) != np.round(num.fillna(0))).to_numpy()
        if frac.any():
            raise _fail(table, col.name, frac, "values that are not whole numbers",
                        f"make {col.name} an integer", s)
    if col.kind == "binary":
        off = num.notna().to_numpy() & ~num.isin([0, 1]).to_numpy()
        if off.any():
            raise _fail(table, col.name, off, "values other than 0 and 1",
                        f"encode {col.name} as 1 (yes) or 0 (no)", s)
    if col.kind in ("int", "binary") and not num.isna().any():
        return num.astype("int64")
    return num


INTEGRAL = r"[+-]?[0-9]+"  # ASCII digits only: \d would take other scripts' digits
TRUE_FALSE = {"true": True, "false": False}


def _infer_extra(s: pd.Series) -> pd.Series:
    """Attribute columns keep their type; text columns get the narrowest type that holds
    every given (non-blank) value, blanks becoming missing:

    - only whole numbers that fit int64 (``12``, ``-3``, ``+7``) -> nullable ``Int64``
      (BIGINT in the store);
    - only ``true``/``false`` in any case -> nullable ``boolean`` (BOOLEAN);
    - only numbers -> float64 (DOUBLE), as ``1.0``, ``2.5`` or ``1e3``;
    - anything else, or numbers with a leading zero (zip codes, account numbers
      ``007``) -> text.
    """
    if s.dtype != object and not pd.api.types.is_string_dtype(s.dtype):
        return s
    txt = s.astype("string").str.strip()
    given = (txt.notna() & (txt != "")).to_numpy(dtype=bool)
    if not given.any():
        return s.astype("string")
    values = txt[given]
    lower = txt.str.lower()
    if lower[given].isin(list(TRUE_FALSE)).all():
        return lower.map(TRUE_FALSE).astype("boolean")  # blanks map to missing
    if values.str.match(r"^[+-]?0\d").any():
        return s.astype("string")
    if values.str.fullmatch(INTEGRAL).all():
        try:  # Arrow refuses values past int64 (then the float path below takes them)
            ints = pc.cast(pa.array(values.str.removeprefix("+"), from_pandas=True,
                                    type=pa.string()), pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            out = pd.Series(pd.NA, index=s.index, dtype="Int64")
            out[given] = ints.to_numpy(zero_copy_only=False)
            return out
    num = _text_to_float(txt.where(pd.Series(given, index=s.index)))
    if num[given].notna().all():
        return num
    return s.astype("string")


def validate_frame(
    table: str,
    frame: pd.DataFrame,
    *,
    parent_keys: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Check ``frame`` against the contract of ``table`` and return it typed.

    Parameters
    ----------
    table : str
        A table of docs/architecture.md (``interactions``, ``sales``, ...) or ``synthetic_<table>``.
    frame : DataFrame
        The rows to load, in input order (row numbers in errors count from 1).
    parent_keys : mapping, optional
        Parent table name -> the ids it holds. A parent that is absent here is not checked
        (loading interactions before any users is allowed); one that is present must
        contain every id the child refers to.

    Raises
    ------
    DataValidationError
        On the first broken rule, naming table, column, rows and fix.
    """
    schema = schema_for(table)
    if len(frame.columns) == 0 or len(frame) == 0:
        raise DataValidationError(
            f"{table}: the input has no rows",
            table=table,
            fix=f"give a file with a header row and at least one data row "
            f"(columns: {', '.join(schema.column_names)})",
        )
    frame = frame.reset_index(drop=True)
    names = [str(c).strip() for c in frame.columns]
    # the store cannot keep an empty name, and reads a name back only up to a NUL
    unnamed = [i + 1 for i, n in enumerate(names) if not n or "\x00" in n]
    if unnamed:
        raise DataValidationError(
            f"{table}: column(s) {', '.join(map(str, unnamed))} have no name or a NUL "
            f"character in it (found: {', '.join(map(repr, names))})",
            table=table, fix="give every column a name (without NUL characters) in the "
            "header row, or drop the unnamed columns",
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataValidationError(
            f"{table}: column name(s) {show_names(*dupes)} appear more than once",
            table=table, column=dupes[0], fix="give every column a distinct name",
        )
    # the store's SQL names ignore ASCII case: user_id and User_ID would be one column there
    folded = [n.translate(ASCII_LOWER) for n in names]
    clash = sorted({n for n, f in zip(names, folded, strict=True) if folded.count(f) > 1})
    if clash:
        raise DataValidationError(
            f"{table}: column names {show_names(*clash)} differ only in upper/lower case",
            table=table, column=clash[0], fix="rename or drop all but one of them",
        )
    frame.columns = names
    for name in names:
        _check_cells(table, name, frame[name])
    missing = [c.name for c in schema.columns if c.required and c.name not in frame.columns]
    if missing:
        first = missing[0]
        raise DataValidationError(
            f"{table} is missing required column(s) {', '.join(missing)} "
            f"(found: {show_names(*names)})",
            table=table,
            column=first,
            fix=f"add the column or map one of yours onto it, e.g. --map {first}=YOUR_COLUMN",
        )

    out: dict[str, pd.Series] = {}
    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        raw = frame[col.name]
        blank = _blank(raw)
        if blank.any() and (col.required or col.name in schema.key):
            what = "empty keys" if col.name in schema.key or col.kind == "id" else "missing values"
            raise _fail(table, col.name, blank, what,
                        f"every row needs a {col.name}; drop or fill those rows")
        typed = _cast(table, col, raw)
        if col.min is not None:
            v = typed.to_numpy(dtype=float, na_value=np.nan)
            low = (v <= col.min) if col.min_exclusive else (v < col.min)
            if low.any():
                op = ">" if col.min_exclusive else ">="
                what = ("negative values" if col.min == 0 and not col.min_exclusive
                        else f"values not {op} {col.min:g}")
                raise _fail(table, col.name, low, what,
                            col.rule or f"{col.name} must be {op} {col.min:g}", raw)
        out[col.name] = typed
    for name in names:
        if name not in out:
            out[name] = _infer_extra(frame[name])
    typed_frame = pd.DataFrame(out)

    dup = typed_frame.duplicated(list(schema.key), keep=False).to_numpy()
    if schema.unique and dup.any():
        key = ", ".join(schema.key)
        raise _fail(table, "+".join(schema.key) if len(schema.key) > 1 else schema.key[0], dup,
                    "duplicate keys", f"each ({key}) may appear once; remove or aggregate "
                    "the repeated rows",
                    typed_frame[schema.key[0]] if len(schema.key) == 1 else None)

    for column, parent in schema.parents.items():
        if parent_keys is None or parent not in parent_keys:
            continue
        unknown = ~typed_frame[column].isin(parent_keys[parent]).to_numpy()
        if unknown.any():
            raise _fail(table, column, unknown, f"ids unknown to {parent}",
                        f"load those ids into {parent} first, or drop the rows that refer "
                        "to them", typed_frame[column])
    return typed_frame


def parent_columns(child_table: str) -> dict[str, str]:
    """Child column -> parent table for ``child_table`` (empty for synthetic tables)."""
    return dict(schema_for(child_table).parents)


def children_of(parent_table: str) -> list[tuple[str, str]]:
    """(child table, column) pairs that refer to ``parent_table``."""
    return [
        (s.name, col) for s in SCHEMAS.values() for col, p in s.parents.items()
        if p == parent_table
    ]
