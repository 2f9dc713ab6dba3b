"""The artifact base every saved model and generator uses (:class:`Artifact`), and its
parts: file checksums, putting a finished folder in place, and reading a folder back with
its ``params.json`` checked (format, genlift major version, sha256 of every file) before
anything in it is used."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import numpy as np

from features.errors import DataValidationError
from features.version import __version__

logger = logging.getLogger(__name__)

PARAMS_FILE = "params.json"
#: 2: one set of params.json keys for every kind (1: genlift 0.1, keys per kind)
FORMAT_VERSION = 2


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


def json_default(v: Any) -> Any:
    """``json.dumps``' ``default``: numpy scalars and arrays as numbers and lists, anything
    else as its text."""
    if isinstance(v, np.integer | np.floating):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def write_json_atomic(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON through a temporary name and a rename (never a half-written file);
    numpy values are written as numbers (:func:`json_default`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=json_default), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _major(version: object) -> str:
    return str(version or "").split(".")[0].split("+")[0]


def read_params(path: str | os.PathLike[str], *, what: str, refit: str,
                format_version: int = FORMAT_VERSION) -> dict[str, Any]:
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
    # genlift 0.1's generators wrote the format under "format"
    fmt = params.setdefault("format_version", params.get("format"))
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


class ArtifactExistsError(ArtifactError, FileExistsError):
    """``save`` was pointed at a folder that is not a saved artifact of the same kind:
    replacing it could delete a user's files, so nothing is written."""


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (numpy scalars and arrays become numbers and lists,
    a ``np.random.Generator`` becomes null, anything else its text)."""
    def default(obj: Any) -> Any:
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.random.Generator):
            return None
        return str(obj)
    return json.loads(json.dumps(value, default=default))


A = TypeVar("A", bound="Artifact")


class Artifact:
    """The one way every genlift model and generator is saved and loaded.

    A saved artifact is a folder: ``params.json`` with one set of keys for every kind
    (``format_version``, ``genlift_version``, ``kind``, ``class``, ``config``, ``seed``,
    ``data_fingerprint``, ``sha256`` of every other file, and the model's own ``state``)
    plus the files the model writes. A class plugs in with two hooks:

    - ``_save_state(folder) -> dict``: write its files into ``folder`` (a new, empty
      temporary folder) and return its JSON-able state;
    - ``_load_state(folder, state, config) -> model`` (a classmethod): rebuild the fitted
      model from those files (already checked against their sha256) and that state.

    ``save`` builds the folder under a temporary name and renames it into place, so a
    reader never sees half an artifact; it replaces an earlier artifact of the same kind
    and refuses any other existing folder (a user's files are never deleted). ``load``
    checks the genlift major version, the format and every file's sha256 before the
    model reads anything. Folders written by genlift 0.1 (format 1, whose keys differed
    per kind) still load. See docs/architecture.md, "Artifacts".
    """

    #: what the folder holds, by family: "generator", "recommender", "credit", "demand"
    artifact_kind: ClassVar[str] = ""
    #: the command that makes a new one, for error messages
    artifact_refit: ClassVar[str] = "fit it again"
    fingerprint_: str

    # -- hooks -------------------------------------------------------------------------
    def _save_state(self, folder: Path) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _load_state(cls: type[A], folder: Path, state: dict[str, Any],
                    config: dict[str, Any], **options: Any) -> A:
        raise NotImplementedError

    def _artifact_config(self) -> dict[str, Any]:
        """Constructor arguments, as JSON (``get_params`` where the class has one)."""
        get_params = getattr(self, "get_params", None)
        return _jsonable(get_params() if callable(get_params) else {})

    def _artifact_seed(self) -> int | None:
        seed = getattr(self, "random_state", None)
        return int(seed) if isinstance(seed, int | np.integer) and not isinstance(seed, bool) \
            else None

    def _check_saveable(self) -> None:
        """Raise when the model is not fitted (subclasses name their own fit call)."""
        check = getattr(self, "_check_fitted", None)
        if callable(check):
            check()

    # -- family ------------------------------------------------------------------------
    @classmethod
    def _family(cls) -> type[Artifact]:
        """The class that named this artifact kind (Generator, Recommender, ...)."""
        for klass in cls.__mro__:
            if "artifact_kind" in vars(klass) and vars(klass)["artifact_kind"]:
                return klass
        raise TypeError(f"{cls.__name__} sets no artifact_kind")

    @classmethod
    def _members(cls) -> dict[str, type[Artifact]]:
        """Every class of this family by name (subclasses register by being defined)."""
        root = cls._family()
        found: dict[str, type[Artifact]] = {root.__name__: root}
        todo = list(root.__subclasses__())
        while todo:
            klass = todo.pop()
            found.setdefault(klass.__name__, klass)
            todo.extend(klass.__subclasses__())
        return found

    # -- save / load -------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to the folder ``path``, atomically.

        Returns the folder. Raises :class:`ArtifactExistsError` when ``path`` exists and
        is not an artifact of this kind (nothing is written or deleted then).
        """
        self._check_saveable()
        path = Path(path)
        kind = self._family().artifact_kind
        self._check_target(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
        try:
            state = _jsonable(self._save_state(tmp))
            files = sorted(p.name for p in tmp.iterdir() if p.is_file())
            params = {
                "format_version": FORMAT_VERSION, "genlift_version": __version__,
                "kind": kind, "class": type(self).__name__,
                "config": self._artifact_config(), "seed": self._artifact_seed(),
                "data_fingerprint": getattr(self, "fingerprint_", None),
                "sha256": {name: sha256_file(tmp / name) for name in files},
                "state": state,
            }
            (tmp / PARAMS_FILE).write_text(json.dumps(params, indent=2, sort_keys=True),
                                           encoding="utf-8")
            publish_dir(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        logger.info("%s: saved to %s", type(self).__name__, path)
        return path

    def _check_target(self, path: Path) -> None:
        if not path.exists() and not path.is_symlink():
            return
        kind = self._family().artifact_kind
        fix = "save to a new folder, or move that folder away first"
        if not path.is_dir() or path.is_symlink():
            raise ArtifactExistsError(
                f"{path} exists and is not a saved genlift {kind} folder; refusing to "
                "overwrite it", table=kind, fix=fix)
        entries = list(path.iterdir())
        if not entries:
            return
        held = _held_class(path)
        if held is None or held not in self._members():
            shown = ", ".join(sorted(p.name for p in entries)[:5])
            what = f"a saved {held}" if held else f"files that are not a genlift {kind} ({shown})"
            raise ArtifactExistsError(
                f"{path} exists and holds {what}; refusing to overwrite it (saving "
                f"replaces only an earlier saved {kind})", table=kind, fix=fix)

    @classmethod
    def load(cls: type[A], path: str | os.PathLike[str], **options: Any) -> A:
        """Read an artifact written by :meth:`save` (by this genlift or 0.1's format);
        ``options`` go to the class's ``_load_state`` (a generator's ``device``).

        Raises FileNotFoundError when ``path`` is not a folder, and
        :class:`ArtifactError` when it is corrupted, incomplete, from another major
        version or a newer format, or holds another class.
        """
        path = Path(path)
        family = cls._family()
        kind, refit = family.artifact_kind, cls.artifact_refit
        what = "generator" if kind == "generator" else "model"
        params = read_params(path, what=what, refit=refit, format_version=FORMAT_VERSION)

        def corrupt(why: str) -> ArtifactError:
            return ArtifactError(f"{what} folder {path} is corrupted or incomplete: {why}",
                                 table=what, fix=f"{refit} again")

        try:
            params = upgrade_params(params)
            name = str(params["class"]).rpartition(".")[2]
            config = dict(params["config"])
            state = dict(params["state"])
            sums = {str(k): str(v) for k, v in dict(params["sha256"]).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt(f"{PARAMS_FILE} is unreadable ({exc})") from exc
        target = cls._members().get(name)
        if target is None or not issubclass(target, cls):
            raise ArtifactError(f"{path} holds a {name}, not a {cls.__name__}", table=what,
                                fix=f"load it with {name}.load" if target else
                                f"pass a folder saved by a genlift {cls.__name__}")
        verify_files(path, sums, what=what, refit=refit)
        try:
            obj = target._load_state(path, state, config, **options)
        except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
            if isinstance(exc, ArtifactError):
                raise
            raise corrupt(f"cannot rebuild the {what} ({type(exc).__name__}: {exc})") from exc
        obj.fingerprint_ = params["data_fingerprint"]
        logger.info("%s: loaded from %s", name, path)
        return cast(A, obj)


def _held_class(path: Path) -> str | None:
    """The class name a genlift artifact folder says it holds, or None."""
    try:
        params = json.loads((path / PARAMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(params, dict) or "genlift_version" not in params:
        return None
    return str(params.get("class", "")).rpartition(".")[2] or None


def upgrade_params(params: dict[str, Any]) -> dict[str, Any]:
    """Format 1 (genlift 0.1) in the format 2 layout. Each kind kept its own keys then:
    the model's state stood at the top level, checksums were ``sha256`` or
    ``arrays_sha256``, the fingerprint ``fingerprint`` or ``data_fingerprint``, and
    generators named their class by module path."""
    if params.get("format_version", 0) >= 2:
        return params
    sums = params.get("sha256")
    if sums is None and "arrays_sha256" in params:
        sums = {"arrays.npz": params["arrays_sha256"]}
    return {**params, "format_version": 1, "sha256": sums, "state": params,
            "data_fingerprint": params.get("data_fingerprint", params.get("fingerprint"))}
