"""Reading a user's CSV or parquet file into a frame, with errors that say what to fix."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.errors import DataValidationError

CSV_SUFFIXES = {".csv", ".tsv", ".tab", ".txt", ".gz"}


def _fail(table: str, path: Path, what: str, fix: str) -> DataValidationError:
    return DataValidationError(f"{table}: {path}: {what}", table=table, fix=fix)


def read_table_file(
    path: str | Path,
    table: str,
    *,
    mapping: Mapping[str, str] | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read ``path`` (CSV, TSV or parquet file/folder) for loading into ``table``.

    CSV cells are read as text so that validation, not the parser, decides each type
    and reports every bad cell. ``mapping`` renames columns: ``{target: source}``.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(table, path, "file not found", "check the path (relative paths start "
                    "from the current folder)")
    is_parquet = path.is_dir() or path.suffix.lower() in {".parquet", ".pq"}
    if is_parquet:
        try:
            frame = pd.read_parquet(path)
        except (pa.ArrowInvalid, OSError, ValueError) as exc:
            raise _fail(table, path, f"not a readable parquet file ({exc})",
                        "write it again with pandas.DataFrame.to_parquet or pyarrow, "
                        "or give a CSV file") from exc
    else:
        if path.stat().st_size == 0:
            raise _fail(table, path, "the file is empty", "give a file with a header row "
                        "and at least one data row")
        if sep is None:
            sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
        try:
            # Arrow's parser is several times faster and rejects short and long lines
            # alike; when it refuses a file, the C parser below finds the line to report.
            return apply_mapping(
                pd.read_csv(path, sep=sep, dtype=str, encoding=encoding, engine="pyarrow"),
                table, mapping or {})
        except (pd.errors.ParserError, pa.ArrowInvalid, UnicodeDecodeError, ValueError):
            pass
        try:
            frame = pd.read_csv(
                path, sep=sep, dtype=str, keep_default_na=True, encoding=encoding,
                skip_blank_lines=True, on_bad_lines="error", quoting=csv.QUOTE_MINIMAL,
            )
        except pd.errors.EmptyDataError as exc:
            raise _fail(table, path, "the file has no header and no rows",
                        "give a file with a header row and at least one data row") from exc
        except pd.errors.ParserError as exc:
            raise _fail(table, path, f"malformed CSV ({str(exc).strip()})",
                        "every line needs as many fields as the header; quote fields that "
                        "contain the separator, or pass --sep") from exc
        except UnicodeDecodeError as exc:
            raise _fail(table, path, f"not {encoding} text ({exc.reason} at byte {exc.start})",
                        "save the file as UTF-8, or pass --encoding latin-1") from exc
        _check_short_rows(frame, table, path, sep)
    return apply_mapping(frame, table, mapping or {})


def _check_short_rows(frame: pd.DataFrame, table: str, path: Path, sep: str) -> None:
    """pandas pads lines with too few fields with NaN; that is a malformed file, not
    missing data, when every trailing cell of the line is missing and the header is wider."""
    if frame.shape[1] < 2 or len(frame) == 0:
        return
    last = frame.columns[-1]
    suspects = frame[last].isna()
    if not suspects.any():
        return
    # Count real fields on those lines to tell "a,b," (empty last cell) from "a,b" (short).
    lines: list[int] = []
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=sep)
        next(reader, None)
        for i, row in enumerate(r for r in reader if r):
            if i < len(frame) and suspects.iat[i] and len(row) < frame.shape[1]:
                lines.append(i + 1)
    if lines:
        rows = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
        raise DataValidationError(
            f"{table}: {path}: malformed CSV: {len(lines)} line(s) have fewer fields than "
            f"the header's {frame.shape[1]} (rows {rows})",
            table=table, n_rows=len(lines), rows=lines[:5],
            fix="give every line as many fields as the header (leave a cell empty with "
            "two separators in a row)",
        )


def apply_mapping(frame: pd.DataFrame, table: str, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Rename ``source`` columns to ``target`` names; every source must exist."""
    absent = [src for src in mapping.values() if src not in frame.columns]
    if absent:
        raise DataValidationError(
            f"{table}: --map names column(s) {', '.join(absent)} that the file does not have "
            f"(found: {', '.join(map(str, frame.columns))})",
            table=table, column=absent[0], fix="map target=SOURCE with SOURCE spelled as in "
            "the file's header",
        )
    return frame.rename(columns={src: dst for dst, src in mapping.items()})


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """``["user_id=customer", ...]`` -> ``{"user_id": "customer"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise DataValidationError(
                f"--map {item!r} is not of the form target=source",
                fix="write e.g. --map user_id=customer_id",
            )
        out[target.strip()] = source.strip()
    return out


def write_parquet_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` through a temporary name and a rename, so a crash
    never leaves a half-written file that looks complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path
