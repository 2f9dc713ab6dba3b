"""Helpers every saved artifact uses: file checksums, putting a finished folder in place,
and reading a folder back with its ``params.json`` checked (format, genlift major version,
sha256 of every file) before anything in it is used."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from features.errors import DataValidationError
from features.version import __version__

PARAMS_FILE = "params.json"


class ArtifactError(DataValidationError):
    """A saved model or generator folder is missing a file, corrupted, truncated, holds
    another kind of artifact, or was written by another genlift major version."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_dir(tmp: Path, path: Path) -> None:
    """Move the finished folder ``tmp`` to ``path``. An existing ``path`` is first renamed
    aside and removed after, so a reader never sees a half-written artifact."""
    if path.exists():
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex}"
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def write_json_atomic(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON through a temporary name and a rename (never a half-written file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)
    return path


def _major(version: object) -> str:
    return str(version or "").split(".")[0].split("+")[0]


def read_params(path: str | os.PathLike[str], *, what: str, refit: str,
                format_key: str = "format_version", format_version: int = 1
                ) -> dict[str, Any]:
    """``path/params.json`` of an artifact, checked before anything else is read.

    ``what`` names the artifact in messages ("model", "generator"); ``refit`` is the
    command that makes a new one. Raises FileNotFoundError when ``path`` is not a folder
    and :class:`ArtifactError` when params.json is missing or unreadable, or the folder
    was written by another genlift major version or a newer artifact format.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no saved {what} folder at {path}")
    file = path / PARAMS_FILE
    if not file.is_file():
        raise ArtifactError(f"{path} is not a genlift {what} folder (no {PARAMS_FILE})",
                            table=what, fix=f"pass a folder saved by genlift, or {refit} again")
    try:
        params = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{what} folder {path} is corrupted or incomplete: {PARAMS_FILE} "
                            f"is unreadable ({exc})", table=what,
                            fix=f"{refit} again") from exc
    written = params.get("genlift_version")
    if _major(written) != _major(__version__):
        raise ArtifactError(
            f"{path} was written by genlift {written} (major version {_major(written)!r}); "
            f"this is genlift {__version__} (major {_major(__version__)!r}), whose "
            f"{what}s it cannot read", table=what,
            fix=f"{refit} again with this genlift, or load it with genlift "
                f"{_major(written)}.x")
    fmt = params.get(format_key)
    if not isinstance(fmt, int) or fmt > format_version:
        raise ArtifactError(f"{path} has {what} format {fmt!r}; this genlift reads format "
                            f"{format_version} and older", table=what,
                            fix=f"{refit} again with this genlift")
    return params


def verify_files(path: str | os.PathLike[str], sums: Mapping[str, str], *, what: str,
                 refit: str) -> None:
    """Every file of ``sums`` exists under ``path`` with that sha256 (a truncated or
    edited file fails here, before a loader parses it)."""
    path = Path(path)
    for name, digest in sums.items():
        file = path / name
        if not file.is_file():
            raise ArtifactError(f"{what} folder {path} is corrupted or incomplete: {name} "
                                "is missing", table=what, fix=f"{refit} again")
        actual = sha256_file(file)
        if actual != digest:
            raise ArtifactError(
                f"{what} folder {path} is corrupted or incomplete: {name} sha256 is "
                f"{actual[:12]}..., {PARAMS_FILE} expects {str(digest)[:12]}... (truncated "
                "or changed after it was saved)", table=what, fix=f"{refit} again")
