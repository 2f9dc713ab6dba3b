"""The embedded store: one DuckDB file holding every genlift table.

Every load is validated against the table contracts first and then written in a single
transaction, so a failed load leaves the store exactly as it was. Each table carries a
content fingerprint (order-independent hash of its rows) that runs record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from features.errors import DataValidationError
from features.schemas import children_of, schema_for, show_names, validate_frame
from features.version import __version__

logger = logging.getLogger(__name__)

DEFAULT_DB = "genlift.duckdb"
INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
                 "USMALLINT", "UTINYINT", "UHUGEINT")
META = "_genlift_tables"


@dataclass(frozen=True)
class TableInfo:
    """What the store knows about one table."""

    name: str
    n_rows: int
    fingerprint: str
    source: str
    loaded_at: str


def q(name: str) -> str:
    """Quote an identifier (``default`` is an SQL keyword and an applicants column)."""
    return '"' + name.replace('"', '""') + '"'


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """Content hash of a frame, independent of row order: sha256 over the column names and
    the sorted 64-bit row hashes."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    if len(frame):
        canon = frame.copy()
        for c in canon.columns:
            if pd.api.types.is_string_dtype(canon[c].dtype) or canon[c].dtype == object:
                canon[c] = canon[c].astype("string").astype(object)
        rows = pd.util.hash_pandas_object(canon, index=False).to_numpy()
        h.update(np.sort(rows).tobytes())
    return h.hexdigest()[:16]


class StoreLockedError(DataValidationError):
    """Another process holds the store's file lock for longer than we were told to wait."""


#: how long a command waits for another process's hold on the store (``--wait``)
DEFAULT_WAIT = 60.0
_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _holder(exc: BaseException) -> str:
    """The process DuckDB names as holding the lock, with its command line when visible."""
    match = _LOCK_HOLDER.search(str(exc))
    if not match:
        return "another process"
    pid = match.group(1)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cmd = " ".join(" ".join(a.decode(errors="replace") for a in argv if a).split())[:120]
    except OSError:
        cmd = ""
    return f"process {pid}" + (f" ({cmd})" if cmd else "")


class Store:
    """A genlift store in one DuckDB file.

    DuckDB lets one process write a file, or several read it, at a time. So a Store holds
    no connection between calls: each read opens the file read-only and each write (or
    :meth:`transaction`) read-write, only for as long as the call takes. A long job then
    holds the file only while it reads its inputs and writes its results, and an
    analyst's ``genlift data show`` can run beside it. When another process holds the
    file, a call retries for up to ``wait`` seconds and then raises
    :class:`StoreLockedError` naming the store and the process holding it. See
    docs/architecture.md, "The store".

    Parameters
    ----------
    path : str or Path
        The DuckDB file (created when absent), or ``":memory:"``.
    read_only : bool
        Never write (the file must exist).
    wait : float
        Seconds to wait for another process's hold on the file (default 60).

    Examples
    --------
    >>> with Store(":memory:") as store:
    ...     store.load({"users": pd.DataFrame({"user_id": ["u1", "u2"]})}, source="example")
    ...     store.row_count("users")
    2
    """

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False,
                 wait: float = DEFAULT_WAIT) -> None:
        self.path = str(path)
        self.read_only = read_only
        if not (isinstance(wait, int | float) and not isinstance(wait, bool)
                and math.isfinite(wait) and wait >= 0):
            raise ValueError(f"The 'wait' parameter of Store must be a float in the range "
                             f"[0, inf). Got {wait!r} instead.")
        self.wait = float(wait)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_writes = False
        self._depth = 0
        self._memory = self.path == ":memory:"
        if read_only and not self._memory and not Path(self.path).exists():
            raise FileNotFoundError(
                f"store {self.path} does not exist: run `genlift data fetch all` or "
                "`genlift data import` first, or pass --db"
            )
        if self._memory:
            self._con = duckdb.connect(self.path)
            self._con_writes = True
            self._init_meta(self._con)
        elif not read_only:
            with self._connection(write=True) as con:
                self._init_meta(con)

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one call: the open one when calls nest, else a new one that
        is closed (releasing the file) when the outermost call ends."""
        if write and self.read_only:
            raise DataValidationError(f"store {self.path} was opened read-only",
                                      fix="open it without read_only to write")
        if self._con is not None:
            if write and not self._con_writes:  # pragma: no cover - a programming error
                raise RuntimeError("a write inside a read of the same Store")
            self._depth += 1
            try:
                yield self._con
            finally:
                self._depth -= 1
            return
        self._con, self._con_writes = self._open(write), write
        self._depth = 1
        try:
            yield self._con
        finally:
            self._depth = 0
            con, self._con = self._con, None
            con.close()

    def _open(self, write: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.wait
        pause = 0.02
        while True:
            try:
                return duckdb.connect(self.path, read_only=not write)
            except duckdb.IOException as exc:
                if not _is_lock_conflict(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"store {self.path} is in use by {_holder(exc)}, which holds its "
                        f"lock; waited {self.wait:g} s",
                        fix="let that command finish and try again, or pass --wait SECONDS "
                        "to wait longer",
                    ) from None
                time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
                pause = min(pause * 2, 0.5)

    def _init_meta(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            f"""CREATE TABLE IF NOT EXISTS {META} (
                table_name VARCHAR PRIMARY KEY, n_rows BIGINT, fingerprint VARCHAR,
                source VARCHAR, loaded_at TIMESTAMP)"""
        )
        con.execute(
            """CREATE TABLE IF NOT EXISTS runs (
                run_id VARCHAR PRIMARY KEY, kind VARCHAR, config JSON, data_fingerprint JSON,
                seed BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR,
                metrics JSON, genlift_version VARCHAR)"""
        )

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: commit when the block ends, roll back on any error. The file
        is held for writing for the block's duration."""
        with self._connection(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- reading -------------------------------------------------------------------
    def has(self, table: str) -> bool:
        with self._connection(write=False) as con:
            row = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
            ).fetchall()
        return bool(row and row[0][0])

    def tables(self) -> list[TableInfo]:
        """Every loaded table with its row count and fingerprint."""
        with self._connection(write=False) as con:
            if not self.has(META):
                return []
            rows = con.execute(
                f"SELECT table_name, n_rows, fingerprint, source, CAST(loaded_at AS VARCHAR) "
                f"FROM {META} ORDER BY table_name"
            ).fetchall()
        return [TableInfo(*r) for r in rows]

    def info(self, table: str) -> TableInfo:
        for t in self.tables():
            if t.name == table:
                return t
        raise self._absent(table)

    def _absent(self, table: str) -> DataValidationError:
        have = ", ".join(t.name for t in self.tables()) or "none"
        return DataValidationError(
            f"table {table!r} is not in the store {self.path} (tables: {have})",
            table=table,
            fix="load it with `genlift data fetch` or `genlift data import`, or pass the "
            "right --db",
        )

    def row_count(self, table: str) -> int:
        with self._connection(write=False) as con:
            if not self.has(table):
                raise self._absent(table)
            rows = con.execute(f"SELECT count(*) FROM {q(table)}").fetchall()
        return int(rows[0][0]) if rows else 0

    def read(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table as a pandas frame (ids as strings, dates as datetimes)."""
        cols = ", ".join(q(c) for c in columns) if columns else "*"
        with self._connection(write=False) as con:
            if not self.has(table):
                raise self._absent(table)
            return con.execute(f"SELECT {cols} FROM {q(table)}").df()

    def query(self, sql: str, params: list[Any] | None = None, *,
              frames: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Run ``sql`` and return its result; ``frames`` are visible to it as views under
        their names for the statement only."""
        with self._connection(write=False) as con:
            for name, frame in (frames or {}).items():
                con.register(name, frame)
            try:
                return con.execute(sql, params or []).df()
            finally:
                for name in frames or {}:
                    con.unregister(name)

    def fingerprints(self, tables: list[str] | None = None) -> dict[str, str]:
        return {t.name: t.fingerprint for t in self.tables() if tables is None or t.name in tables}

    # -- writing -------------------------------------------------------------------
    def load(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        source: str,
        mode: Literal["replace", "append"] = "replace",
    ) -> dict[str, TableInfo]:
        """Validate and write several tables in one transaction.

        Parents in the same call are checked against the new rows, other parents against
        the store. Replacing a parent table must not orphan rows of a child table that
        stays in the store. Nothing is written unless every table passes.
        """
        if mode not in ("replace", "append"):
            raise ValueError(
                f"The 'mode' parameter of Store.load must be 'replace' or 'append'. "
                f"Got {mode!r} instead."
            )
        # one write connection for the checks and the write: no other writer slips between
        with self._connection(write=True):
            return self._load(frames, source, mode)

    def _load(self, frames: Mapping[str, pd.DataFrame], source: str, mode: str
              ) -> dict[str, TableInfo]:
        order = sorted(frames, key=lambda t: len(schema_for(t).parents))
        typed: dict[str, pd.DataFrame] = {}
        for table in order:
            parents: dict[str, pd.Series] = {}
            for parent in schema_for(table).parents.values():
                if parent in typed:
                    parents[parent] = self._keys_after(parent, typed[parent], mode)
                elif self.has(parent):
                    parents[parent] = self._stored_keys(parent)
            typed[table] = validate_frame(table, frames[table], parent_keys=parents)
            if mode == "append" and self.has(table):
                self._check_append(table, typed[table])
        for table, frame in typed.items():
            if mode == "replace":
                self._check_orphans(table, frame, set(typed))

        with self.transaction() as con:
            for table in order:
                self._write(con, table, typed[table], mode)
            infos = {t: self._record(con, t, source) for t in order}
        for info in infos.values():
            logger.info("loaded %s: %d rows (fingerprint %s)", info.name, info.n_rows,
                        info.fingerprint)
        return infos

    def _stored_keys(self, table: str) -> pd.Series:
        key = schema_for(table).key[0]
        return self.query(f"SELECT {q(key)} FROM {q(table)}")[key].astype("string")

    def _keys_after(self, table: str, new: pd.DataFrame, mode: str) -> pd.Series:
        key = schema_for(table).key[0]
        keys = new[key]
        if mode == "append" and self.has(table):
            keys = pd.concat([self._stored_keys(table), keys], ignore_index=True)
        return keys

    def _check_append(self, table: str, frame: pd.DataFrame) -> None:
        key = list(schema_for(table).key)
        stored_cols = set(self.read(table).columns) if self.has(table) else set()
        extra = [c for c in frame.columns if c not in stored_cols]
        if extra:
            raise DataValidationError(
                f"{table}: appended rows have column(s) {show_names(*extra)} that the stored "
                "table lacks", table=table, column=extra[0],
                fix="drop those columns, or load the table again without --append",
            )
        self._check_append_types(table, frame)
        if not schema_for(table).unique:  # a log: a repeated key is another event
            return
        cond = " AND ".join(f"n.{q(k)} = s.{q(k)}" for k in key)
        hit = self.query(f"SELECT n.* FROM _genlift_new_keys n JOIN {q(table)} s ON {cond}",
                         frames={"_genlift_new_keys": frame[key]})
        if len(hit):
            mask = frame[key].merge(hit.drop_duplicates(), on=key, how="left",
                                    indicator=True)["_merge"].eq("both").to_numpy()
            n = int(mask.sum())
            rows = [int(i) + 1 for i in np.flatnonzero(mask)[:5]]
            raise DataValidationError(
                f"{table}.{'+'.join(key)} has {n} duplicate keys already in the store "
                f"(rows {', '.join(map(str, rows))}{', ...' if n > 5 else ''})",
                table=table, column=key[0], n_rows=n, rows=rows,
                fix="drop the rows that are already loaded, or load without --append to "
                "replace the table",
            )

    def _check_append_types(self, table: str, frame: pd.DataFrame) -> None:
        """Appended attribute columns must keep the stored column's type: text into a
        number column would fail mid-insert, and '01234' into one would lose its zero."""
        info = self.query("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_name = ?", [table])
        stored = dict(zip(info["column_name"], info["data_type"], strict=True))
        for col in frame.columns:
            have = stored.get(col, "")
            shown = show_names(col)
            numeric_stored = have in ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "HUGEINT",
                                      "SMALLINT", "TINYINT") or have.startswith("DECIMAL")
            s = frame[col]
            numeric_new = pd.api.types.is_numeric_dtype(s.dtype) and \
                not pd.api.types.is_bool_dtype(s.dtype)
            text_new = pd.api.types.is_string_dtype(s.dtype) or s.dtype == object
            if have in INTEGER_TYPES and pd.api.types.is_float_dtype(s.dtype):
                v = s.to_numpy(dtype=float, na_value=np.nan)
                lossy = ~np.isnan(v) & ((v != np.round(v)) | (np.abs(v) >= 2.0**63))
                if lossy.any():  # DuckDB would round 1.5 to 2 without a word
                    rows = [int(i) + 1 for i in np.flatnonzero(lossy)[:5]]
                    n = int(lossy.sum())
                    raise DataValidationError(
                        f"{table}.{shown} is stored as {have} but {n} appended rows hold "
                        f"values that are not whole numbers in its range (rows "
                        f"{', '.join(map(str, rows))}{', ...' if n > 5 else ''})",
                        table=table, column=col, n_rows=n, rows=rows,
                        fix=f"make {shown} whole numbers, or load the table again without "
                        "--append",
                    )
            if have == "BOOLEAN" and not pd.api.types.is_bool_dtype(s.dtype) and \
                    s.notna().any():  # DuckDB would store 2 or 'yes' as true without a word
                raise DataValidationError(
                    f"{table}.{shown} is stored as BOOLEAN but the appended rows hold "
                    f"{'text' if text_new else 'numbers'} other than true/false",
                    table=table, column=col, n_rows=len(frame),
                    fix=f"write {shown} as true or false, or load the table again without "
                    "--append")
            if (numeric_stored and text_new) or (have == "VARCHAR" and numeric_new and
                                                 col not in schema_for(table).column_names):
                raise DataValidationError(
                    f"{table}.{shown} is stored as {have} but the appended rows hold "
                    f"{'text' if text_new else 'numbers'}", table=table, column=col,
                    n_rows=len(frame),
                    fix=f"make {shown} the same type as the stored column, or load the table "
                    "again without --append",
                )

    def _check_orphans(self, table: str, frame: pd.DataFrame, batch: set[str]) -> None:
        key = schema_for(table).key[0]
        for child, column in children_of(table):
            if child in batch or not self.has(child):
                continue
            found = self.query(
                f"SELECT count(*) AS n, list(DISTINCT {q(column)})[:5] AS ids FROM {q(child)} "
                f"WHERE {q(column)} NOT IN (SELECT {q(key)} FROM _genlift_parent)",
                frames={"_genlift_parent": frame[[key]]})
            n_orphans = int(found["n"].iloc[0])
            row = (n_orphans, [str(i) for i in found["ids"].iloc[0]] if n_orphans else [])
            if row and row[0]:
                raise DataValidationError(
                    f"replacing {table} would leave {row[0]} rows of {child} whose {column} "
                    f"is no longer in {table} (e.g. {', '.join(map(repr, row[1]))})",
                    table=table, column=key, n_rows=int(row[0]),
                    fix=f"include those ids in the new {table}, load {child} again in the "
                    "same step, or use --append",
                )

    def _write(self, con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
               mode: str) -> None:
        schema = schema_for(table)
        casts = []
        for c in frame.columns:
            kind = schema.column(c).kind if c in schema.column_names else None
            if kind == "date":
                casts.append(f"CAST({q(c)} AS DATE) AS {q(c)}")
            elif kind == "timestamp":
                casts.append(f"CAST({q(c)} AS TIMESTAMP) AS {q(c)}")
            elif kind in ("id", "str"):
                casts.append(f"CAST({q(c)} AS VARCHAR) AS {q(c)}")
            else:
                casts.append(q(c))
        con.register("_genlift_frame", frame)
        try:
            select = f"SELECT {', '.join(casts)} FROM _genlift_frame"
            if mode == "append" and self.has(table):
                con.execute(f"INSERT INTO {q(table)} BY NAME {select}")
            else:
                con.execute(f"CREATE OR REPLACE TABLE {q(table)} AS {select}")
        except duckdb.DataError as exc:  # a value the column type cannot hold
            first = str(exc).strip().splitlines()[0]
            if mode == "append":
                raise DataValidationError(
                    f"{table}: the appended rows do not fit the stored table ({first})",
                    table=table, n_rows=len(frame),
                    fix="make every column the same type as in the stored table (genlift "
                    f"data show {table}), or load the table again without --append",
                ) from exc
            raise DataValidationError(
                f"{table}: the store cannot hold these values ({first})", table=table,
                n_rows=len(frame), fix="keep dates/times between the years 1678 and 2261 "
                "and numbers within 64 bits, or drop the column that holds them",
            ) from exc
        finally:
            # after a failed statement the transaction only takes ROLLBACK, and an
            # unregister error here would hide the real one
            with contextlib.suppress(duckdb.TransactionException):
                con.unregister("_genlift_frame")

    def _record(self, con: duckdb.DuckDBPyConnection, table: str, source: str) -> TableInfo:
        frame = con.execute(f"SELECT * FROM {q(table)}").df()
        info = TableInfo(table, len(frame), fingerprint_frame(frame), source,
                         datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "))
        con.execute(
            f"INSERT OR REPLACE INTO {META} VALUES (?, ?, ?, ?, CAST(? AS TIMESTAMP))",
            [info.name, info.n_rows, info.fingerprint, info.source, info.loaded_at],
        )
        return info

    # -- runs ----------------------------------------------------------------------
    def start_run(self, kind: str, config: Mapping[str, Any], *, seed: int | None = None,
                  tables: list[str] | None = None) -> str:
        """Record a run as ``running`` with its config and the data fingerprints it uses."""
        run_id = f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        with self._connection(write=True) as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, NULL, 'running', "
                "NULL, ?)", [run_id, kind, json.dumps(config, default=str),
                             json.dumps(self.fingerprints(tables)), seed, __version__],
            )
        return run_id

    def finish_run(self, run_id: str, *, status: str = "finished",
                   metrics: Mapping[str, Any] | None = None) -> None:
        with self._connection(write=True) as con:
            con.execute(
                "UPDATE runs SET finished_at = now()::TIMESTAMP, status = ?, metrics = ? "
                "WHERE run_id = ?",
                [status, json.dumps(metrics or {}, default=str), run_id],
            )

    def runs(self) -> pd.DataFrame:
        return self.query("SELECT * FROM runs ORDER BY started_at")
