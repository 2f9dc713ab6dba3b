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


class Store:
    """A genlift store in one DuckDB file.

    Parameters
    ----------
    path : str or Path
        The DuckDB file (created when absent), or ``":memory:"``.
    read_only : bool
        Open without write access (several readers may share a file).

    Examples
    --------
    >>> with Store(":memory:") as store:
    ...     store.load({"users": pd.DataFrame({"user_id": ["u1", "u2"]})}, source="example")
    ...     store.row_count("users")
    2
    """

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False) -> None:
        self.path = str(path)
        if read_only and self.path != ":memory:" and not Path(self.path).exists():
            raise FileNotFoundError(
                f"store {self.path} does not exist: run `genlift data fetch all` or "
                "`genlift data import` first, or pass --db"
            )
        self.con = duckdb.connect(self.path, read_only=read_only)
        if not read_only:
            self._init_meta()

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _init_meta(self) -> None:
        self.con.execute(
            f"""CREATE TABLE IF NOT EXISTS {META} (
                table_name VARCHAR PRIMARY KEY, n_rows BIGINT, fingerprint VARCHAR,
                source VARCHAR, loaded_at TIMESTAMP)"""
        )
        self.con.execute(
            """CREATE TABLE IF NOT EXISTS runs (
                run_id VARCHAR PRIMARY KEY, kind VARCHAR, config JSON, data_fingerprint JSON,
                seed BIGINT, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR,
                metrics JSON, genlift_version VARCHAR)"""
        )

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: commit when the block ends, roll back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # -- reading -------------------------------------------------------------------
    def has(self, table: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchall()
        return bool(row and row[0][0])

    def tables(self) -> list[TableInfo]:
        """Every loaded table with its row count and fingerprint."""
        if not self.has(META):
            return []
        rows = self.con.execute(
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
        if not self.has(table):
            raise self._absent(table)
        rows = self.con.execute(f"SELECT count(*) FROM {q(table)}").fetchall()
        return int(rows[0][0]) if rows else 0

    def read(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table as a pandas frame (ids as strings, dates as datetimes)."""
        if not self.has(table):
            raise self._absent(table)
        cols = ", ".join(q(c) for c in columns) if columns else "*"
        frame = self.con.execute(f"SELECT {cols} FROM {q(table)}").df()
        return frame

    def query(self, sql: str, params: list[Any] | None = None, *,
              frames: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Run ``sql`` and return its result; ``frames`` are visible to it as views under
        their names for the statement only."""
        for name, frame in (frames or {}).items():
            self.con.register(name, frame)
        try:
            return self.con.execute(sql, params or []).df()
        finally:
            for name in frames or {}:
                self.con.unregister(name)

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
        return self.con.execute(f"SELECT {q(key)} FROM {q(table)}").df()[key].astype("string")

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
        self.con.register("_genlift_new_keys", frame[key])
        try:
            cond = " AND ".join(f"n.{q(k)} = s.{q(k)}" for k in key)
            hit = self.con.execute(
                f"SELECT n.* FROM _genlift_new_keys n JOIN {q(table)} s ON {cond}"
            ).df()
        finally:
            self.con.unregister("_genlift_new_keys")
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
        stored = dict(self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ?", [table]).fetchall())
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
            self.con.register("_genlift_parent", frame[[key]])
            try:
                row = self.con.execute(
                    f"SELECT count(*), list(DISTINCT {q(column)})[:5] FROM {q(child)} "
                    f"WHERE {q(column)} NOT IN (SELECT {q(key)} FROM _genlift_parent)"
                ).fetchall()[0]
            finally:
                self.con.unregister("_genlift_parent")
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
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, NULL, 'running', NULL, ?)",
            [run_id, kind, json.dumps(config, default=str),
             json.dumps(self.fingerprints(tables)), seed, __version__],
        )
        return run_id

    def finish_run(self, run_id: str, *, status: str = "finished",
                   metrics: Mapping[str, Any] | None = None) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = now()::TIMESTAMP, status = ?, metrics = ? "
            "WHERE run_id = ?",
            [status, json.dumps(metrics or {}, default=str), run_id],
        )

    def runs(self) -> pd.DataFrame:
        return self.query("SELECT * FROM runs ORDER BY started_at")
