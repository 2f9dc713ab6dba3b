"""Reading a user's CSV or parquet file into a frame, with errors that say what to fix."""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from features.errors import DataValidationError

CSV_SUFFIXES = {".csv", ".tsv", ".tab", ".txt", ".gz"}


def _fail(table: str, path: Path, what: str, fix: str) -> DataValidationError:
    return DataValidationError(f"{table}: {path}: {what}", table=table, fix=fix)


def _one_line(text: object) -> str:
    """A reader's message on one line: Arrow's may span several, and quote a row that holds
    line breaks of any kind (\\r, \\v, \\f, \\x85, \\u2028, ...)."""
    return " ".join(str(text).split())


NULLS = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None"]
PARQUET_FIX = ("write it again with pandas.DataFrame.to_parquet or pyarrow, or give a CSV "
               "file")
MALFORMED_FIX = ("every line needs as many fields as the header; close every quote, quote "
                 "fields that contain the separator, or pass --sep")


def _read_csv(path: Path, table: str, sep: str | None, encoding: str) -> pd.DataFrame:
    """Every column as text (ids keep leading zeros, blanks are missing); a line with too
    many or too few fields, or an unclosed quote, is an error, never a shifted row."""
    if path.stat().st_size == 0:
        raise _fail(table, path, "the file is empty", "give a file with a header row and at "
                    "least one data row")
    _check_encoding(table, path, encoding)
    if sep is None:
        sep = "\t" if ".tsv" in path.suffixes or ".tab" in path.suffixes else ","
    sep_fix = ("pass one separator character (ASCII, not a line break), e.g. --sep ';' or "
               "--sep $'\\t'")
    if len(sep) != 1:
        raise _fail(table, path, f"--sep {sep!r} is not a single character", sep_fix)
    try:
        if sep in "\r\n":
            raise ValueError(sep)
        parse = pacsv.ParseOptions(delimiter=sep)
    except ValueError as exc:  # Arrow takes one ASCII byte, not NUL
        raise _fail(table, path, f"--sep {sep!r} cannot be a separator", sep_fix) from exc
    read = pacsv.ReadOptions(encoding=encoding)
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse) as reader:
            names = reader.schema.names
        convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                       strings_can_be_null=True, null_values=NULLS)
        data = pacsv.read_csv(path, read_options=read, parse_options=parse,
                              convert_options=convert)
    except (OSError, EOFError) as exc:  # a .gz/.bz2 name whose bytes do not decompress
        raise _fail(table, path, f"cannot read the file ({_one_line(exc)})",
                    "check that the file is complete, and that a .gz (.bz2, ...) name holds "
                    "a file compressed that way") from exc
    except (pa.ArrowInvalid, UnicodeError) as exc:
        text = str(exc).strip()
        if isinstance(exc, UnicodeError) or "UTF8" in text or "decode" in text:
            raise _fail(table, path, f"not {encoding} text",
                        "save the file as UTF-8, or pass --encoding latin-1") from exc
        if "Empty CSV file" in text:
            raise _fail(table, path, "the file has no header and no rows",
                        "give a file with a header row and at least one data row") from exc
        if _odd_quotes(path):
            raise _fail(table, path, "malformed CSV: a quote is never closed"
                        f"{_line_hint(path, None, encoding)}", MALFORMED_FIX) from exc
        text = text.removeprefix("CSV parse error: ")
        shown = "" if text.endswith(":") else text.rpartition(": ")[2]
        hint = _line_hint(path, shown, encoding)
        if not shown.strip():
            text = text.rstrip(":") + ", a line of only spaces"
        raise _fail(table, path, f"malformed CSV: {_one_line(text)}{hint}",
                    MALFORMED_FIX) from exc
    if not any(name.strip() for name in data.column_names):
        raise _fail(table, path, "the file has no header and no rows",
                    "give a file with a header row and at least one data row")
    for name, column in zip(data.column_names, data.columns, strict=True):
        broken = pc.fill_null(pc.match_substring_regex(column, "[\r\n]"), False)
        if pc.any(broken).as_py() and _odd_quotes(path):
            row = int(pc.index(broken, True).as_py()) + 1
            raise _fail(table, path, f"malformed CSV: a quote opened in column {name!r} of "
                        f"row {row} is never closed", MALFORMED_FIX)
    return data.to_pandas()


def _check_encoding(table: str, path: Path, encoding: str) -> None:
    """Arrow decodes through Python's incremental decoder, fed Arrow buffers: a codec that
    is unknown, not bytes -> text (rot13, base64, zlib) or that cannot take a buffer
    (punycode) is refused here rather than failing inside the reader."""
    try:
        info = codecs.lookup(encoding)
    except LookupError as exc:
        raise _fail(table, path, f"unknown text encoding {encoding!r}",
                    "pass --encoding utf-8, latin-1, cp1252, ...") from exc
    try:
        if not getattr(info, "_is_text_encoding", True):
            raise TypeError(encoding)
        codecs.getincrementaldecoder(info.name)().decode(pa.py_buffer(b""), final=True)
    except Exception as exc:  # whatever the codec raises, it cannot read files
        raise _fail(table, path, f"{encoding!r} is not a text encoding genlift can read",
                    "pass --encoding utf-8, latin-1, cp1252, ...") from exc


def _odd_quotes(path: Path) -> bool:
    """An odd number of quote characters means one is never closed (an escaped quote is
    doubled, so it keeps the count even); a quoted line break alone is valid CSV."""
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    try:
        with opener(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                count += chunk.count(b'"')
    except (OSError, EOFError):  # a broken .gz: only a hint is lost
        return False
    return count % 2 == 1


def _line_hint(path: Path, shown: str | None, encoding: str) -> str:
    """' (line N)': the line equal to ``shown`` (the text Arrow quotes in its message), or
    with ``shown=None`` the line where the quote count first turns odd."""
    if path.suffix == ".gz":
        return ""
    open_quotes = 0
    with open(path, encoding=encoding, errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            body = line.rstrip("\r\n")
            if shown is None:
                open_quotes += body.count('"')
                if open_quotes % 2:
                    return f" (line {number})"
            elif body == shown or (not shown.strip() and body and not body.strip()):
                return f" (line {number})"
    return ""


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
            # pandas 3 keeps text as Arrow strings without checking them: invalid UTF-8
            # would only fail later, in the store; Arrow's full validation finds it here.
            pq.read_table(path).validate(full=True)
            frame = pd.read_parquet(path)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _fail(table, path, f"not a readable parquet file ({_one_line(exc)})",
                        PARQUET_FIX) from exc
        except Exception as exc:
            # pyarrow rebuilds the frame from the file's pandas metadata, JSON that a damaged
            # file may give any shape: its reader then fails with KeyError, TypeError, ...
            raise _fail(table, path, "not a readable parquet file (its pandas metadata is "
                        f"damaged: {type(exc).__name__} {_one_line(exc)})", PARQUET_FIX) from exc
        # pandas metadata may label columns with ints, tuples or even dicts; validation
        # reads every name as text anyway, and a dict label breaks any rename
        frame.columns = [str(c) for c in frame.columns]
    else:
        frame = _read_csv(path, table, sep, encoding)
    return apply_mapping(frame, table, mapping or {})


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
